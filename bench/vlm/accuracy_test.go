package vlmbench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/framewise/framewise/internal/engine/vlm"
	"github.com/framewise/framewise/internal/inference"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/task"
)

// accuracySeed fixes the scene plan (lengths and colours).
const accuracySeed = 4

// Targets of issue 4 (with snapping).
const (
	targetIoU       = 0.95
	targetMedianErr = 0.2
)

// BenchmarkAccuracy runs the engine on a generated 30-minute video of
// solid-colour scenes, one segment definition per colour, three ways:
// default (boundaries snapped to detected cuts), NoSnap, and a naive
// baseline; it scores each against the truth (see Score).
func BenchmarkAccuracy(b *testing.B) {
	b.Logf("load average at start: %s", loadAvg())
	scenes := planScenes(accuracySeed, minLumaStep)
	path, err := sceneVideo("scenes", scenes)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rg := newRig(b, 0)
	info, err := rg.tool.Probe(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	colours := map[string]bool{}
	for _, s := range scenes {
		colours[s.Colour] = true
	}
	defs := colourDefs(colours)
	fmt.Printf("video: %s, %.1f s, %d scenes, %d colours (consecutive scenes differ in luma by >= %.0f)\n",
		path, info.Duration, len(scenes), len(colours), minLumaStep)

	type row struct {
		name string
		sc   Score
		r    run
	}
	var rows []row
	for _, mode := range []struct {
		name   string
		noSnap bool
	}{{"snap (default)", false}, {"no snap", true}} {
		r, err := rg.analyze(ctx, path, info, defs, func(c *vlm.Config) { c.NoSnap = mode.noSnap })
		if err != nil {
			b.Fatalf("%s: %v", mode.name, err)
		}
		pred, err := segmentsOf(r.Data)
		if err != nil {
			b.Fatal(err)
		}
		rows = append(rows, row{mode.name, score(scenes, pred, info.Duration), r})
	}
	pred, r, err := naive(ctx, rg, path, info, defs)
	if err != nil {
		b.Fatalf("naive: %v", err)
	}
	rows = append(rows, row{"naive baseline", score(scenes, pred, info.Duration), r})

	// The same seed without the luma rule: consecutive colours may have
	// (nearly) the same luma, e.g. red and green, and such cuts are not
	// detected (see minLumaStep). Reported, not held to the targets.
	anyScenes := planScenes(accuracySeed, 0)
	anyPath, err := sceneVideo("scenes-anyluma", anyScenes)
	if err != nil {
		b.Fatal(err)
	}
	anyInfo, err := rg.tool.Probe(ctx, anyPath)
	if err != nil {
		b.Fatal(err)
	}
	anyColours := map[string]bool{}
	isoCuts := 0
	for i, s := range anyScenes {
		anyColours[s.Colour] = true
		if i > 0 && math.Abs(luma(s.Colour)-luma(anyScenes[i-1].Colour)) < 0.06*255 {
			isoCuts++
		}
	}
	for _, mode := range []struct {
		name   string
		noSnap bool
	}{{"any colour order, snap", false}, {"any colour order, no snap", true}} {
		r, err := rg.analyze(ctx, anyPath, anyInfo, colourDefs(anyColours), func(c *vlm.Config) { c.NoSnap = mode.noSnap })
		if err != nil {
			b.Fatalf("%s: %v", mode.name, err)
		}
		pred, err := segmentsOf(r.Data)
		if err != nil {
			b.Fatal(err)
		}
		rows = append(rows, row{mode.name, score(anyScenes, pred, anyInfo.Duration), r})
	}
	d, err := decodeTime(path)
	if err != nil {
		b.Fatal(err)
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tIoU\tscene IoU\tmedian err s\tp90 err s\tmax err s\tmean err s\tsegments/scenes\tspurious\tcalls\twall s\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.3f\t%.3f\t%.3f\t%.3f\t%d/%d\t%d\t%d\t%.1f\t\n", r.name, r.sc.IoU, r.sc.SceneIoU,
			r.sc.MedianErr, r.sc.P90Err, r.sc.MaxErr, r.sc.MeanErr, r.sc.Segments, r.sc.Scenes, r.sc.Spurious, r.r.Calls, r.r.Wall)
	}
	tw.Flush()
	fmt.Printf("boundaries scored: %d; D (ffmpeg -i FILE -f null -) of this video: %.1f s; load average at end: %s\n",
		rows[0].sc.Boundaries, d.Wall, loadAvg())
	fmt.Printf("any colour order: %s, %d scenes, %d of %d cuts between colours whose luma differs by less than 6 %% (below media.DefaultSceneThreshold)\n",
		anyPath, len(anyScenes), isoCuts, len(anyScenes)-1)

	snap := rows[0].sc
	b.ReportMetric(snap.IoU, "iou")
	b.ReportMetric(snap.MedianErr, "median_err_s")
	b.ReportMetric(rows[1].sc.IoU, "nosnap_iou")
	b.ReportMetric(rows[1].sc.MedianErr, "nosnap_median_err_s")
	b.ReportMetric(rows[2].sc.IoU, "naive_iou")
	b.ReportMetric(rows[2].sc.MedianErr, "naive_median_err_s")
	b.ReportMetric(rows[0].r.Wall, "wall_s")
	b.ReportMetric(0, "ns/op")
	verdict := "MET"
	if snap.IoU < targetIoU || snap.MedianErr > targetMedianErr {
		verdict = "MISSED"
		b.Errorf("accuracy with snapping: IoU %.4f (target >= %.2f), median boundary error %.3f s (target <= %.1f)",
			snap.IoU, targetIoU, snap.MedianErr, targetMedianErr)
	}
	fmt.Printf("targets (snap): IoU >= %.2f, median error <= %.1f s: %s\n", targetIoU, targetMedianErr, verdict)
}

