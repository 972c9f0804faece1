package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
	"github.com/framewise/framewise/internal/inference/inferencetest"
)

// startVLM boots framewise with pegasus1.5 served by the test double.
func startVLM(t *testing.T, dir string, double *inferencetest.Server, framesPerCall, parallel int, extra ...string) *server {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "framewise.yaml")
	body := fmt.Sprintf(`models:
  pegasus1.5:
    backend: openai
    name: double
    base_url: %s
    model: test-vlm
    frames_per_call: %d
    max_parallel: %d
    frame_width: 160
    timeout: 30s
    max_retries: 2
asr:
  name: double-asr
  base_url: %s
  model: test-asr
`, double.URL(), framesPerCall, parallel, double.URL())
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return startServer(t, dir, append([]string{"--config", cfg}, extra...)...)
}

// colourVideo: red 0–10 s, blue 10–22 s, green 22–30 s.
func colourVideo(t *testing.T) string {
	return makeEdited(t, "colours-10-22-30", []string{"color=c=red", "color=c=blue", "color=c=green"}, []float64{10, 12, 8}, [2]float64{40, 41})
}

func createP15(t *testing.T, c *client.Client, video string, edit func(*api.CreateTaskRequest)) *api.Task {
	t.Helper()
	ctx := waitCtx(t, 120*time.Second)
	req := &api.CreateTaskRequest{
		ModelName: api.String(api.ModelPegasus15),
		Video:     &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, video)},
	}
	edit(req)
	r, err := c.CreateTask(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	done, _ := c.Wait(ctx, r.TaskID, fastWait()...)
	if done == nil {
		t.Fatal("no task")
	}
	return done
}

