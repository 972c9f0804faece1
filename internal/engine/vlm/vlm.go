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
	// ContextTokens is the model's context window (0: unknown). The frames
	// of one call may take at most half of it, the rest being for the
	// instructions, the transcript and the answer: FramesPerCall is
	// lowered to fit (see FrameTokens).
	ContextTokens int
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
	if fit := FramesFit(cfg.ContextTokens, cfg.FrameWidth); cfg.ContextTokens > 0 && fit < cfg.FramesPerCall {
		cfg.Log.Warn("frames per call lowered to fit the model's context window",
			"backend", cfg.Name, "context_tokens", cfg.ContextTokens, "frame_width", cfg.FrameWidth,
			"frames_per_call", cfg.FramesPerCall, "lowered_to", fit)
		cfg.FramesPerCall = fit
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

// FramesFit is how many frames fit half of a context window of
// contextTokens, at least overlapFrames+1 (a window must move forward).
func FramesFit(contextTokens, width int) int {
	return max(overlapFrames+1, contextTokens/2/FrameTokens(width))
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

// windowResult is what one window's call produced, as checkpointed.
type windowResult struct {
	Notes    string                        `json:"notes,omitempty"`
	Segments map[string][]segments.Segment `json:"segments,omitempty"`
	Input    int                           `json:"input_tokens"`
	Output   int                           `json:"output_tokens"`
	Length   bool                          `json:"length,omitempty"`
}

// Analyze implements engine.Engine.
func (e *Engine) Analyze(ctx context.Context, in engine.Input) (*engine.Output, error) {
	step := Interval(in.End-in.Start, e.cfg.FramesPerCall)
	tbm := in.Spec.Mode == task.ModeTimeBasedMetadata
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
					resMu.Lock()
					results[w.Index] = r
					resMu.Unlock()
					return nil
				}
			}
		}
		var r windowResult
		var err error
		if tbm {
			r, err = e.segmentsCall(ctx, in, w, frames, transcript)
		} else {
			r, err = e.notesCall(ctx, in, w, frames, transcript)
		}
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
	if !tbm && (in.End-in.Start)/step <= float64(e.cfg.FramesPerCall) {
		// Short video: one call that sees every frame and answers the prompt.
		if out, ok, err := e.short(ctx, in, step, &u); ok || err != nil {
			return out, err
		}
	}
	total, err := e.stream(ctx, in, step, e.cfg.FramesPerCall, work, func(c []float64) {
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
		return e.finishSegments(in, results, total, cuts, step, &u)
	}
	return e.finishGeneral(ctx, in, results, total, &u)
}

