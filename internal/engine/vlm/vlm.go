// Package vlm is the engine that analyses video with a vision-language
// model over the inference port. It samples frames on a regular grid plus
// the first frame of every detected shot, labels each with its absolute
// time, cuts long videos into overlapping windows that stream to the model
// while later parts are still being decoded, and merges the answers:
// map-reduce for prompts, validated JSON for json_schema, and typed,
// cut-snapped segments for time_based_metadata.
package vlm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/framewise/framewise/internal/engine"
	"github.com/framewise/framewise/internal/inference"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/segments"
	"github.com/framewise/framewise/internal/task"
)

// Config configures the engine of one model profile.
type Config struct {
	Name  string // backend name, for messages
	Chat  inference.Chatter
	ASR   inference.Transcriber // optional
	Media *media.Tool
	// FramesPerCall is the frame budget of one call; FrameWidth the width
	// of each frame in pixels.
	FramesPerCall int
	FrameWidth    int
	// ContextTokens is the model's context window as the profile sets it;
	// 0 takes what Limits reports, else DefaultContextTokens. Every call is
	// sized to fit it (budget.go): FramesPerCall is lowered per task when
	// frames, instructions and an answer would not fit.
	ContextTokens int
	// Limits reports what the backend enforces (probed; may be nil). It is
	// asked once per task.
	Limits func(context.Context) inference.Limits
	// Imprecision is how far (seconds) a model's boundary may lie from the
	// frames it describes, beyond the spacing of the frames: about a
	// second, rounded to whole seconds. Default 1.5.
	Imprecision float64
	// MaxParallel bounds the windows in flight (the Chatter bounds calls).
	MaxParallel int
	// ChunkSeconds is how much video is measured and sampled at a time, so
	// that calls start before the whole video is decoded. Default 300.
	ChunkSeconds float64
	// DecodeParallel is how many chunks are prepared at once, each with
	// its own FFmpeg runs (bounded in turn by the media tool). Default 2.
	DecodeParallel int
	// NoSnap turns off snapping boundaries to detected cuts (benchmarks).
	NoSnap bool
	Log    *slog.Logger
}

// Engine analyses with a vision-language model.
type Engine struct{ cfg Config }

