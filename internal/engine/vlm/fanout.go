package vlm

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/framewise/framewise/internal/engine"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/task"
)

// Fan-out (engine.Planner): a long video's windows are planned once, from
// the cuts of the whole [Start, End], and saved as the checkpoint planKey;
// then any number of jobs compute ranges of windows (engine.Input.Windows),
// each window decoding only its own frames (exact seeking), and a last run
// finds every window checkpointed and only merges. The plan follows
// stream's rules (chunks of ChunkSeconds, FrameTimes per chunk, windows of
// sz.frames() sharing overlap frames), so a fanned-out analysis calls the
// model on the same windows as one that streams.

// planKey is the checkpoint that holds the plan of a fanned-out analysis.
const planKey = "plan"

// savedPlan is the plan of a fanned-out analysis.
type savedPlan struct {
	Step    float64   `json:"step"`
	PerCall int       `json:"per_call"`
	Cuts    []float64 `json:"cuts"`
	// Windows are the times to sample (exactly: the first frame at or
	// after each) of every window, in order.
	Windows [][]float64 `json:"windows"`
	// Complete: every window is planned (a plan is saved as it grows).
	Complete bool `json:"complete,omitempty"`
}

// Plan implements engine.Planner. Chunks of ChunkSeconds are measured
// DecodeParallel at a time and taken in order, as stream takes them; after
// each, the windows it completed are saved and reported, so chunk jobs
// start on them while later chunks are decoded.
func (e *Engine) Plan(ctx context.Context, in engine.Input, minWindows int, ready func(planned, estimate int, final bool) error) (int, error) {
	if e.cfg.ASR != nil || in.Checkpoints == nil {
		// Windows see the transcript gathered so far: not fanned out.
		return 0, nil
	}
	tbm := in.Spec.Mode == task.ModeTimeBasedMetadata
	sz, err := e.newSizer(ctx, estimate(e.instructionMessages(in), FrameTokens(e.cfg.FrameWidth)))
	if err != nil {
		return 0, err
	}
	perCall := sz.frames()
	dur := in.End - in.Start
	step := Interval(dur, perCall)
	if !tbm && dur/step <= float64(perCall) {
		return 0, nil // the short path: one call
	}
	ov := overlap(perCall)
	est := int(math.Ceil((dur/step - float64(ov)) / float64(perCall-ov)))
	if est < minWindows {
		return 0, nil
	}
	if p, ok := loadPlan(in); ok && p.Complete {
		return len(p.Windows), ready(len(p.Windows), len(p.Windows), true)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel(nil)
		wg.Wait()
	}()
	parts := chunks(in.Start, in.End, e.cfg.ChunkSeconds)
	type measured struct {
		cuts []float64
		err  error
	}
	results := make([]chan measured, len(parts))
	for i := range results {
		results[i] = make(chan measured, 1)
	}
	done := make([]float64, len(parts))
	var mu sync.Mutex
	ahead := make(chan struct{}, e.cfg.DecodeParallel)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, p := range parts {
			select {
			case ahead <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				m, err := e.cfg.Media.Measure(ctx, in.VideoPath, in.Info, media.MeasureOptions{Start: p[0], End: p[1], CutsOnly: true,
					Progress: func(pct float64) {
						mu.Lock()
						done[i] = (p[1] - p[0]) * pct / 100
						var sum float64
						for _, v := range done {
							sum += v
						}
						mu.Unlock()
						if in.Progress != nil {
							in.Progress("planning", math.Min(99, 100*sum/dur))
						}
					}})
				var r measured
				r.err = err
				if m != nil {
					for _, c := range m.Cuts {
						r.cuts = append(r.cuts, c.Time)
					}
				}
				results[i] <- r
			}()
		}
	}()

	frameDur := 0.04
	if v := in.Info; v != nil && v.Video != nil && v.Video.FPS > 0 {
		frameDur = 1 / v.Video.FPS
	}
	plan := savedPlan{Step: step, PerCall: perCall}
	save := func() error {
		b, err := json.Marshal(plan)
		if err != nil {
			return err
		}
		return in.Checkpoints.Save(ctx, planKey, b)
	}
	var pending []float64
	for i, p := range parts {
		var r measured
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		}
		<-ahead
		if r.err != nil {
			cancel(r.err)
			return 0, r.err
		}
		before := len(plan.Windows)
		plan.Cuts = append(plan.Cuts, r.cuts...)
		for _, t := range FrameTimes(p[0], p[1], step, r.cuts) {
			if cut, shot := nearest(r.cuts, t-shotOffset, 1e-6); shot {
				// The first frame of the shot, as stream takes it: the frame
				// on the cut.
				t = math.Max(p[0], cut-frameDur/2)
			}
			if n := len(pending); n > 0 && t <= pending[n-1]+1e-6 {
				continue
			}
			pending = append(pending, t)
			if len(pending) >= perCall {
				plan.Windows = append(plan.Windows, append([]float64(nil), pending[:perCall]...))
				pending = append([]float64(nil), pending[perCall-ov:]...)
			}
		}
		if i < len(parts)-1 && len(plan.Windows) > before {
			if err := save(); err != nil {
				return 0, err
			}
			if err := ready(len(plan.Windows), max(est, len(plan.Windows)), false); err != nil {
				return 0, err
			}
		}
	}
	if len(pending) > ov || (len(plan.Windows) == 0 && len(pending) > 0) {
		plan.Windows = append(plan.Windows, pending)
	}
	if len(plan.Windows) == 0 {
		return 0, &engine.Refusal{Message: "No frames could be sampled from the video."}
	}
	plan.Complete = true
	if err := save(); err != nil {
		return 0, err
	}
	return len(plan.Windows), ready(len(plan.Windows), len(plan.Windows), true)
}