// short answers a short video in one call when its grid and shot frames
// fit one call's budget (the grid is thinned if needed); ok is false when
// they cannot, and the caller takes the windowed path.
func (e *Engine) short(ctx context.Context, in engine.Input, step float64, u *usage) (*engine.Output, bool, error) {
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
	for len(times) > e.cfg.FramesPerCall && step < in.End-in.Start {
		step *= 1.25
		times = FrameTimes(in.Start, in.End, step, cuts)
	}
	if len(times) > e.cfg.FramesPerCall {
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
	out, err := e.answer(ctx, in, parts, u)
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
func (e *Engine) stream(ctx context.Context, in engine.Input, step float64, perCall int,
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
				est := int(math.Ceil((dur/step - overlapFrames) / float64(perCall-overlapFrames)))
				if perCall == math.MaxInt {
					est = 1
				}
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
			if len(pending) == perCall {
				dispatch(pending, in.End)
				pending = append([]sampledFrame(nil), pending[len(pending)-overlapFrames:]...)
			}
		}
	}
	if ctx.Err() == nil && (len(pending) > overlapFrames || (windows == 0 && len(pending) > 0)) {
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

// chat makes one call. A backend that still fails after the adapter's own
// retries (with backoff, honouring Retry-After) fails the task with a
// message naming the backend, rather than waiting for job retries.
func (e *Engine) chat(ctx context.Context, req inference.ChatRequest) (*inference.ChatResponse, error) {
	resp, err := e.cfg.Chat.Chat(ctx, req)
	var be *inference.BackendError
	if errors.As(err, &be) && ctx.Err() == nil {
		return nil, &engine.Refusal{Message: "The analysis failed: " + be.Error()}
	}
	return resp, err
}

func system() inference.Message {
	return inference.Message{Role: inference.RoleSystem, Parts: []inference.Part{inference.Text(systemPrompt)}}
}

// notesCall asks, for one window, what the prompt needs: the answer itself
// when the whole video is one window, notes for the reduce step otherwise.
func (e *Engine) notesCall(ctx context.Context, in engine.Input, w Window, frames []sampledFrame, tr []inference.TranscriptSegment) (windowResult, error) {
	parts := []inference.Part{inference.Text("Question about the video: ")}
	parts = append(parts, promptParts(in.Spec, in.References)...)
	parts = append(parts, inference.Text(fmt.Sprintf("Write notes on what these frames (%.1f–%.1f s) show that helps answer the question, with times.", w.Start, w.End)))
	parts = append(parts, framesParts(frames, tr, w.Start, w.End)...)
	resp, err := e.chat(ctx, inference.ChatRequest{
		Messages:    []inference.Message{system(), {Role: inference.RoleUser, Parts: parts}},
		Temperature: &in.Spec.Temperature,
		MaxTokens:   min(in.Spec.MaxTokens, 2048),
	})
	if err != nil {
		return windowResult{}, err
	}
	return windowResult{Notes: resp.Text, Input: resp.InputTokens, Output: resp.OutputTokens, Length: resp.FinishReason == inference.FinishLength}, nil
}

// finishGeneral reduces the windows' notes to one answer (text, or JSON
// following the user's schema, validated and repaired once).
func (e *Engine) finishGeneral(ctx context.Context, in engine.Input, results map[int]windowResult, total int, u *usage) (*engine.Output, error) {
	var notes strings.Builder
	for i := 0; i < total; i++ {
		fmt.Fprintf(&notes, "Notes %d:\n%s\n\n", i+1, strings.TrimSpace(results[i].Notes))
	}
	parts := []inference.Part{inference.Text("Notes taken on consecutive parts of a video, in order:\n\n" + notes.String())}
	parts = append(parts, inference.Text("Using only these notes, answer:"))
	parts = append(parts, promptParts(in.Spec, in.References)...)
	return e.answer(ctx, in, parts, u)
}

// answer makes the call that answers the prompt, in text or as JSON that
// follows the user's schema (validated, with one repair attempt).
func (e *Engine) answer(ctx context.Context, in engine.Input, parts []inference.Part, u *usage) (*engine.Output, error) {
	req := inference.ChatRequest{
		Messages:    []inference.Message{system(), {Role: inference.RoleUser, Parts: parts}},
		Temperature: &in.Spec.Temperature,
		MaxTokens:   in.Spec.MaxTokens,
	}
	var schema *Schema
	if rf := in.Spec.ResponseFormat; rf != nil && rf.Type == "json_schema" {
		var err error
		if schema, err = CompileSchema(rf.JSONSchema); err != nil {
			return nil, &engine.Refusal{Message: "The json_schema cannot be used: " + err.Error()}
		}
		req.JSONSchema, req.SchemaName = schema.ModelSchema, "response"
	}
	resp, err := e.chat(ctx, req)
	if err != nil {
		return nil, err
	}
	u.add(resp)
	out := &engine.Output{Data: resp.Text, FinishReason: "stop"}
	if resp.FinishReason == inference.FinishLength {
		out.FinishReason = "length"
		out.Warning = fmt.Sprintf("The answer was cut at max_tokens (%d); raise max_tokens for a complete answer.", in.Spec.MaxTokens)
	}
	if schema != nil && out.FinishReason == "stop" {
		data, verr := schema.Finish(resp.Text)
		if verr != nil {
			// One repair attempt: show the model its answer and the error.
			req.Messages = append(req.Messages,
				inference.Message{Role: inference.RoleAssistant, Parts: []inference.Part{inference.Text(resp.Text)}},
				inference.Message{Role: inference.RoleUser, Parts: []inference.Part{inference.Text(
					"That answer does not follow the JSON schema: " + verr.Error() + ". Answer again with only JSON that follows the schema.")}})
			resp, err = e.chat(ctx, req)
			if err != nil {
				return nil, err
			}
			u.add(resp)
			if data, verr = schema.Finish(resp.Text); verr != nil {
				return nil, &engine.Refusal{Message: fmt.Sprintf("The model %s did not produce JSON that follows the schema, even after one repair attempt: %v", e.cfg.Name, verr)}
			}
		}
		out.Data = data
	}
	out.OutputTokens = u.output
	in2 := u.input
	out.InputTokens = &in2
	return out, nil
}

// segmentsCall asks one window for the segments of every definition.
func (e *Engine) segmentsCall(ctx context.Context, in engine.Input, w Window, frames []sampledFrame, tr []inference.TranscriptSegment) (windowResult, error) {
	defs := in.Spec.ResponseFormat.SegmentDefinitions
	parts := segmentsInstruction(defs, in.References, w)
	parts = append(parts, framesParts(frames, tr, w.Start, w.End)...)
	req := inference.ChatRequest{
		Messages:    []inference.Message{system(), {Role: inference.RoleUser, Parts: parts}},
		Temperature: &in.Spec.Temperature,
		MaxTokens:   in.Spec.MaxTokens,
		JSONSchema:  segmentSchema(defs),
		SchemaName:  "segments",
	}
	var r windowResult
	resp, err := e.chat(ctx, req)
	if err != nil {
		return r, err
	}
	r.Input, r.Output = resp.InputTokens, resp.OutputTokens
	segs, perr := parseWindow(resp.Text, defs, w)
	if perr != nil {
		req.Messages = append(req.Messages,
			inference.Message{Role: inference.RoleAssistant, Parts: []inference.Part{inference.Text(resp.Text)}},
			inference.Message{Role: inference.RoleUser, Parts: []inference.Part{inference.Text(
				"That answer is not valid: " + perr.Error() + ". Answer again with only JSON that follows the schema.")}})
		resp, err = e.chat(ctx, req)
		if err != nil {
			return r, err
		}
		r.Input += resp.InputTokens
		r.Output += resp.OutputTokens
		if segs, perr = parseWindow(resp.Text, defs, w); perr != nil {
			return r, &engine.Refusal{Message: fmt.Sprintf("The model %s did not answer with valid segments for %.1f–%.1f s, even after one repair attempt: %v", e.cfg.Name, w.Start, w.End, perr)}
		}
	}
	r.Segments = segs
	r.Length = resp.FinishReason == inference.FinishLength
	return r, nil
}

// finishSegments merges the windows' segments, snaps them to cuts and
// applies the shared segment rules.
func (e *Engine) finishSegments(in engine.Input, results map[int]windowResult, total int, cuts []float64, step float64, u *usage) (*engine.Output, error) {
	defs := in.Spec.ResponseFormat.SegmentDefinitions
	rules := segments.RulesFor(in.Spec, in.Info.Duration)
	byID := make(map[string][]segments.Segment, len(defs))
	truncated := false
	for _, d := range defs {
		var all []segments.Segment
		for i := 0; i < total; i++ {
			all = append(all, results[i].Segments[d.ID]...)
			truncated = truncated || results[i].Length
		}
		merged := mergeWindows(all)
		if !e.cfg.NoSnap {
			snapToCuts(merged, sortedCopy(cuts), math.Max(0.5, step/2))
		}
		byID[d.ID] = segments.Apply(d, merged, rules)
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
		out.Warning = fmt.Sprintf("At least one model call was cut at max_tokens (%d); some segments may be missing. Raise max_tokens.", in.Spec.MaxTokens)
	}
	return out, nil
}
