package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
)

// makeEdited builds a 640x360 video by concatenating lavfi sources, each
// for its own duration, with a sine tone whose volume is zero in mute.
func makeEdited(t *testing.T, name string, parts []string, seconds []float64, mute [2]float64) string {
	t.Helper()
	genMu.Lock()
	defer genMu.Unlock()
	dir := filepath.Join(os.TempDir(), "framewise-e2e-videos")
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, name+".mp4")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	var args []string
	total := 0.0
	var labels string
	for i, p := range parts {
		sep := "="
		if strings.Contains(p, "=") {
			sep = ":"
		}
		args = append(args, "-f", "lavfi", "-t", fmt.Sprint(seconds[i]), "-i", p+sep+"size=640x360:rate=25")
		labels += fmt.Sprintf("[%d:v]", i)
		total += seconds[i]
	}
	filter := fmt.Sprintf("%sconcat=n=%d:v=1:a=0,format=yuv420p[v];sine=frequency=440:sample_rate=44100:duration=%g,volume=enable='between(t,%g,%g)':volume=0[a]",
		labels, len(parts), total, mute[0], mute[1])
	tmp := path + ".tmp.mp4"
	args = append([]string{"-y", "-v", "error"}, args...)
	args = append(args, "-filter_complex", filter, "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast",
		"-g", "25", "-c:a", "aac", "-b:a", "48k", tmp)
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

type segmentOut struct {
	StartTime any            `json:"start_time"`
	EndTime   any            `json:"end_time"`
	Metadata  map[string]any `json:"metadata"`
}

// runSegments creates a time_based_metadata task and returns its decoded result.
func runSegments(t *testing.T, c *client.Client, video string, rf api.ResponseFormat, extra func(*api.CreateTaskRequest)) map[string][]segmentOut {
	t.Helper()
	ctx := waitCtx(t, 120*time.Second)
	req := &api.CreateTaskRequest{
		ModelName:      api.String(api.ModelPegasus15),
		AnalysisMode:   api.String(api.ModeTimeBasedMetadata),
		Video:          &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, video)},
		ResponseFormat: &rf,
	}
	if extra != nil {
		extra(req)
	}
	r, err := c.CreateTask(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.Wait(ctx, r.TaskID, fastWait()...)
	if err != nil {
		t.Fatalf("wait: %v (%+v)", err, done)
	}
	var out map[string][]segmentOut
	if err := json.Unmarshal([]byte(done.Result.Data), &out); err != nil {
		t.Fatalf("result.data is not the segment map: %v\n%s", err, done.Result.Data)
	}
	return out
}

func num(t *testing.T, v any) float64 {
	t.Helper()
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	return f
}

func near(a, b float64) bool { return math.Abs(a-b) <= 0.1 }

func TestBuiltinShotsAndSilence(t *testing.T) {
	t.Parallel()
	video := makeEdited(t, "cuts-4-8-mute-5-8",
		[]string{"testsrc2", "smptebars", "mandelbrot"}, []float64{4, 4, 4}, [2]float64{5, 8})
	srv := startServer(t, t.TempDir())
	c := srv.client()
	defs := []api.SegmentDefinition{
		{ID: "shots", Description: "each camera shot", Fields: []api.SegmentField{
			{Name: "index", Type: "integer"}, {Name: "duration", Type: "number"}, {Name: "mood", Type: "string"}}},
		{ID: "quiet", Description: "silent parts"},
		{ID: "audio", Description: "where sound plays", Fields: []api.SegmentField{{Name: "mean_volume", Type: "number"}}},
		{ID: "faces", Description: "people smiling"},
	}
	out := runSegments(t, c, video, api.ResponseFormat{Type: "segment_definitions", SegmentDefinitions: defs}, nil)

	shots := out["shots"]
	if len(shots) != 3 {
		t.Fatalf("shots = %+v, want 3", shots)
	}
	want := [][2]float64{{0, 4}, {4, 8}, {8, 12}}
	for i, s := range shots {
		if !near(num(t, s.StartTime), want[i][0]) || !near(num(t, s.EndTime), want[i][1]) {
			t.Errorf("shot %d = %v–%v, want %v", i, s.StartTime, s.EndTime, want[i])
		}
		if s.Metadata["index"] != float64(i+1) || !near(num(t, s.Metadata["duration"]), 4) {
			t.Errorf("shot %d metadata %v", i, s.Metadata)
		}
		if _, ok := s.Metadata["mood"]; ok {
			t.Errorf("shot %d has an invented mood: %v", i, s.Metadata)
		}
	}
	if q := out["quiet"]; len(q) != 1 || !near(num(t, q[0].StartTime), 5) || !near(num(t, q[0].EndTime), 8) {
		t.Errorf("silence = %+v, want one 5–8 s", q)
	}
	a := out["audio"]
	if len(a) != 2 || !near(num(t, a[0].EndTime), 5) || !near(num(t, a[1].StartTime), 8) {
		t.Errorf("sound = %+v, want 0–5 and 8–12", a)
	}
	for _, s := range a {
		if v := num(t, s.Metadata["mean_volume"]); v > 0 || v < -40 {
			t.Errorf("mean_volume %v dB is not a measured tone level", v)
		}
	}
	if f, ok := out["faces"]; !ok || len(f) != 0 {
		t.Errorf("uninterpretable definition = %+v, want []", f)
	}

	// max_segment_duration 2: no piece longer than 2 s, same coverage.
	out = runSegments(t, c, video, api.ResponseFormat{Type: "segment_definitions", SegmentDefinitions: defs[:1]},
		func(r *api.CreateTaskRequest) { r.MaxSegmentDuration = api.Float(2) })
	covered, prevEnd := 0.0, 0.0
	for i, s := range out["shots"] {
		st, en := num(t, s.StartTime), num(t, s.EndTime)
		if en-st > 2+1e-6 || (i > 0 && st < prevEnd-1e-6) {
			t.Errorf("piece %d = %v–%v", i, st, en)
		}
		covered += en - st
		prevEnd = en
	}
	if len(out["shots"]) != 6 || math.Abs(covered-12) > 0.15 {
		t.Errorf("max 2 s: %d pieces covering %.3f s, want 6 covering 12", len(out["shots"]), covered)
	}

	// hh:mm:ss.fff
	out = runSegments(t, c, video, api.ResponseFormat{Type: "segment_definitions", SegmentDefinitions: defs[:1],
		SegmentTimeFormat: api.String("hh:mm:ss.fff")}, nil)
	re := regexp.MustCompile(`^\d{2}:\d{2}:\d{2}\.\d{3}$`)
	for _, s := range out["shots"] {
		st, _ := s.StartTime.(string)
		en, _ := s.EndTime.(string)
		if !re.MatchString(st) || !re.MatchString(en) {
			t.Errorf("times %v–%v are not hh:mm:ss.fff", s.StartTime, s.EndTime)
		}
	}
	if len(out["shots"]) == 3 && !strings.HasPrefix(out["shots"][1].StartTime.(string), "00:00:0") {
		t.Errorf("second shot starts at %v", out["shots"][1].StartTime)
	}
}