// loadPlan returns the saved plan of a fanned-out analysis, if any.
func loadPlan(in engine.Input) (*savedPlan, bool) {
	if in.Checkpoints == nil {
		return nil, false
	}
	b, ok := in.Checkpoints.Load(planKey)
	if !ok {
		return nil, false
	}
	var p savedPlan
	if json.Unmarshal(b, &p) != nil || len(p.Windows) == 0 {
		return nil, false
	}
	return &p, true
}

// analyzePlan runs the windows of a plan (in.Windows, or all) that are not
// checkpointed, and merges unless in.Windows asks for a chunk only.
func (e *Engine) analyzePlan(ctx context.Context, in engine.Input, p *savedPlan) (*engine.Output, error) {
	total := len(p.Windows)
	if in.Windows != nil && in.Windows[1] >= total {
		return nil, fmt.Errorf("vlm: windows %d–%d asked of a plan of %d so far", in.Windows[0], in.Windows[1], total)
	}
	first, last := 0, total-1
	if in.Windows != nil {
		first, last = max(0, in.Windows[0]), min(total-1, in.Windows[1])
	}
	sz, err := e.newSizer(ctx, estimate(e.instructionMessages(in), FrameTokens(e.cfg.FrameWidth)))
	if err != nil {
		return nil, err
	}
	var (
		mu      sync.Mutex
		results = map[int]windowResult{}
		done    int
	)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, e.cfg.MaxParallel)
	var wg sync.WaitGroup
	// Windows are sampled sampleBatch at a time, in one FFmpeg run each
	// batch (their frames overlap, and one run costs less than several),
	// the next batch while the calls of the last are in flight.
	for b := first; b <= last && ctx.Err() == nil; b += sampleBatch {
		var todo []int
		for i := b; i <= min(last, b+sampleBatch-1); i++ {
			if r, ok := loadWindow(in, i); ok {
				mu.Lock()
				results[i] = r
				done++
				mu.Unlock()
				continue
			}
			todo = append(todo, i)
		}
		if len(todo) == 0 {
			continue
		}
		frames, err := e.sampleWindows(ctx, in, p, todo)
		if err != nil {
			cancel(err)
			break
		}
		for _, i := range todo {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				r, err := e.planWindow(ctx, in, sz, p, i, frames[i])
				if err != nil {
					cancel(err)
					return
				}
				mu.Lock()
				results[i] = r
				done++
				n := done
				mu.Unlock()
				if in.Progress != nil {
					in.Progress(fmt.Sprintf("model: %d/%d windows", n, last-first+1), math.Min(99, 100*float64(n)/float64(last-first+1)))
				}
			}()
		}
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	if in.Windows != nil {
		return &engine.Output{}, nil
	}
	var u usage
	for i := 0; i < total; i++ {
		u.input += results[i].Input
		u.output += results[i].Output
	}
	if in.Spec.Mode == task.ModeTimeBasedMetadata {
		return e.finishSegments(in, results, total, p.Cuts, &u)
	}
	return e.finishGeneral(ctx, in, sz, results, total, &u)
}