func TestVLMGeneralJSONAndReference(t *testing.T) {
	t.Parallel()
	double := inferencetest.New(t)
	srv := startVLM(t, t.TempDir(), double, 16, 4)
	c := srv.client()
	video := colourVideo(t)

	// Plain prompt, one call on a short video: the answer comes from what the model saw.
	done := createP15(t, c, video, func(r *api.CreateTaskRequest) { r.Prompt = api.String("Which colours appear, and when?") })
	if done.Status != api.StatusReady || !strings.Contains(done.Result.Data, "red") || !strings.Contains(done.Result.Data, "blue") ||
		!strings.Contains(done.Result.Data, "green") {
		t.Fatalf("general answer: %+v %+v", done.Result, done.Error)
	}
	if done.Result.Usage.OutputTokens == 0 {
		t.Error("usage not counted")
	}
	if n := double.Stats().ByKind[inferencetest.KindTranscription]; n == 0 {
		t.Error("the audio was never sent to the speech backend")
	}

	// JSON schema: valid output.
	schema := json.RawMessage(`{"type":"object","properties":{"dominant_color":{"type":"string","enum":["red","blue","green","white"]},"scene_count":{"type":"integer","minimum":0},"first_change":{"type":"timestamp","format":"hh:mm:ss"}},"required":["dominant_color","scene_count","first_change"]}`)
	done = createP15(t, c, video, func(r *api.CreateTaskRequest) {
		r.Prompt = api.String("Describe the colours")
		r.ResponseFormat = &api.ResponseFormat{Type: "json_schema", JSONSchema: schema}
	})
	var doc map[string]any
	if done.Status != api.StatusReady || json.Unmarshal([]byte(done.Result.Data), &doc) != nil {
		t.Fatalf("json_schema task: %+v %+v", done.Result, done.Error)
	}
	if doc["scene_count"] != float64(3) {
		t.Errorf("scene_count = %v, want 3 colour runs", doc["scene_count"])
	}
	if s, _ := doc["first_change"].(string); len(s) != 8 || s[2] != ':' {
		t.Errorf("timestamp field not rendered as hh:mm:ss: %v", doc["first_change"])
	}

	// JSON schema: the repair path.
	before := double.Stats().ByKind[inferencetest.KindStructured]
	double.MalformNext(1)
	done = createP15(t, c, video, func(r *api.CreateTaskRequest) {
		r.Prompt = api.String("Describe the colours")
		r.ResponseFormat = &api.ResponseFormat{Type: "json_schema", JSONSchema: schema}
	})
	if done.Status != api.StatusReady || json.Unmarshal([]byte(done.Result.Data), &doc) != nil {
		t.Fatalf("repaired json_schema task: %+v %+v", done.Result, done.Error)
	}
	if n := double.Stats().ByKind[inferencetest.KindStructured] - before; n != 2 {
		t.Errorf("%d structured calls, want 2 (answer and repair)", n)
	}

	// prompt_v2 with a reference image (a blue picture).
	done = createP15(t, c, video, func(r *api.CreateTaskRequest) {
		r.PromptV2 = &api.PromptV2{InputText: "When does <@sky> appear?", MediaSources: []api.MediaSource{
			{Name: "sky", MediaType: "image", Base64String: solidJPEG(t, color.RGBA{0, 0, 255, 255})}}}
	})
	if done.Status != api.StatusReady || !strings.Contains(done.Result.Data, "sky") || !strings.Contains(done.Result.Data, "10.0") {
		t.Fatalf("prompt_v2 answer: %+v %+v", done.Result, done.Error)
	}

	// prompt_v2 with a reference image uploaded once as an image asset (a
	// green picture): the engine reads the asset's file.
	ctx := waitCtx(t, 60*time.Second)
	green, err := base64.StdEncoding.DecodeString(solidJPEG(t, color.RGBA{0, 128, 0, 255}))
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.CreateAsset(ctx, bytes.NewReader(green), "grass.jpg", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a, err = c.WaitAsset(ctx, a.ID, fastWait()...); err != nil || a.Status != api.AssetReady || !strings.HasPrefix(a.FileType, "image/") {
		t.Fatalf("image asset: %+v %v", a, err)
	}
	done = createP15(t, c, video, func(r *api.CreateTaskRequest) {
		r.PromptV2 = &api.PromptV2{InputText: "When does <@grass> appear?", MediaSources: []api.MediaSource{
			{Name: "grass", MediaType: "image", AssetID: a.ID}}}
	})
	if done.Status != api.StatusReady || !strings.Contains(done.Result.Data, "grass") || !strings.Contains(done.Result.Data, "22.0") {
		t.Fatalf("prompt_v2 answer with an asset reference: %+v %+v", done.Result, done.Error)
	}
}

func solidJPEG(t *testing.T, c color.RGBA) string {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

func TestVLMSegmentsAcrossWindows(t *testing.T) {
	t.Parallel()
	double := inferencetest.New(t)
	// 4 frames per call: a 30 s video becomes many overlapping windows.
	srv := startVLM(t, t.TempDir(), double, 4, 4)
	c := srv.client()
	video := colourVideo(t)
	defs := []api.SegmentDefinition{
		{ID: "red_scenes", Description: "scenes where the screen is red", Fields: []api.SegmentField{{Name: "colour", Type: "string"}}},
		{ID: "blue_scenes", Description: "scenes where the screen is blue"},
		{ID: "green_scenes", Description: "scenes where the screen is green"},
	}
	done := createP15(t, c, video, func(r *api.CreateTaskRequest) {
		r.AnalysisMode = api.String(api.ModeTimeBasedMetadata)
		r.ResponseFormat = &api.ResponseFormat{Type: "segment_definitions", SegmentDefinitions: defs}
	})
	if done.Status != api.StatusReady {
		t.Fatalf("task: %+v", done.Error)
	}
	if calls := double.Stats().ByKind[inferencetest.KindStructured]; calls < 3 {
		t.Fatalf("only %d model calls: the video was not cut into windows", calls)
	}
	var out map[string][]map[string]any
	if err := json.Unmarshal([]byte(done.Result.Data), &out); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]float64{"red_scenes": {0, 10}, "blue_scenes": {10, 22}, "green_scenes": {22, 30}}
	for id, w := range want {
		segs := out[id]
		if len(segs) != 1 {
			t.Errorf("%s: %v, want one segment %v (merged across windows)", id, segs, w)
			continue
		}
		st, en := segs[0]["start_time"].(float64), segs[0]["end_time"].(float64)
		if !near(st, w[0]) || !near(en, w[1]) {
			t.Errorf("%s = %v–%v, want %v", id, st, en, w)
		}
		if ev := segs[0]["framewise_evidence"]; ev == nil {
			t.Errorf("%s has no evidence extension", id)
		}
	}
	if red := out["red_scenes"]; len(red) == 1 && red[0]["metadata"].(map[string]any)["colour"] != "red" {
		t.Errorf("red metadata %v", red[0]["metadata"])
	}

	// General mode on the same windows: map (notes per window), then reduce.
	chats := double.Stats().ByKind[inferencetest.KindChat]
	done = createP15(t, c, video, func(r *api.CreateTaskRequest) { r.Prompt = api.String("Which colours appear, and when?") })
	calls := double.Stats().ByKind[inferencetest.KindChat] - chats
	if done.Status != api.StatusReady || calls < 3 {
		t.Fatalf("map-reduce: %d chat calls, task %+v %+v", calls, done.Result, done.Error)
	}
	for _, want := range []string{"red from 0.0s to 10.0", "blue from 10.0", "green from 22.0"} {
		if !strings.Contains(done.Result.Data, want) {
			t.Errorf("reduced answer lacks %q: %s", want, done.Result.Data)
		}
	}
}

func TestVLMFaults(t *testing.T) {
	t.Parallel()
	double := inferencetest.New(t)
	srv := startVLM(t, t.TempDir(), double, 16, 2)
	c := srv.client()
	video := colourVideo(t)

	// 429 then success.
	double.FailNext(1, 429)
	done := createP15(t, c, video, func(r *api.CreateTaskRequest) { r.Prompt = api.String("colours?") })
	if done.Status != api.StatusReady {
		t.Fatalf("after a 429: %+v", done.Error)
	}
	if st := double.Stats(); st.Failed != 1 {
		t.Errorf("failed calls = %d, want the one 429", st.Failed)
	}

	// Truncation: ready, finish_reason length, a warning in error.
	double.SetTruncate(true)
	done = createP15(t, c, video, func(r *api.CreateTaskRequest) { r.Prompt = api.String("colours?"); r.MaxTokens = api.Int(512) })
	double.SetTruncate(false)
	if done.Status != api.StatusReady || done.Result.FinishReason != "length" || done.Error == nil || !strings.Contains(done.Error.Message, "max_tokens") {
		t.Fatalf("truncated: %+v %+v", done.Result, done.Error)
	}

	// A backend that stays down fails the task with a message naming it.
	double.SetDown(true)
	done = createP15(t, c, video, func(r *api.CreateTaskRequest) { r.Prompt = api.String("colours?") })
	if done.Status != api.StatusFailed || !strings.Contains(done.Error.Message, "double") {
		t.Fatalf("down backend: %+v", done.Error)
	}
}

func TestVLMResumesWithoutRepeatingWindows(t *testing.T) {
	t.Parallel()
	double := inferencetest.New(t, inferencetest.WithLatency(700*time.Millisecond))
	dir := t.TempDir()
	srv := startVLM(t, dir, double, 4, 1)
	c := srv.client()
	ctx := waitCtx(t, 180*time.Second)
	r, err := c.CreateTask(ctx, &api.CreateTaskRequest{
		ModelName:    api.String(api.ModelPegasus15),
		Video:        &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, colourVideo(t))},
		AnalysisMode: api.String(api.ModeTimeBasedMetadata),
		ResponseFormat: &api.ResponseFormat{Type: "segment_definitions",
			SegmentDefinitions: []api.SegmentDefinition{{ID: "blue", Description: "blue screen"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Three windows of 4 frames (sharing one) cover the video: kill after two.
	for deadline := time.Now().Add(60 * time.Second); len(double.Windows()) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the model was never called")
		}
	}
	srv.kill()
	answered := double.Windows()
	srv2 := startVLM(t, dir, double, 4, 1)
	done, err := srv2.client().Wait(ctx, r.TaskID, fastWait()...)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	all := double.Windows()
	seen := map[[2]float64]int{}
	for _, w := range all {
		seen[[2]float64{w.First, w.Last}]++
	}
	repeats := 0
	for _, n := range seen {
		repeats += n - 1
	}
	// Windows answered and checkpointed before the kill are not asked
	// again; at most the one call in flight at the kill is repeated.
	if repeats > 1 {
		t.Errorf("%d windows were asked twice (answered before kill: %d, total calls %d)", repeats, len(answered), len(all))
	}
	if !strings.Contains(srv2.logs.String(), "resuming from checkpoints") {
		t.Error("the restarted server did not resume from checkpoints")
	}
	var out map[string][]map[string]any
	if err := json.Unmarshal([]byte(done.Result.Data), &out); err != nil || len(out["blue"]) != 1 {
		t.Fatalf("result after resume: %v %s", err, done.Result.Data)
	}
}
