package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
	"github.com/framewise/framewise/internal/inference/inferencetest"
)

// backendCase is a model server as a user meets it: a personality of the
// double and the framewise flags the README gives for that server.
type backendCase struct {
	name  string
	pers  inferencetest.Personality
	model string
	flags []string // besides --vlm-url and --vlm-model
	key   string
}

// readmeBackends are the rows of the README's backend table — the
// framewise flags read from the README itself, so the two cannot drift —
// each against the double with that server's documented behaviour and
// default settings.
func readmeBackends(t *testing.T) []backendCase {
	rows := map[string]inferencetest.Personality{
		"vLLM": inferencetest.VLLM(), "SGLang": inferencetest.SGLang(), "llama.cpp server": inferencetest.LlamaCpp(),
		"Ollama": inferencetest.Ollama(), "hosted (OpenAI-compatible)": inferencetest.OpenAI(),
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []backendCase
	for _, line := range strings.Split(string(readme), "\n") {
		cells := strings.Split(line, " | ")
		if len(cells) != 3 || !strings.HasPrefix(line, "| ") {
			continue
		}
		pers, ok := rows[strings.TrimPrefix(cells[0], "| ")]
		if !ok {
			continue
		}
		flags := strings.Fields(strings.Trim(strings.TrimSuffix(strings.TrimSpace(cells[2]), "|"), " `"))
		bc := backendCase{name: pers.Name, pers: pers}
		for i := 0; i+1 < len(flags); i++ {
			switch flags[i] {
			case "--vlm-url":
				i++ // the double's URL replaces the documented one
			case "--vlm-model":
				bc.model = flags[i+1]
				i++
			case "--vlm-api-key":
				bc.key = "sk-test" // for "$OPENAI_API_KEY"
				i++
			default:
				bc.flags = append(bc.flags, flags[i])
				if strings.HasPrefix(flags[i+1], "--") {
					continue
				}
				bc.flags = append(bc.flags, flags[i+1])
				i++
			}
		}
		delete(rows, strings.TrimPrefix(cells[0], "| "))
		out = append(out, bc)
	}
	if len(rows) > 0 {
		t.Fatalf("README backend table lacks rows for %v", rows)
	}
	return out
}

func startBackend(t *testing.T, bc backendCase) (*server, *inferencetest.Server) {
	t.Helper()
	opts := []inferencetest.Option{inferencetest.WithPersonality(bc.pers), inferencetest.WithModels(bc.model)}
	if bc.key != "" {
		opts = append(opts, inferencetest.WithAPIKey(bc.key))
	}
	double := inferencetest.New(t, opts...)
	flags := append([]string{"--vlm-url", double.URL(), "--vlm-model", bc.model}, bc.flags...)
	if bc.key != "" {
		flags = append(flags, "--vlm-api-key", bc.key)
	}
	return startServer(t, t.TempDir(), flags...), double
}

// Colour scenes of colourVideo: red 0–10 s, blue 10–22 s, green 22–30 s.
var colourScenes = []scene{{"red", 0, 10}, {"blue", 10, 22}, {"green", 22, 30}}

type scene = struct {
	colour     string
	start, end float64
}

// longScenes are the scenes of longColourVideo: 8 colours over 120 s.
var longScenes = func() []scene {
	var out []scene
	t := 0.0
	for i, c := range []string{"red", "blue", "green", "yellow", "magenta", "cyan", "orange", "purple"} {
		d := []float64{14, 15, 12, 19, 17, 13, 16, 14}[i]
		out = append(out, scene{c, t, t + d})
		t += d
	}
	return out
}()

func longColourVideo(t *testing.T) string {
	var parts []string
	var secs []float64
	for _, sc := range longScenes {
		parts = append(parts, "color=c="+sc.colour)
		secs = append(secs, sc.end-sc.start)
	}
	return makeEdited(t, "colours-8-scenes-120", parts, secs, [2]float64{200, 201})
}

// checkScenes asks for one segment definition per scene colour and wants
// exactly one segment per scene, within 0.1 s of its cuts.
func checkScenes(t *testing.T, c *client.Client, video string, scenes []scene) {
	t.Helper()
	var defs []api.SegmentDefinition
	for _, sc := range scenes {
		defs = append(defs, api.SegmentDefinition{ID: sc.colour, Description: "scenes where the screen is " + sc.colour})
	}
	done := createP15(t, c, video, func(r *api.CreateTaskRequest) {
		r.AnalysisMode = api.String(api.ModeTimeBasedMetadata)
		r.ResponseFormat = &api.ResponseFormat{Type: "segment_definitions", SegmentDefinitions: defs}
	})
	if done.Status != api.StatusReady {
		t.Fatalf("time_based_metadata: %s %+v", done.Status, done.Error)
	}
	var got map[string][]map[string]any
	if err := json.Unmarshal([]byte(done.Result.Data), &got); err != nil {
		t.Fatalf("time_based_metadata data: %v\n%s", err, done.Result.Data)
	}
	for _, sc := range scenes {
		segs := got[sc.colour]
		if len(segs) != 1 {
			t.Errorf("%s: %d segments %v, want 1", sc.colour, len(segs), segs)
			continue
		}
		s, _ := segs[0]["start_time"].(float64)
		e, _ := segs[0]["end_time"].(float64)
		if math.Abs(s-sc.start) > 0.1 || math.Abs(e-sc.end) > 0.1 {
			t.Errorf("%s: %.2f–%.2f, want %.0f–%.0f (±0.1)", sc.colour, s, e, sc.start, sc.end)
		}
	}
}

// checkBackend runs the three modes with default request parameters and
// checks their content against the video.
func checkBackend(t *testing.T, srv *server, double *inferencetest.Server) {
	t.Helper()
	c := srv.client()
	video := colourVideo(t)

	// General text: every colour, in the order they appear.
	done := createP15(t, c, video, func(r *api.CreateTaskRequest) { r.Prompt = api.String("Which colours appear, and when?") })
	if done.Status != api.StatusReady {
		t.Fatalf("general: %s %+v", done.Status, done.Error)
	}
	last := -1
	for _, sc := range colourScenes {
		i := strings.Index(done.Result.Data, sc.colour)
		if i < 0 || i < last {
			t.Errorf("general answer lacks %s or names it out of order: %q", sc.colour, done.Result.Data)
		}
		last = i
	}
	if strings.Contains(done.Result.Data, "<think>") {
		t.Errorf("reasoning text in the answer: %q", done.Result.Data)
	}

	// The same question answered while the client waits, streamed from
	// the server as it streams (its quirks of BACKENDS.md §6): every
	// colour in order, no reasoning text, a clean stream_end.
	var text strings.Builder
	end, err := c.AnalyzeText(waitCtx(t, 3*time.Minute), &api.AnalyzeRequest{ModelName: api.String(api.ModelPegasus15),
		Video: &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, video)}, Prompt: api.String("Which colours appear, and when?")},
		func(s string) { text.WriteString(s) })
	if err != nil {
		t.Fatalf("synchronous stream: %v", err)
	}
	last = -1
	for _, sc := range colourScenes {
		i := strings.Index(text.String(), sc.colour)
		if i < 0 || i < last {
			t.Errorf("streamed answer lacks %s or names it out of order: %q", sc.colour, text.String())
		}
		last = i
	}
	if strings.Contains(text.String(), "<think>") || strings.Contains(text.String(), "</think>") {
		t.Errorf("reasoning text in the streamed answer: %q", text.String())
	}
	if end.FinishReason != "stop" || end.Error != nil {
		t.Errorf("stream_end %+v", end)
	}
	streamed := 0
	for _, call := range double.Calls() {
		if call.Streamed {
			streamed++
		}
	}
	if streamed == 0 {
		t.Errorf("no call to the model server streamed")
	}

	// json_schema: valid JSON with what was seen.
	schema := json.RawMessage(`{"type":"object","properties":{"dominant_color":{"type":"string","enum":["red","blue","green","white"]},"scene_count":{"type":"integer","minimum":0},"first_change":{"type":"timestamp","format":"hh:mm:ss"}},"required":["dominant_color","scene_count","first_change"]}`)
	done = createP15(t, c, video, func(r *api.CreateTaskRequest) {
		r.Prompt = api.String("Describe the colours")
		r.ResponseFormat = &api.ResponseFormat{Type: "json_schema", JSONSchema: schema}
	})
	var doc map[string]any
	if done.Status != api.StatusReady || json.Unmarshal([]byte(done.Result.Data), &doc) != nil {
		t.Fatalf("json_schema: %s %+v %+v", done.Status, done.Result, done.Error)
	}
	if doc["scene_count"] != float64(3) {
		t.Errorf("scene_count = %v, want 3 colour scenes (%s)", doc["scene_count"], done.Result.Data)
	}
	if d, _ := doc["dominant_color"].(string); d != "red" && d != "blue" && d != "green" {
		t.Errorf("dominant_color = %v", doc["dominant_color"])
	}

	// time_based_metadata: one segment per scene, at the cuts; on the
	// short video (one window, or several on a small context) and on a
	// two-minute one that takes several windows everywhere.
	checkScenes(t, c, video, colourScenes)
	checkScenes(t, c, longColourVideo(t), longScenes)

	// No task call was answered from a prompt the server cut. (The probe's
	// calls, with max_tokens of 64 or less, test the server's limits on
	// purpose; the engine never asks for less than 256.)
	for _, call := range double.Calls() {
		if call.DroppedParts > 0 && call.MaxTokens > 64 {
			t.Errorf("a call had %d parts silently dropped by the server: %+v", call.DroppedParts, call)
		}
	}
}