// loadWindow returns the checkpointed result of window i.
func loadWindow(in engine.Input, i int) (windowResult, bool) {
	var r windowResult
	if in.Checkpoints == nil {
		return r, false
	}
	b, ok := in.Checkpoints.Load(fmt.Sprintf("window/%d", i))
	if !ok || json.Unmarshal(b, &r) != nil {
		return r, false
	}
	return r, true
}

// sampleBatch is how many windows of a plan are sampled in one FFmpeg run.
const sampleBatch = 4

// sampleWindows decodes the frames of the windows idx of the plan in one
// run: for each planned time, the first frame at or after it (exact), as
// stream's measuring run picks it.
func (e *Engine) sampleWindows(ctx context.Context, in engine.Input, p *savedPlan, idx []int) (map[int][]sampledFrame, error) {
	var times []float64
	for _, i := range idx {
		times = append(times, p.Windows[i]...)
	}
	times = sortedCopy(times)
	uniq := times[:0]
	for _, t := range times {
		if n := len(uniq); n == 0 || t > uniq[n-1]+1e-9 {
			uniq = append(uniq, t)
		}
	}
	var all []sampledFrame
	err := e.cfg.Media.SampleAt(ctx, in.VideoPath, uniq, media.SampleOptions{Width: e.cfg.FrameWidth, Exact: true}, func(f media.Frame) error {
		all = append(all, sampledFrame{Time: f.Time, JPEG: f.JPEG})
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	all = sortFrames(all)
	out := make(map[int][]sampledFrame, len(idx))
	for _, i := range idx {
		var fs []sampledFrame
		for _, t := range p.Windows[i] {
			j := sort.Search(len(all), func(j int) bool { return all[j].Time >= t-media.SampleTolerance })
			if j == len(all) {
				continue
			}
			if n := len(fs); n == 0 || all[j].Time > fs[n-1].Time+1e-6 {
				fs = append(fs, all[j])
			}
		}
		out[i] = fs
	}
	return out, nil
}

// planWindow calls the model on window i of the plan, given its frames,
// and checkpoints the result.
func (e *Engine) planWindow(ctx context.Context, in engine.Input, sz *sizer, p *savedPlan, i int, frames []sampledFrame) (windowResult, error) {
	if len(frames) == 0 {
		return windowResult{}, fmt.Errorf("vlm: no frames could be sampled for window %d", i)
	}
	w := Window{Index: i, Frames: frameTimes(frames), Start: frames[0].Time, End: math.Min(in.End, frames[len(frames)-1].Time+p.Step)}
	if i == 0 {
		w.Start = in.Start
	}
	r, err := e.windowCall(ctx, in, sz, w, frames, nil, p.Step)
	if err != nil {
		return r, err
	}
	b, _ := json.Marshal(r)
	if err := in.Checkpoints.Save(ctx, fmt.Sprintf("window/%d", i), b); err != nil {
		return r, err
	}
	return r, nil
}