func TestBuiltinBlackGap(t *testing.T) {
	t.Parallel()
	video := makeEdited(t, "black-4-6", []string{"testsrc2", "color=c=black", "smptebars"}, []float64{4, 2, 4}, [2]float64{20, 21})
	srv := startServer(t, t.TempDir())
	out := runSegments(t, srv.client(), video, api.ResponseFormat{Type: "segment_definitions",
		SegmentDefinitions: []api.SegmentDefinition{{ID: "black", Description: "black frames"}}}, nil)
	b := out["black"]
	if len(b) != 1 || !near(num(t, b[0].StartTime), 4) || !near(num(t, b[0].EndTime), 6) {
		t.Fatalf("black = %+v, want one 4–6 s", b)
	}
}

func TestBuiltinGeneralReport(t *testing.T) {
	t.Parallel()
	video := makeEdited(t, "cuts-4-8-mute-5-8",
		[]string{"testsrc2", "smptebars", "mandelbrot"}, []float64{4, 4, 4}, [2]float64{5, 8})
	srv := startServer(t, t.TempDir())
	c := srv.client()
	ctx := waitCtx(t, 60*time.Second)
	r, err := c.CreateTask(ctx, &api.CreateTaskRequest{
		ModelName: api.String(api.ModelPegasus15),
		Video:     &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, video)},
		Prompt:    api.String("List the shots"),
		StartTime: api.Float(2), EndTime: api.Float(10),
	})
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.Wait(ctx, r.TaskID, fastWait()...)
	if err != nil {
		t.Fatal(err)
	}
	d := done.Result.Data
	for _, want := range []string{"Produced by the framewise built-in engine", "Shots (3", "00:00:04.", "00:00:08.",
		"Silent intervals (1", "00:00:05.", "Analysis window: 2.000 s to 10.000 s"} {
		if !strings.Contains(d, want) {
			t.Errorf("report lacks %q:\n%s", want, d)
		}
	}
	if strings.Contains(d, "00:00:11.") || strings.Contains(d, "00:00:00.000") {
		t.Errorf("report reaches outside the 2–10 s window:\n%s", d)
	}
	if done.Result.Usage.OutputTokens != len(strings.Fields(d)) {
		t.Errorf("output_tokens %d, words %d", done.Result.Usage.OutputTokens, len(strings.Fields(d)))
	}

	// json_schema needs a model: refused at create, with what to configure.
	_, err = c.CreateTask(ctx, &api.CreateTaskRequest{
		ModelName: api.String(api.ModelPegasus15),
		Video:     &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, video)},
		Prompt:    api.String("x"),
		ResponseFormat: &api.ResponseFormat{Type: "json_schema",
			JSONSchema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}}}`)},
	})
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 422 || ae.Code != "json_schema_unsupported" ||
		!strings.Contains(ae.Message, "vision-language model") || !strings.Contains(ae.Message, "--vlm-url") {
		t.Fatalf("json_schema with the built-in engine: %v, want 422 json_schema_unsupported saying what to configure", err)
	}
}