// naive is the baseline: a regular grid of frames at the engine's interval
// for this length (vlm.Interval), decoded exactly at the grid times, cut
// into non-overlapping windows of framesPerCall frames, one call per window
// with the same segment contract as the engine, answers taken as they are:
// no shot frames, no overlap, no merging across windows, no snapping.
func naive(ctx context.Context, rg *rig, path string, info *media.Info, defs []task.SegmentDefinition) (map[string][]span, run, error) {
	dur := info.Duration
	step := vlm.Interval(dur, framesPerCall)
	var times []float64
	for t := 0.0; t < dur-1e-9; t += step {
		times = append(times, t)
	}
	rg.double.Reset()
	rg.rec.reset()
	start := time.Now()
	type frame struct {
		t    float64
		jpeg []byte
	}
	var frames []frame
	err := rg.tool.SampleAt(ctx, path, times, media.SampleOptions{Width: media.DefaultSampleWidth, Exact: true}, func(f media.Frame) error {
		frames = append(frames, frame{f.Time, f.JPEG})
		return nil
	})
	if err != nil {
		return nil, run{}, err
	}
	schema := naiveSchema(defs)
	var (
		mu    sync.Mutex
		out   = map[string][]span{}
		wg    sync.WaitGroup
		sem   = make(chan struct{}, maxParallel)
		first error
	)
	zero := 0.0
	for i := 0; i < len(frames); i += framesPerCall {
		w := frames[i:min(i+framesPerCall, len(frames))]
		ws, we := w[0].t, math.Min(dur, w[len(w)-1].t+step)
		var instr strings.Builder
		fmt.Fprintf(&instr, "Find every segment of the following kinds between %.3f s and %.3f s. Answer with JSON: for each kind id, a list of segments with start_time and end_time in absolute seconds.\n", ws, we)
		for _, d := range defs {
			fmt.Fprintf(&instr, "- %s: %s\n", d.ID, d.Description)
		}
		parts := []inference.Part{inference.Text(instr.String())}
		for _, f := range w {
			parts = append(parts, inference.Text(inference.FrameTimeText(f.t)), inference.JPEG(f.jpeg))
		}
		req := inference.ChatRequest{
			Messages: []inference.Message{
				{Role: inference.RoleSystem, Parts: []inference.Part{inference.Text("You analyse a video from still frames sampled from it, in time order. Each frame is preceded by its absolute time.")}},
				{Role: inference.RoleUser, Parts: parts}},
			Temperature: &zero, MaxTokens: maxTokens, JSONSchema: schema, SchemaName: "segments",
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			resp, err := rg.rec.Chat(ctx, req)
			var doc map[string][]struct {
				Start float64 `json:"start_time"`
				End   float64 `json:"end_time"`
			}
			if err == nil {
				err = json.Unmarshal([]byte(resp.Text), &doc)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				first = err
				return
			}
			for id, segs := range doc {
				for _, s := range segs {
					if s0, s1 := math.Max(s.Start, ws), math.Min(s.End, we); s1 > s0 {
						out[id] = append(out[id], span{s0, s1})
					}
				}
			}
		}()
	}
	wg.Wait()
	st := rg.double.Stats()
	return out, run{Wall: time.Since(start).Seconds(), Calls: st.Calls, Images: st.Images, MaxConc: st.MaxConcurrent}, first
}

// naiveSchema is the segment contract the engine also asks for: an object
// with one array per definition id of {start_time, end_time}.
func naiveSchema(defs []task.SegmentDefinition) json.RawMessage {
	props := map[string]any{}
	var ids []string
	for _, d := range defs {
		props[d.ID] = map[string]any{"type": "array", "description": d.Description, "items": map[string]any{
			"type": "object", "required": []string{"start_time", "end_time"},
			"properties": map[string]any{"start_time": map[string]any{"type": "number"}, "end_time": map[string]any{"type": "number"}}}}
		ids = append(ids, d.ID)
	}
	b, _ := json.Marshal(map[string]any{"type": "object", "properties": props, "required": ids})
	return b
}
