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
	"github.com/framewise/framewise/internal/inference/inferencetest"
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

// Targets with an imprecise model (boundaries off by up to ±1 s, rounded
// to whole seconds) on the noisy video of iso-luminant cuts, with
// snapping.
const (
	targetImpreciseIoU       = 0.97
	targetImpreciseMedianErr = 0.1
)

// impreciseModel is the imprecise personality of the accuracy benchmark:
// vLLM's limits, every boundary it sees off by up to ±1 s and rounded to
// whole seconds, JSON without constrained decoding, one answer in three in
// a ```json fence with prose around (the others bare JSON).
func impreciseModel() inferencetest.Personality {
	p := inferencetest.VLLM()
	p.Exact, p.Jitter, p.Rounding = false, 1, 1
	p.Structured, p.FenceEvery = false, 3
	p.Seed = 1
	return p
}

// BenchmarkAccuracy runs the engine on a generated 30-minute video of
// solid-colour scenes, one segment definition per colour, three ways:
// default (boundaries snapped to detected cuts), NoSnap, and a naive
// baseline; it scores each against the truth (see Score). Then, on two
// noisy videos, the exact double and an imprecise model (impreciseModel)
// side by side: colour scenes whose cuts are mostly between colours of the
// same luma (targets for the imprecise model), and events inside one
// continuous shot, which have no cut to snap to (no target).
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

	// The noisy videos: the exact double (rg) and the imprecise model.
	imp := newRigWith(b, inferencetest.WithPersonality(impreciseModel()))
	noisy := planNoisyScenes(noisySeed)
	noisyPath, err := sceneVideoNoise("scenes-iso", noisy, sensorNoise)
	if err != nil {
		b.Fatal(err)
	}
	events, evTruth := planEvents(eventsSeed)
	evPath, err := eventsVideo(events)
	if err != nil {
		b.Fatal(err)
	}
	type noisyVideo struct {
		name   string
		path   string
		truth  []Scene
		info   *media.Info
		cuts   []float64 // true cuts
		found  int       // of them found by media.Measure (±0.1 s)
		extra  int       // cuts found that are none
		iso    int       // true cuts between colours of the same luma
		rows   [3]int    // indices in rows: exact, imprecise, imprecise without snapping (-1: none)
		target bool
	}
	videos := []*noisyVideo{
		{name: "noisy iso-luminant scenes", path: noisyPath, truth: noisy, target: true},
		{name: "events in one shot", path: evPath, truth: evTruth},
	}
	for _, v := range videos {
		if v.info, err = rg.tool.Probe(ctx, v.path); err != nil {
			b.Fatal(err)
		}
		colours := map[string]bool{}
		for i, s := range v.truth {
			colours[s.Colour] = true
			if i > 0 && v.target { // the events video has no cut: its boundaries are no cuts
				v.cuts = append(v.cuts, s.Start)
				if math.Abs(rgbLuma(s)-rgbLuma(v.truth[i-1])) < isoLuma {
					v.iso++
				}
			}
		}
		m, err := rg.tool.Measure(ctx, v.path, v.info, media.MeasureOptions{CutsOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		used := map[int]bool{}
		for _, c := range m.Cuts {
			hit := false
			for k, t := range v.cuts {
				if !used[k] && math.Abs(c.Time-t) <= 0.1 {
					used[k], hit = true, true
					break
				}
			}
			if hit {
				v.found++
			} else {
				v.extra++
			}
		}
		defs := colourDefs(colours)
		v.rows = [3]int{-1, -1, -1}
		for k, mode := range []struct {
			name   string
			rg     *rig
			noSnap bool
		}{{"exact double", rg, false}, {"imprecise model", imp, false}, {"imprecise model, no snap", imp, true}} {
			if mode.noSnap && !v.target {
				continue // nothing to snap to
			}
			r, err := mode.rg.analyze(ctx, v.path, v.info, defs, func(c *vlm.Config) { c.NoSnap = mode.noSnap })
			if err != nil {
				b.Fatalf("%s, %s: %v", v.name, mode.name, err)
			}
			pred, err := segmentsOf(r.Data)
			if err != nil {
				b.Fatal(err)
			}
			v.rows[k] = len(rows)
			rows = append(rows, row{v.name + ", " + mode.name, score(v.truth, pred, v.info.Duration), r})
		}
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

	fmt.Println("exact double vs imprecise model (±1 s, whole seconds, 1 answer in 3 fenced), snapping on:")
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "video\tIoU exact\tIoU imprecise\timprecise/exact\tmedian err exact s\tmedian err imprecise s\timprecise − exact s\tno snap: IoU, median err s\ttarget\t")
	for _, v := range videos {
		ex, im := rows[v.rows[0]].sc, rows[v.rows[1]].sc
		ns, target := "—", "none (no cut to snap to)"
		if v.rows[2] >= 0 {
			n := rows[v.rows[2]].sc
			ns = fmt.Sprintf("%.4f, %.3f", n.IoU, n.MedianErr)
		}
		if v.target {
			target = fmt.Sprintf("IoU ≥ %.2f, median ≤ %.1f s: MET", targetImpreciseIoU, targetImpreciseMedianErr)
			if im.IoU < targetImpreciseIoU || im.MedianErr > targetImpreciseMedianErr {
				target = strings.Replace(target, "MET", "MISSED", 1)
			}
		}
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%.3f\t%.3f\t%+.3f\t%s\t%s\t\n", v.name, ex.IoU, im.IoU, im.IoU/ex.IoU,
			ex.MedianErr, im.MedianErr, im.MedianErr-ex.MedianErr, ns, target)
	}
	tw.Flush()
	for _, v := range videos {
		im := rows[v.rows[1]].r
		fmt.Printf("%s: %s, %.0f s, %d segments of truth, %d true cuts (%d between colours whose luma differs by < %.0f), found by media.Measure: %d, other cuts found: %d; imprecise model: %d of %d answers fenced\n",
			v.name, v.path, v.info.Duration, len(v.truth), len(v.cuts), v.iso, isoLuma, v.found, v.extra, im.Fenced, im.Calls)
	}

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

	nv, ev := videos[0], videos[1]
	ni, ne := rows[nv.rows[1]].sc, rows[ev.rows[1]].sc
	b.ReportMetric(ni.IoU, "imprecise_iou")
	b.ReportMetric(ni.MedianErr, "imprecise_median_err_s")
	b.ReportMetric(rows[nv.rows[0]].sc.IoU, "noisy_exact_iou")
	b.ReportMetric(rows[ev.rows[0]].sc.IoU, "events_exact_iou")
	b.ReportMetric(ne.IoU, "events_imprecise_iou")
	b.ReportMetric(ne.MedianErr, "events_imprecise_median_err_s")
	verdict = "MET"
	if ni.IoU < targetImpreciseIoU || ni.MedianErr > targetImpreciseMedianErr {
		verdict = "MISSED"
		b.Errorf("imprecise model on the noisy iso-luminant scenes, with snapping: IoU %.4f (target >= %.2f), median boundary error %.3f s (target <= %.1f)",
			ni.IoU, targetImpreciseIoU, ni.MedianErr, targetImpreciseMedianErr)
	}
	fmt.Printf("targets (imprecise model, noisy iso-luminant scenes, snap): IoU >= %.2f, median error <= %.1f s: %s\n",
		targetImpreciseIoU, targetImpreciseMedianErr, verdict)
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