// TestBackendsAsDocumented: framewise started as the README says for each
// server, against a double that behaves like that server (imprecise
// perception, its context and image limits, its error bodies, structured
// output honoured or fenced, reasoning where it puts it), serves every
// mode with default request parameters.
func TestBackendsAsDocumented(t *testing.T) {
	t.Parallel()
	for _, bc := range readmeBackends(t) {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			srv, double := startBackend(t, bc)
			checkBackend(t, srv, double)
			t.Logf("%s (flags %v): %d calls, %d failed", bc.name, bc.flags, double.Stats().Calls, double.Stats().Failed)
		})
	}
}

// TestUnfriendlyBackends: the same modes against servers set up badly or
// answering untidily — a reasoning model thinking aloud in the content
// without constrained decoding and with a low image limit; a small
// llama.cpp slot; a hosted API with a low tokens-per-request limit.
func TestUnfriendlyBackends(t *testing.T) {
	t.Parallel()
	thinking := inferencetest.VLLM()
	thinking.Structured, thinking.Reasoning, thinking.MaxImages, thinking.ContextTokens = false, inferencetest.ReasoningInline, 4, 16384
	smallSlot := inferencetest.LlamaCpp()
	smallSlot.ContextTokens = 4096
	tpm := inferencetest.OpenAI()
	tpm.TPMLimit = 6000
	for _, bc := range []backendCase{
		{name: "vllm-thinking-4-images", pers: thinking, model: "Qwen/QwQ-VL", flags: []string{"--vlm-name", "vllm"}},
		{name: "llamacpp-4k-slot", pers: smallSlot, model: "qwen2.5-vl", flags: []string{"--vlm-name", "llamacpp", "--vlm-max-parallel", "1"}},
		{name: "openai-tpm-6000", pers: tpm, model: "gpt-4o-mini", flags: []string{"--vlm-name", "openai"}, key: "sk-test"},
	} {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			srv, double := startBackend(t, bc)
			checkBackend(t, srv, double)
		})
	}
}