// New returns the engine.
func New(cfg Config) *Engine {
	if cfg.FramesPerCall <= overlapFrames {
		cfg.FramesPerCall = 16
	}
	if cfg.FrameWidth <= 0 {
		cfg.FrameWidth = 512
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Imprecision <= 0 {
		cfg.Imprecision = 1.5
	}
	if cfg.MaxParallel <= 0 {
		cfg.MaxParallel = 4
	}
	if cfg.ChunkSeconds <= 0 {
		cfg.ChunkSeconds = 300
	}
	if cfg.DecodeParallel <= 0 {
		cfg.DecodeParallel = 2
	}
	return &Engine{cfg: cfg}
}

// FrameTokens estimates the input tokens of one frame of the given width
// (16:9) with its time label: vision encoders of the Qwen2-VL family use a
// token per 28x28 pixels, hosted APIs charge about 255 for a picture of
// this size; the larger estimate is taken.
func FrameTokens(width int) int {
	h := width * 9 / 16
	patches := ((width + 27) / 28) * ((h + 27) / 28)
	return max(patches, 255) + 16
}

// Name implements engine.Engine.
func (e *Engine) Name() string { return "vlm:" + e.cfg.Name }

// usage sums the tokens of every call of a task (documented in the README:
// result.usage counts all calls, map, reduce and repair included).
type usage struct {
	mu            sync.Mutex
	input, output int
}

func (u *usage) add(r *inference.ChatResponse) {
	u.mu.Lock()
	u.input += r.InputTokens
	u.output += r.OutputTokens
	u.mu.Unlock()
}

// windowResult is what one window's calls produced, as checkpointed. A
// window the server found too large is split, so it may hold the answers of
// several calls.
type windowResult struct {
	Notes  string  `json:"notes,omitempty"`
	Pieces []piece `json:"pieces,omitempty"`
	// Segments is the single answer of checkpoints written before pieces.
	Segments map[string][]segments.Segment `json:"segments,omitempty"`
	Input    int                           `json:"input_tokens"`
	Output   int                           `json:"output_tokens"`
	Length   bool                          `json:"length,omitempty"`
}

// piece is one call's segments and the frames (times) it was sent.
type piece struct {
	Start    float64                       `json:"start"`
	End      float64                       `json:"end"`
	Frames   []float64                     `json:"frames"`
	Segments map[string][]segments.Segment `json:"segments,omitempty"`
}

// add appends the result of another call of the same window.
func (r *windowResult) add(o windowResult) {
	if o.Notes != "" {
		r.Notes = strings.TrimSpace(r.Notes + "\n" + o.Notes)
	}
	r.Pieces = append(r.Pieces, o.Pieces...)
	r.Input += o.Input
	r.Output += o.Output
	r.Length = r.Length || o.Length
}

// Analyze implements engine.Engine.
func (e *Engine) Analyze(ctx context.Context, in engine.Input) (*engine.Output, error) {
	if p, ok := loadPlan(in); ok && (p.Complete || in.Windows != nil) {
		return e.analyzePlan(ctx, in, p)
	}
	if in.Windows != nil {
		return nil, errors.New("vlm: a chunk of windows was asked for without a plan")
	}
	tbm := in.Spec.Mode == task.ModeTimeBasedMetadata
	sz, err := e.newSizer(ctx, estimate(e.instructionMessages(in), FrameTokens(e.cfg.FrameWidth)))
	if err != nil {
		return nil, err
	}
	step := Interval(in.End-in.Start, sz.frames())
	var (
		u       usage
		cutsMu  sync.Mutex
		cuts    []float64
		results = map[int]windowResult{}
		resMu   sync.Mutex
	)
	work := func(ctx context.Context, w Window, frames []sampledFrame, transcript []inference.TranscriptSegment) error {
		key := fmt.Sprintf("window/%d", w.Index)
		if in.Checkpoints != nil {
			if b, ok := in.Checkpoints.Load(key); ok {
				var r windowResult
				if json.Unmarshal(b, &r) == nil {
					if len(r.Pieces) == 0 && r.Segments != nil {
						r.Pieces = []piece{{Start: w.Start, End: w.End, Frames: w.Frames, Segments: r.Segments}}
					}
					resMu.Lock()
					results[w.Index] = r
					resMu.Unlock()
					return nil
				}
			}
		}
		r, err := e.windowCall(ctx, in, sz, w, frames, transcript, step)
		if err != nil {
			return err
		}
		if in.Checkpoints != nil {
			b, _ := json.Marshal(r)
			if err := in.Checkpoints.Save(ctx, key, b); err != nil {
				return err
			}
		}
		resMu.Lock()
		results[w.Index] = r
		resMu.Unlock()
		return nil
	}
	if !tbm && (in.End-in.Start)/step <= float64(sz.frames()) {
		// Short video: one call that sees every frame and answers the prompt.
		if out, ok, err := e.short(ctx, in, sz, step, &u); ok || err != nil {
			return out, err
		}
	}
	total, err := e.stream(ctx, in, step, sz, work, func(c []float64) {
		cutsMu.Lock()
		cuts = append(cuts, c...)
		cutsMu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	for i := 0; i < total; i++ {
		r := results[i]
		u.input += r.Input
		u.output += r.Output
	}
	if tbm {
		return e.finishSegments(in, results, total, cuts, &u)
	}
	return e.finishGeneral(ctx, in, sz, results, total, &u)
}

// instructionMessages are the messages of a window call without its
// frames: what every call costs before its first frame.
func (e *Engine) instructionMessages(in engine.Input) []inference.Message {
	var parts []inference.Part
	if in.Spec.Mode == task.ModeTimeBasedMetadata {
		parts = segmentsInstruction(in.Spec.ResponseFormat.SegmentDefinitions, in.References, Window{})
	} else {
		parts = append(promptParts(in.Spec, in.References), inference.Text(notesInstruction(Window{})))
	}
	return []inference.Message{system(), {Role: inference.RoleUser, Parts: parts}}
}

// short answers a short video in one call when its grid and shot frames
// fit one call's budget (the grid is thinned if needed); ok is false when
// they cannot, and the caller takes the windowed path.
func (e *Engine) short(ctx context.Context, in engine.Input, sz *sizer, step float64, u *usage) (*engine.Output, bool, error) {
	m, err := e.cfg.Media.Measure(ctx, in.VideoPath, in.Info, media.MeasureOptions{Start: in.Start, End: in.End, CutsOnly: true,
		Progress: func(p float64) {
			if in.Progress != nil {
				in.Progress("decoding", p*0.3)
			}
		}})
	if err != nil {
		return nil, false, err
	}
	var cuts []float64
	for _, c := range m.Cuts {
		cuts = append(cuts, c.Time)
	}
	times := FrameTimes(in.Start, in.End, step, cuts)
	for len(times) > sz.frames() && step < in.End-in.Start {
		step *= 1.25
		times = FrameTimes(in.Start, in.End, step, cuts)
	}
	if len(times) > sz.frames() {
		return nil, false, nil
	}
	frames, err := e.sampleFrames(ctx, in.VideoPath, times, cuts)
	if err != nil {
		return nil, false, err
	}
	var tr []inference.TranscriptSegment
	if e.cfg.ASR != nil && m.HasAudio {
		if tr, err = e.transcribe(ctx, in.VideoPath, in.Start, in.End); err != nil {
			return nil, false, err
		}
	}
	if in.Progress != nil {
		in.Progress("model", 40)
	}
	parts := promptParts(in.Spec, in.References)
	parts = append(parts, framesParts(frames, tr, in.Start, in.End)...)
	out, err := e.answer(ctx, in, sz, parts, u)
	if be, ok := inference.AsTooLarge(err); ok {
		// The server found the one call too large: learn from it and take
		// the windowed path, whose calls are smaller.
		sz.learn(be, []inference.Message{system(), {Role: inference.RoleUser, Parts: parts}}, len(frames))
		e.cfg.Log.Info("one call was too large for the model; using windows", "backend", e.cfg.Name, "error", be.Message)
		return nil, false, nil
	}
	return out, true, err
}

// chunk is one piece of the video measured and sampled at once.
type chunk struct {
	cuts       []float64
	frames     []sampledFrame
	transcript []inference.TranscriptSegment
	err        error
}

// chunks splits [start, end) into pieces of about size seconds, without a
// sliver of less than a second at the end.
func chunks(start, end, size float64) [][2]float64 {
	var out [][2]float64
	for cs := start; cs < end-1e-9; cs += size {
		ce := math.Min(end, cs+size)
		if end-ce < 1 {
			ce = end
		}
		out = append(out, [2]float64{cs, ce})
		if ce >= end {
			break
		}
	}
	return out
}

// stream measures and samples the video chunk by chunk and hands each
// window to work as soon as its frames are decoded; up to MaxParallel
// windows are in flight. It returns the number of windows.
//
// Up to DecodeParallel chunks are prepared (measured, transcribed,
// sampled) at once, each by its own FFmpeg runs, and consumed in order:
// one FFmpeg decode of small video keeps about 1.4 of 2 cores busy (its
// filters and output run on one thread), two keep both busy. The chunks
// prepared ahead are bounded, so memory stays flat however long the video.
func (e *Engine) stream(ctx context.Context, in engine.Input, step float64, sz *sizer,
	work func(context.Context, Window, []sampledFrame, []inference.TranscriptSegment) error,
	onCuts func([]float64)) (int, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, e.cfg.MaxParallel)
	var wg sync.WaitGroup
	var transcript []inference.TranscriptSegment
	var pending []sampledFrame
	windows, done := 0, 0
	var doneMu sync.Mutex
	dur := in.End - in.Start

	dispatch := func(frames []sampledFrame, end float64) {
		times := make([]float64, len(frames))
		for i, f := range frames {
			times[i] = f.Time
		}
		doneMu.Lock()
		idx := windows
		windows++
		doneMu.Unlock()
		w := Window{Index: idx, Frames: times, Start: frames[0].Time, End: math.Min(end, frames[len(frames)-1].Time+step)}
		if idx == 0 {
			w.Start = in.Start
		}
		tr := append([]inference.TranscriptSegment(nil), transcript...)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := work(ctx, w, frames, tr); err != nil {
				cancel(err)
				return
			}
			doneMu.Lock()
			done++
			n := done
			doneMu.Unlock()
			if in.Progress != nil {
				// Windows are planned as the video is decoded: until then the
				// total is estimated from the frame grid.
				perCall := sz.frames()
				est := int(math.Ceil((dur/step - float64(overlap(perCall))) / float64(perCall-overlap(perCall))))
				doneMu.Lock()
				total := max(est, windows)
				doneMu.Unlock()
				in.Progress(fmt.Sprintf("model: %d/%d windows", n, total), math.Min(99, 30+70*float64(n)/float64(total)))
			}
		}()
	}

	// Decoding progress: the seconds of video measured so far, summed over
	// the chunks in preparation.
	parts := chunks(in.Start, in.End, e.cfg.ChunkSeconds)
	measured := make([]float64, len(parts))
	var progMu sync.Mutex
	progress := func(i int, seconds float64) {
		if in.Progress == nil {
			return
		}
		progMu.Lock()
		measured[i] = seconds
		var sum float64
		for _, v := range measured {
			sum += v
		}
		progMu.Unlock()
		in.Progress("decoding", math.Min(99, 30*sum/dur))
	}

	// Prepare chunks ahead, at most DecodeParallel not yet consumed.
	results := make([]chan chunk, len(parts))
	for i := range results {
		results[i] = make(chan chunk, 1)
	}
	ahead := make(chan struct{}, e.cfg.DecodeParallel)
	var prepWG sync.WaitGroup
	defer prepWG.Wait()
	prepWG.Add(1)
	go func() {
		defer prepWG.Done()
		for i, p := range parts {
			select {
			case ahead <- struct{}{}:
			case <-ctx.Done():
				return
			}
			prepWG.Add(1)
			go func() {
				defer prepWG.Done()
				results[i] <- e.prepare(ctx, in, step, p[0], p[1], func(seconds float64) { progress(i, seconds) })
			}()
		}
	}()

	for i := range parts {
		var c chunk
		select {
		case c = <-results[i]:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		<-ahead
		if c.err != nil {
			cancel(c.err)
			break
		}
		onCuts(c.cuts)
		transcript = append(transcript, c.transcript...)
		for _, f := range c.frames {
			if n := len(pending); n > 0 && f.Time <= pending[n-1].Time+1e-6 {
				continue
			}
			pending = append(pending, f)
			for perCall := sz.frames(); len(pending) >= perCall; perCall = sz.frames() {
				dispatch(append([]sampledFrame(nil), pending[:perCall]...), in.End)
				pending = append([]sampledFrame(nil), pending[perCall-overlap(perCall):]...)
			}
		}
	}
	if ctx.Err() == nil && (len(pending) > overlap(sz.frames()) || (windows == 0 && len(pending) > 0)) {
		dispatch(pending, in.End)
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		if cause := context.Cause(ctx); cause != nil && cause != err {
			return 0, cause
		}
		return 0, err
	}
	if windows == 0 {
		return 0, &engine.Refusal{Message: "No frames could be sampled from the video."}
	}
	return windows, nil
}

// sceneFrames is the scene-change score (see media.MeasureOptions) from
// which the measuring run also encodes a frame, as a candidate for the
// first frame of a shot. A hard cut the detector finds changes the 64x36
// thumbnails by at least 5 % of full scale (media.DefaultSceneThreshold),
// and the full picture by about as much or more, i.e. a score of about
// 0.1 and up; steady motion scores near 0. Candidates cost a JPEG each; a
// cut without one is sampled exactly afterwards.
const sceneFrames = 0.05

// prepare measures the cuts of [cs, ce), transcribes its speech when an
// ASR backend is configured, and samples its frames. The measuring run
// itself encodes the regular grid at step and candidate shot frames (no
// second decode); the first frame of a shot is the candidate on its cut,
// or, when there is none, decoded exactly afterwards (cut + shotOffset).
// Grid frames closer than step/3 to a shot frame give way to it, as
// FrameTimes says.
func (e *Engine) prepare(ctx context.Context, in engine.Input, step, cs, ce float64, progress func(seconds float64)) chunk {
	var c chunk
	// Cuts only: the engine uses nothing else.
	m, err := e.cfg.Media.Measure(ctx, in.VideoPath, in.Info, media.MeasureOptions{Start: cs, End: ce, CutsOnly: true,
		FrameTimes: FrameTimes(cs, ce, step, nil), SceneFrames: sceneFrames, Frame: media.SampleOptions{Width: e.cfg.FrameWidth},
		Progress: func(p float64) { progress((ce - cs) * p / 100) }})
	if err != nil {
		c.err = err
		return c
	}
	for _, cut := range m.Cuts {
		c.cuts = append(c.cuts, cut.Time)
	}
	if e.cfg.ASR != nil && m.HasAudio {
		if c.transcript, err = e.transcribe(ctx, in.VideoPath, cs, ce); err != nil {
			c.err = err
			return c
		}
	}
	frameAt := func(t float64) (media.Frame, bool) { // the first frame at or after t
		i := sort.Search(len(m.Frames), func(i int) bool { return m.Frames[i].Time >= t-media.SampleTolerance })
		if i == len(m.Frames) {
			return media.Frame{}, false
		}
		return m.Frames[i], true
	}
	// A candidate is the first frame of a shot when it lies on the cut:
	// within half a frame of the detector's time for it.
	frameDur := 0.04
	if v := in.Info; v != nil && v.Video != nil && v.Video.FPS > 0 {
		frameDur = 1 / v.Video.FPS
	}
	// FrameTimes with the cuts is the plan: shot times (cut + shotOffset)
	// and the grid times that did not give way to them. The measuring run
	// encoded the whole grid, so every grid time finds its frame.
	var missing []float64
	for _, t := range FrameTimes(cs, ce, step, c.cuts) {
		f, ok := frameAt(t)
		if cut, shot := nearest(c.cuts, t-shotOffset, 1e-6); shot {
			f, ok = frameAt(cut - frameDur/2)
			if !ok || f.Time > cut+frameDur/2 {
				missing = append(missing, t)
				continue
			}
		}
		if ok {
			c.frames = append(c.frames, sampledFrame{Time: f.Time, JPEG: f.JPEG})
		}
	}
	if len(missing) > 0 {
		err := e.cfg.Media.SampleAt(ctx, in.VideoPath, missing, media.SampleOptions{Width: e.cfg.FrameWidth, Exact: true}, func(f media.Frame) error {
			c.frames = append(c.frames, sampledFrame{Time: f.Time, JPEG: f.JPEG})
			return ctx.Err()
		})
		if err != nil {
			c.err = err
			return c
		}
	}
	c.frames = sortFrames(c.frames)
	return c
}

// sampleFrames decodes the frames at times: the first frame of each shot
// exactly (decoding from the keyframe before it), the grid by fast keyframe
// seeking. Frames come back in time order without duplicates.
func (e *Engine) sampleFrames(ctx context.Context, path string, times, cuts []float64) ([]sampledFrame, error) {
	var grid, shots []float64
	for _, t := range times {
		if c, ok := nearest(cuts, t-shotOffset, 1e-6); ok && c >= 0 {
			shots = append(shots, t)
		} else {
			grid = append(grid, t)
		}
	}
	var frames []sampledFrame
	collect := func(f media.Frame) error {
		frames = append(frames, sampledFrame{Time: f.Time, JPEG: f.JPEG})
		return ctx.Err()
	}
	opts := media.SampleOptions{Width: e.cfg.FrameWidth}
	if len(grid) > 0 {
		if err := e.cfg.Media.SampleAt(ctx, path, grid, opts, collect); err != nil {
			return nil, err
		}
	}
	if len(shots) > 0 {
		opts.Exact = true
		if err := e.cfg.Media.SampleAt(ctx, path, shots, opts, collect); err != nil {
			return nil, err
		}
	}
	return sortFrames(frames), nil
}

// sortFrames puts frames in time order and drops duplicates.
func sortFrames(frames []sampledFrame) []sampledFrame {
	sort.SliceStable(frames, func(i, j int) bool { return frames[i].Time < frames[j].Time })
	out := frames[:0]
	for _, f := range frames {
		if n := len(out); n == 0 || f.Time > out[n-1].Time+1e-6 {
			out = append(out, f)
		}
	}
	return out
}

// transcribe extracts the audio of [start, end) and sends it to the ASR backend.
func (e *Engine) transcribe(ctx context.Context, path string, start, end float64) ([]inference.TranscriptSegment, error) {
	var wav bytes.Buffer
	if err := e.cfg.Media.ExtractAudio(ctx, path, start, end, &wav); err != nil {
		if errors.Is(err, media.ErrNoAudio) {
			return nil, nil
		}
		return nil, err
	}
	tr, err := e.cfg.ASR.Transcribe(ctx, &wav, "audio.wav", start)
	var be *inference.BackendError
	if errors.As(err, &be) && ctx.Err() == nil {
		return nil, &engine.Refusal{Message: "Speech recognition failed: " + be.Error()}
	}
	return tr, err
}

func system() inference.Message {
	return inference.Message{Role: inference.RoleSystem, Parts: []inference.Part{inference.Text(systemPrompt)}}
}

// windowCall makes the calls of one window. A call the server finds too
// large (a context overflow or an image limit, refused or detected as a
// silent truncation) is split in two smaller calls, and so is one whose
// answer was cut at its max_tokens, so that no task fails, and no answer is
// cut, that smaller calls would have served. A window of minFrames that
// still does not fit fails the task with the numbers and the fix.
func (e *Engine) windowCall(ctx context.Context, in engine.Input, sz *sizer, w Window, frames []sampledFrame, tr []inference.TranscriptSegment, step float64) (windowResult, error) {
	var (
		r    windowResult
		msgs []inference.Message
		err  error
	)
	if in.Spec.Mode == task.ModeTimeBasedMetadata {
		r, msgs, err = e.segmentsCall(ctx, in, sz, w, frames, tr)
	} else {
		r, msgs, err = e.notesCall(ctx, in, sz, w, frames, tr)
	}
	be, tooLarge := inference.AsTooLarge(err)
	switch {
	case tooLarge:
		sz.learn(be, msgs, len(frames))
		if len(frames) <= minFrames {
			return r, &engine.Refusal{Message: sz.advice(fmt.Sprintf("%d frames of %.1f–%.1f s (about %d tokens with the instructions) and an answer do not fit (%s)",
				len(frames), w.Start, w.End, estimate(msgs, sz.imageTokens), be.Message))}
		}
		e.cfg.Log.Info("model call too large, splitting the window", "backend", e.cfg.Name,
			"window", w.Index, "frames", len(frames), "error", be.Message)
	case err != nil:
		return r, err
	case r.Length && len(frames) > minFrames:
		e.cfg.Log.Info("window answer cut at max_tokens, splitting the window", "backend", e.cfg.Name,
			"window", w.Index, "frames", len(frames))
	default:
		return r, nil
	}
	// Two halves that share the middle frame (when there are three or more).
	k := len(frames) / 2
	a, b := frames[:k], frames[k:]
	if len(frames) >= 3 {
		a = frames[:k+1]
	}
	wa := Window{Index: w.Index, Frames: frameTimes(a), Start: w.Start, End: math.Min(w.End, b[0].Time+step/2)}
	wb := Window{Index: w.Index, Frames: frameTimes(b), Start: b[0].Time, End: w.End}
	if len(frames) >= 3 {
		wa.End = math.Min(w.End, b[0].Time+step)
	}
	ra, err := e.windowCall(ctx, in, sz, wa, a, tr, step)
	if err != nil {
		return r, err
	}
	rb, err := e.windowCall(ctx, in, sz, wb, b, tr, step)
	if err != nil {
		return r, err
	}
	out := windowResult{Input: r.Input, Output: r.Output}
	out.add(ra)
	out.add(rb)
	return out, nil
}

func frameTimes(frames []sampledFrame) []float64 {
	out := make([]float64, len(frames))
	for i, f := range frames {
		out[i] = f.Time
	}
	return out
}

// send makes one sized call: max_tokens is want capped by the room the
// prompt leaves in the context; a prompt that leaves less than least is too
// large and is not sent. An answer whose prompt the server silently cut is
// reported as too large too.
func (e *Engine) send(ctx context.Context, sz *sizer, req inference.ChatRequest, want, least int) (*inference.ChatResponse, error) {
	req.MaxTokens = sz.output(req.Messages, want)
	if req.MaxTokens < least {
		return nil, &inference.BackendError{Backend: e.cfg.Name, Overflow: true, Message: fmt.Sprintf(
			"a prompt of about %d tokens leaves %d of the %d-token context for the answer, less than %d",
			estimate(req.Messages, sz.imageTokens), max(req.MaxTokens, 0), sz.context, least)}
	}
	resp, err := e.cfg.Chat.Chat(ctx, req)
	if err == nil {
		if be := sz.truncated(req.Messages, resp); be != nil {
			return resp, be
		}
	}
	return resp, err
}

// failed maps a failed call: a backend that still fails after the
// adapter's own retries (with backoff) fails the task with a message naming
// the backend, rather than waiting for job retries; a request too large is
// returned as it is, for the caller to shrink.
func (e *Engine) failed(ctx context.Context, err error) error {
	var be *inference.BackendError
	if _, tooLarge := inference.AsTooLarge(err); !tooLarge && errors.As(err, &be) && ctx.Err() == nil {
		return &engine.Refusal{Message: "The analysis failed: " + be.Error()}
	}
	return err
}

func notesInstruction(w Window) string {
	return fmt.Sprintf("Write notes on what these frames (%.1f–%.1f s) show that helps answer the question, with times.", w.Start, w.End)
}

// notesCall asks, for one window, notes on what the prompt needs, for the
// reduce step.
func (e *Engine) notesCall(ctx context.Context, in engine.Input, sz *sizer, w Window, frames []sampledFrame, tr []inference.TranscriptSegment) (windowResult, []inference.Message, error) {
	parts := []inference.Part{inference.Text("Question about the video: ")}
	parts = append(parts, promptParts(in.Spec, in.References)...)
	parts = append(parts, inference.Text(notesInstruction(w)))
	parts = append(parts, framesParts(frames, tr, w.Start, w.End)...)
	msgs := []inference.Message{system(), {Role: inference.RoleUser, Parts: parts}}
	resp, err := e.send(ctx, sz, inference.ChatRequest{Messages: msgs, Temperature: &in.Spec.Temperature},
		min(in.Spec.MaxTokens, 2048), min(in.Spec.MaxTokens, 256))
	if err != nil {
		return windowResult{}, msgs, e.failed(ctx, err)
	}
	return windowResult{Notes: resp.Text, Input: resp.InputTokens, Output: resp.OutputTokens, Length: resp.FinishReason == inference.FinishLength}, msgs, nil
}

// finishGeneral reduces the windows' notes to one answer (text, or JSON
// following the user's schema, validated and repaired once).
func (e *Engine) finishGeneral(ctx context.Context, in engine.Input, sz *sizer, results map[int]windowResult, total int, u *usage) (*engine.Output, error) {
	var notes strings.Builder
	for i := 0; i < total; i++ {
		fmt.Fprintf(&notes, "Notes %d:\n%s\n\n", i+1, strings.TrimSpace(results[i].Notes))
	}
	parts := []inference.Part{inference.Text("Notes taken on consecutive parts of a video, in order:\n\n" + notes.String())}
	parts = append(parts, inference.Text("Using only these notes, answer:"))
	parts = append(parts, promptParts(in.Spec, in.References)...)
	out, err := e.answer(ctx, in, sz, parts, u)
	if be, ok := inference.AsTooLarge(err); ok {
		return nil, &engine.Refusal{Message: sz.advice("the notes of the video's windows and an answer do not fit (" + be.Message + ")")}
	}
	return out, err
}

// answer makes the call that answers the prompt, in text or as JSON that
// follows the user's schema (validated, with one repair attempt). It asks
// for the task's max_tokens, capped by what fits the context.
func (e *Engine) answer(ctx context.Context, in engine.Input, sz *sizer, parts []inference.Part, u *usage) (*engine.Output, error) {
	req := inference.ChatRequest{
		Messages:    []inference.Message{system(), {Role: inference.RoleUser, Parts: parts}},
		Temperature: &in.Spec.Temperature,
	}
	var schema *Schema
	if rf := in.Spec.ResponseFormat; rf != nil && rf.Type == "json_schema" {
		var err error
		if schema, err = CompileSchema(rf.JSONSchema); err != nil {
			return nil, &engine.Refusal{Message: "The json_schema cannot be used: " + err.Error()}
		}
		req.JSONSchema, req.SchemaName = schema.ModelSchema, "response"
	}
	// A text answer streams as the model writes it; one that must follow
	// a schema is passed on once it is checked (and repaired).
	streamed := false
	if schema == nil && in.Stream != nil {
		req.Stream = func(text string) {
			if text != "" {
				streamed = true
				in.Stream(text)
			}
		}
	}
	least := min(in.Spec.MaxTokens, 256)
	resp, err := e.send(ctx, sz, req, in.Spec.MaxTokens, least)
	if err != nil && streamed && ctx.Err() == nil {
		// What was passed on cannot be taken back: no smaller call may
		// answer again.
		return nil, &engine.Refusal{Message: fmt.Sprintf("The answer of the model %s broke off after it started: %v", e.cfg.Name, err)}
	}
	if err != nil {
		return nil, e.failed(ctx, err)
	}
	u.add(resp)
	out := &engine.Output{Data: resp.Text, FinishReason: "stop"}
	if resp.FinishReason == inference.FinishLength {
		out.FinishReason = "length"
		out.Warning = fmt.Sprintf("The answer was cut at %d tokens; raise max_tokens (or the model's context) for a complete answer.", sz.output(req.Messages, in.Spec.MaxTokens))
	}
	if strings.TrimSpace(resp.Text) == "" {
		return nil, &engine.Refusal{Message: fmt.Sprintf("The model %s returned an empty answer (finish reason %q).", e.cfg.Name, resp.FinishReason)}
	}
	if schema != nil && out.FinishReason == "stop" {
		data, verr := schema.Finish(resp.Text)
		if verr != nil {
			// One repair attempt: show the model its answer and the error.
			req.Messages = append(req.Messages,
				inference.Message{Role: inference.RoleAssistant, Parts: []inference.Part{inference.Text(resp.Text)}},
				inference.Message{Role: inference.RoleUser, Parts: []inference.Part{inference.Text(
					"That answer does not follow the JSON schema: " + verr.Error() + ". Answer again with only JSON that follows the schema.")}})
			resp, err = e.send(ctx, sz, req, in.Spec.MaxTokens, least)
			if err != nil {
				return nil, e.failed(ctx, err)
			}
			u.add(resp)
			if data, verr = schema.Finish(resp.Text); verr != nil {
				return nil, &engine.Refusal{Message: fmt.Sprintf("The model %s did not produce JSON that follows the schema, even after one repair attempt: %v", e.cfg.Name, verr)}
			}
		}
		out.Data = data
	}
	if schema != nil && in.Stream != nil {
		in.Stream(out.Data)
	}
	out.OutputTokens = u.output
	in2 := u.input
	out.InputTokens = &in2
	return out, nil
}

// segmentsCall asks one window for the segments of every definition, with
// one repair attempt when the answer is not valid.
func (e *Engine) segmentsCall(ctx context.Context, in engine.Input, sz *sizer, w Window, frames []sampledFrame, tr []inference.TranscriptSegment) (windowResult, []inference.Message, error) {
	defs := in.Spec.ResponseFormat.SegmentDefinitions
	parts := segmentsInstruction(defs, in.References, w)
	parts = append(parts, framesParts(frames, tr, w.Start, w.End)...)
	req := inference.ChatRequest{
		Messages:    []inference.Message{system(), {Role: inference.RoleUser, Parts: parts}},
		Temperature: &in.Spec.Temperature,
		JSONSchema:  segmentSchema(defs),
		SchemaName:  "segments",
	}
	want := min(in.Spec.MaxTokens, windowOutput(defs, len(frames)))
	least := min(in.Spec.MaxTokens, minWindowOutput)
	var r windowResult
	resp, err := e.send(ctx, sz, req, want, least)
	if err != nil {
		return r, req.Messages, e.failed(ctx, err)
	}
	r.Input, r.Output = resp.InputTokens, resp.OutputTokens
	segs, perr := parseWindow(resp.Text, defs, w)
	if perr != nil && resp.FinishReason != inference.FinishLength {
		first := req.Messages
		req.Messages = append(req.Messages,
			inference.Message{Role: inference.RoleAssistant, Parts: []inference.Part{inference.Text(resp.Text)}},
			inference.Message{Role: inference.RoleUser, Parts: []inference.Part{inference.Text(
				"That answer is not valid: " + perr.Error() + ". Answer again with only JSON that follows the schema.")}})
		resp, err = e.send(ctx, sz, req, want, least)
		if err != nil {
			return r, first, e.failed(ctx, err)
		}
		r.Input += resp.InputTokens
		r.Output += resp.OutputTokens
		segs, perr = parseWindow(resp.Text, defs, w)
	}
	r.Length = resp.FinishReason == inference.FinishLength
	if perr != nil && !r.Length {
		return r, req.Messages, &engine.Refusal{Message: fmt.Sprintf("The model %s did not answer with valid segments for %.1f–%.1f s, even after one repair attempt: %v", e.cfg.Name, w.Start, w.End, perr)}
	}
	r.Pieces = []piece{{Start: w.Start, End: w.End, Frames: w.Frames, Segments: segs}}
	return r, req.Messages, nil
}

// windowOutput is the answer a window call asks for: room for about one
// segment per frame of every definition with its fields, twice over (a
// model that thinks aloud spends tokens before answering), within
// [minWindowOutput, maxWindowOutput].
func windowOutput(defs []task.SegmentDefinition, frames int) int {
	need := 64
	for _, d := range defs {
		need += (frames + 1) * (24 + 16*len(d.Fields))
	}
	return min(maxWindowOutput, max(minWindowOutput, 2*need))
}

// finishSegments merges the windows' segments, snaps them to cuts and
// applies the shared segment rules.
func (e *Engine) finishSegments(in engine.Input, results map[int]windowResult, total int, cuts []float64, u *usage) (*engine.Output, error) {
	defs := in.Spec.ResponseFormat.SegmentDefinitions
	rules := segments.RulesFor(in.Spec, in.Info.Duration)
	var pieces []piece
	truncated := false
	for i := 0; i < total; i++ {
		pieces = append(pieces, results[i].Pieces...)
		truncated = truncated || results[i].Length
	}
	var sent []float64
	for _, p := range pieces {
		sent = append(sent, p.Frames...)
	}
	sent = sortedCopy(sent)
	// The ends of the analysed range are boundaries too: a segment the
	// model starts a second late at the start of the video starts there.
	bounds := sortedCopy(append(append([]float64{}, cuts...), in.Start, in.End))
	byID := make(map[string][]segments.Segment, len(defs))
	for _, d := range defs {
		segs := instances(pieces, d.ID, e.cfg.Imprecision)
		if !e.cfg.NoSnap {
			snapToCuts(segs, bounds, sent, e.cfg.Imprecision)
		}
		byID[d.ID] = segments.Apply(d, segs, rules)
	}
	data, err := segments.Render(defs, byID, rules)
	if err != nil {
		return nil, err
	}
	out := &engine.Output{Data: data, FinishReason: "stop", OutputTokens: u.output}
	in2 := u.input
	out.InputTokens = &in2
	if truncated {
		out.FinishReason = "length"
		out.Warning = "At least one model answer was cut at its max_tokens even with the fewest frames per call; some segments may be missing. Raise max_tokens or the model's context."
	}
	return out, nil
}