// TestOllamaContextTooSmall: an Ollama whose num_ctx cannot hold two
// frames as Ollama counts them fails the task with a message naming
// num_ctx and the numbers, instead of answering from what it dropped.
func TestOllamaContextTooSmall(t *testing.T) {
	t.Parallel()
	p := inferencetest.Ollama()
	p.ContextTokens = 2048
	srv, double := startBackend(t, backendCase{name: "ollama-2048", pers: p, model: "qwen2.5vl:7b", flags: []string{"--vlm-name", "ollama"}})
	c := srv.client()
	done := createP15(t, c, colourVideo(t), func(r *api.CreateTaskRequest) { r.Prompt = api.String("Which colours appear?") })
	if done.Status != api.StatusFailed || done.Error == nil {
		t.Fatalf("task %s, want failed; result %+v", done.Status, done.Result)
	}
	for _, want := range []string{"num_ctx", "2048", "OLLAMA_CONTEXT_LENGTH"} {
		if !strings.Contains(done.Error.Message, want) {
			t.Errorf("error %q does not name %s", done.Error.Message, want)
		}
	}
	for _, call := range double.Calls() {
		if call.Frames > 0 && call.Status == 200 && call.MaxTokens > 64 {
			t.Errorf("a call with %d frames was answered: %+v", call.Frames, call)
		}
	}
	fmt.Fprintln(testWriter{t}, "error:", done.Error.Message)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
