package openai

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/inference"
	"github.com/framewise/framewise/internal/inference/inferencetest"
)

const probeModel = "qwen2.5-vl"

// probeDouble probes a double serving probeModel with opts (16 frames of
// 512 pixels unless set).
func probeDouble(t *testing.T, srv *inferencetest.Server, model string, opts ProbeOptions) *Report {
	t.Helper()
	p, err := NewProber(Config{BaseURL: srv.URL(), Model: model, Name: "backend"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts.Timeout = 5 * time.Second
	return p.Probe(ctx, opts)
}

// findingOf is the first finding of check at level, or nil.
func findingOf(r *Report, level Level, check string) *Finding {
	for i, f := range r.Findings {
		if f.Level == level && f.Check == check {
			return &r.Findings[i]
		}
	}
	return nil
}

// wantFinding checks that r has a finding of check at level whose message
// and fix contain the given texts.
func wantFinding(t *testing.T, r *Report, level Level, check string, inMessage, inFix []string) {
	t.Helper()
	f := findingOf(r, level, check)
	if f == nil {
		t.Fatalf("no %s finding for %q; findings:\n%s", level, check, dumpFindings(r))
	}
	for _, s := range inMessage {
		if !strings.Contains(f.Message, s) {
			t.Errorf("%s message lacks %q: %s", check, s, f.Message)
		}
	}
	for _, s := range inFix {
		if !strings.Contains(f.Fix, s) {
			t.Errorf("%s fix lacks %q: %s", check, s, f.Fix)
		}
	}
}

func dumpFindings(r *Report) string {
	var b strings.Builder
	for _, c := range r.Checks {
		b.WriteString("  " + c.Check + ": " + c.Result + "\n")
	}
	for _, f := range r.Findings {
		b.WriteString("  " + string(f.Level) + " " + f.Check + ": " + f.Message + " | fix: " + f.Fix + "\n")
	}
	return b.String()
}

func TestProbeIdentifiesEachServer(t *testing.T) {
	t.Parallel()
	cases := []struct {
		p             inferencetest.Personality
		server        string
		version       string
		context       int
		source        string
		structured    string
		reasoning     string
		verdict       string
		imageTokens   int
		dropsOldest   bool
		slots         int
		trainedContxt int
	}{
		{p: inferencetest.VLLM(), server: inference.ServerVLLM, context: 32768, source: "max_model_len of /v1/models",
			structured: OutcomeHonoured, reasoning: ReasoningNone, verdict: VerdictReady},
		{p: inferencetest.SGLang(), server: inference.ServerSGLang, context: 32768, source: "max_model_len of /v1/models",
			structured: OutcomeHonoured, reasoning: ReasoningContent, verdict: VerdictReady},
		{p: inferencetest.LlamaCpp(), server: inference.ServerLlamaCpp, version: "b6000", context: 32768, source: "n_ctx of one slot, GET /props",
			structured: OutcomeHonoured, reasoning: ReasoningContent, verdict: VerdictReady, slots: 1},
		{p: inferencetest.Ollama(), server: inference.ServerOllama, version: "0.12.6", context: 4096, source: "context_length of the loaded model, GET /api/ps",
			structured: OutcomeHonoured, reasoning: ReasoningField, verdict: VerdictWarnings, imageTokens: 768, dropsOldest: true, trainedContxt: 128000},
		{p: inferencetest.OpenAI(), server: inference.ServerOpenAI, structured: OutcomeFenced, reasoning: ReasoningNone, verdict: VerdictWarnings},
	}
	for _, tc := range cases {
		t.Run(tc.p.Name, func(t *testing.T) {
			t.Parallel()
			srv := inferencetest.New(t, inferencetest.WithPersonality(tc.p), inferencetest.WithModels(probeModel))
			r := probeDouble(t, srv, probeModel, ProbeOptions{})
			if !r.Reachable || !r.Listed || r.Server != tc.server || r.ServerVersion != tc.version {
				t.Errorf("reachable %v listed %v server %q %q, want %q %q", r.Reachable, r.Listed, r.Server, r.ServerVersion, tc.server, tc.version)
			}
			l := r.Limits
			if l.Server != tc.server || l.ContextTokens != tc.context || l.ContextSource != tc.source || l.ImageTokens != tc.imageTokens ||
				l.DropsOldest != tc.dropsOldest || l.MaxImages != 0 {
				t.Errorf("limits %+v", l)
			}
			if r.Images != OutcomeAccepted || r.ManyImages != OutcomeAccepted || r.Structured != tc.structured || r.Reasoning != tc.reasoning {
				t.Errorf("images %s, %d images %s, json_schema %s, reasoning %s", r.Images, 16, r.ManyImages, r.Structured, r.Reasoning)
			}
			if r.Slots != tc.slots || r.TrainedContext != tc.trainedContxt {
				t.Errorf("slots %d trained context %d", r.Slots, r.TrainedContext)
			}
			if r.Latency <= 0 {
				t.Error("latency not measured")
			}
			if r.Verdict() != tc.verdict {
				t.Errorf("verdict %q, want %q:\n%s", r.Verdict(), tc.verdict, dumpFindings(r))
			}
			if len(r.Checks) < 8 {
				t.Errorf("checks:\n%s", dumpFindings(r))
			}
		})
	}
}

func TestProbeUnreachable(t *testing.T) {
	t.Parallel()
	srv := inferencetest.New(t, inferencetest.WithPersonality(inferencetest.VLLM()))
	srv.Close()
	r := probeDouble(t, srv, probeModel, ProbeOptions{})
	if r.Reachable || r.Verdict() != VerdictBroken || len(r.Findings) != 1 {
		t.Fatalf("reachable %v verdict %s:\n%s", r.Reachable, r.Verdict(), dumpFindings(r))
	}
	wantFinding(t, r, LevelError, CheckServer, []string{"cannot reach " + srv.URL() + "/models"}, []string{"check base_url", "started"})
}

func TestProbeWrongBaseURL(t *testing.T) {
	t.Parallel()
	srv := inferencetest.New(t, inferencetest.WithPersonality(inferencetest.VLLM()))
	p, err := NewProber(Config{BaseURL: strings.TrimSuffix(srv.URL(), "/v1") + "/api", Model: probeModel})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Probe(context.Background(), ProbeOptions{Timeout: 5 * time.Second})
	wantFinding(t, r, LevelError, CheckServer, []string{"answered 404"}, []string{"ending in /v1"})
}

func TestProbeModelNotListed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		p   inferencetest.Personality
		fix string
	}{
		{inferencetest.VLLM(), "`vllm serve qwen2.5-vl`"},
		{inferencetest.Ollama(), "`ollama pull qwen2.5-vl`"},
		{inferencetest.SGLang(), "--served-model-name qwen2.5-vl"},
		{inferencetest.LlamaCpp(), "--alias qwen2.5-vl"},
	}
	for _, tc := range cases {
		t.Run(tc.p.Name, func(t *testing.T) {
			t.Parallel()
			srv := inferencetest.New(t, inferencetest.WithPersonality(tc.p), inferencetest.WithModels("other-vl", "third-vl"))
			r := probeDouble(t, srv, probeModel, ProbeOptions{})
			if r.Listed || r.Verdict() != VerdictBroken {
				t.Fatalf("listed %v verdict %s", r.Listed, r.Verdict())
			}
			wantFinding(t, r, LevelError, CheckModel, []string{"qwen2.5-vl is not served", "it serves other-vl, third-vl"}, []string{tc.fix})
			// The chat calls failed for the same reason: no second error.
			for _, f := range r.Findings {
				if f.Level == LevelError && f.Check != CheckModel {
					t.Errorf("extra finding %+v", f)
				}
			}
		})
	}
}

func TestProbeOllamaTagLatest(t *testing.T) {
	t.Parallel()
	srv := inferencetest.New(t, inferencetest.WithPersonality(inferencetest.Ollama()), inferencetest.WithModels("qwen2.5vl:latest"))
	p, _ := NewProber(Config{BaseURL: srv.URL(), Model: "qwen2.5vl"})
	r := p.Probe(context.Background(), ProbeOptions{Timeout: 5 * time.Second})
	if !r.Listed {
		t.Errorf("qwen2.5vl is qwen2.5vl:latest to Ollama:\n%s", dumpFindings(r))
	}
}

func TestProbeImagesRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		p   inferencetest.Personality
		fix string
	}{
		{inferencetest.LlamaCpp(), "--mmproj"},
		{inferencetest.VLLM(), "not a vision model"},
	}
	for _, tc := range cases {
		t.Run(tc.p.Name, func(t *testing.T) {
			t.Parallel()
			srv := inferencetest.New(t, inferencetest.WithPersonality(tc.p), inferencetest.WithModels(probeModel))
			srv.FailNext(1, 400) // the first chat call is the one with 2 frames
			r := probeDouble(t, srv, probeModel, ProbeOptions{})
			if r.Images != OutcomeRefused || r.Verdict() != VerdictBroken {
				t.Fatalf("images %s verdict %s", r.Images, r.Verdict())
			}
			wantFinding(t, r, LevelError, CheckImages, []string{"a call with 2 frames was refused: HTTP 400"}, []string{tc.fix})
		})
	}
}

func TestProbeImageLimit(t *testing.T) {
	t.Parallel()
	p := inferencetest.VLLM()
	p.MaxImages = 8
	srv := inferencetest.New(t, inferencetest.WithPersonality(p), inferencetest.WithModels(probeModel))
	r := probeDouble(t, srv, probeModel, ProbeOptions{FramesPerCall: 16})
	if r.Limits.MaxImages != 8 || r.Images != OutcomeAccepted || r.ManyImages != OutcomeRefused || r.Verdict() != VerdictWarnings {
		t.Fatalf("max images %d, images %s/%s, verdict %s:\n%s", r.Limits.MaxImages, r.Images, r.ManyImages, r.Verdict(), dumpFindings(r))
	}
	wantFinding(t, r, LevelWarn, CheckManyImages, []string{"at most 8 images per call, frames_per_call is 16"},
		[]string{`--limit-mm-per-prompt '{"image":16}'`, "--limit-mm-per-prompt image=16", "frames_per_call to 8 or less"})

	// vLLM's V0 engine takes one image: no window fits.
	p.MaxImages = 1
	srv = inferencetest.New(t, inferencetest.WithPersonality(p), inferencetest.WithModels(probeModel))
	r = probeDouble(t, srv, probeModel, ProbeOptions{FramesPerCall: 16})
	if r.Limits.MaxImages != 1 || r.Verdict() != VerdictBroken {
		t.Fatalf("max images %d verdict %s:\n%s", r.Limits.MaxImages, r.Verdict(), dumpFindings(r))
	}
	wantFinding(t, r, LevelError, CheckManyImages, []string{"at most 1 image(s) per call, fewer than the 2 a window needs"}, []string{`'{"image":16}'`})

	// Two frames per call: the second call is not made.
	srv = inferencetest.New(t, inferencetest.WithPersonality(inferencetest.VLLM()), inferencetest.WithModels(probeModel))
	r = probeDouble(t, srv, probeModel, ProbeOptions{FramesPerCall: 2})
	if st := srv.Stats(); st.Calls != 2 || r.ManyImages != OutcomeAccepted {
		t.Errorf("%d calls, many images %s: want the 2-frame call and the json_schema call", st.Calls, r.ManyImages)
	}
}

func TestProbeFramesDoNotFit(t *testing.T) {
	t.Parallel()
	small := func(p inferencetest.Personality) inferencetest.Personality { p.ContextTokens = 8192; return p }
	cases := []struct {
		name  string
		p     inferencetest.Personality
		opts  ProbeOptions
		level Level
		msg   []string
		fix   []string
	}{
		{"ollama default 4096", inferencetest.Ollama(), ProbeOptions{FramesPerCall: 16}, LevelWarn,
			[]string{"16 frames × 768 tokens (Ollama counts 768 per image whatever its size) + ~1,500 instructions + 4,096 answer = 17,884 tokens > the context of 4,096",
				"silently drops the oldest frames", "the engine sends fewer frames per call to fit (it adapts)"},
			[]string{"`OLLAMA_CONTEXT_LENGTH=32768 ollama serve`", "`PARAMETER num_ctx 32768` in a Modelfile"}},
		{"ollama 8192", small(inferencetest.Ollama()), ProbeOptions{FramesPerCall: 16}, LevelWarn,
			[]string{"17,884 tokens > the context of 8,192 (context_length of the loaded model, GET /api/ps)", "(about 3 fit)"},
			[]string{"`OLLAMA_CONTEXT_LENGTH=32768 ollama serve`", "lower frames_per_call to 3 (frame_width does not change Ollama's count)"}},
		{"vllm 8192", small(inferencetest.VLLM()), ProbeOptions{FramesPerCall: 16, FrameTokens: 271}, LevelWarn,
			[]string{"16 frames × 271 tokens (the engine's estimate at 512 px) + ~1,500 instructions + 4,096 answer = 9,932 tokens > the context of 8,192 (max_model_len of /v1/models)", "HTTP 400"},
			[]string{"`--max-model-len 16384`", "lower frames_per_call to 9, or frame_width"}},
		{"sglang 8192", small(inferencetest.SGLang()), ProbeOptions{FramesPerCall: 16}, LevelWarn,
			[]string{"9,932 tokens > the context of 8,192"}, []string{"`--context-length 16384`"}},
		{"llama.cpp 8192", small(inferencetest.LlamaCpp()), ProbeOptions{FramesPerCall: 16}, LevelWarn,
			[]string{"9,932 tokens > the context of 8,192 (n_ctx of one slot, GET /props)"},
			[]string{"`-c 16384`", "shared by the `--parallel` slots", "this server has 1"}},
		{"profile context too small", inferencetest.VLLM(), ProbeOptions{FramesPerCall: 16, ContextTokens: 2048}, LevelError,
			[]string{"not even 2 frames, the instructions and a short answer (2,554 tokens) fit the context of 2,048"}, []string{"raise context_tokens in the profile (the server enforces 32,768)"}},
		{"profile context 7000", inferencetest.VLLM(), ProbeOptions{FramesPerCall: 16, ContextTokens: 7000}, LevelWarn,
			[]string{"9,932 tokens > the context of 7,000 (profile context_tokens)"},
			[]string{"raise context_tokens in the profile (the server enforces 32,768); or lower frames_per_call to 5, or frame_width"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := inferencetest.New(t, inferencetest.WithPersonality(tc.p), inferencetest.WithModels(probeModel))
			r := probeDouble(t, srv, probeModel, tc.opts)
			wantFinding(t, r, tc.level, CheckFit, tc.msg, tc.fix)
		})
	}
}

func TestProbeContext(t *testing.T) {
	t.Parallel()
	// Hosted: unknown unless the profile says.
	srv := inferencetest.New(t, inferencetest.WithPersonality(inferencetest.OpenAI()), inferencetest.WithModels("gpt-4o-mini"))
	r := probeDouble(t, srv, "gpt-4o-mini", ProbeOptions{})
	if r.Limits.ContextTokens != 0 {
		t.Errorf("context %d from %q, want unknown", r.Limits.ContextTokens, r.Limits.ContextSource)
	}
	wantFinding(t, r, LevelWarn, CheckContext, []string{"unknown"}, []string{"set context_tokens in the profile", "128000"})
	r = probeDouble(t, srv, "gpt-4o-mini", ProbeOptions{ContextTokens: 128000})
	if r.Limits.ContextTokens != 128000 || r.Limits.ContextSource != "profile context_tokens" || findingOf(r, LevelWarn, CheckContext) != nil {
		t.Errorf("limits %+v:\n%s", r.Limits, dumpFindings(r))
	}

	// The profile overrides the server, but not silently when it asks for more.
	srv = inferencetest.New(t, inferencetest.WithPersonality(inferencetest.VLLM()), inferencetest.WithModels(probeModel))
	r = probeDouble(t, srv, probeModel, ProbeOptions{ContextTokens: 65536})
	if r.Limits.ContextTokens != 65536 || r.ServerContext != 32768 {
		t.Errorf("limits %+v, server %d", r.Limits, r.ServerContext)
	}
	wantFinding(t, r, LevelWarn, CheckContext, []string{"context_tokens 65,536 is more than the 32,768 the server enforces", "refused (HTTP 400)"},
		[]string{"set context_tokens to 32,768 or less", "--max-model-len 65536"})
	r = probeDouble(t, srv, probeModel, ProbeOptions{ContextTokens: 16384})
	if r.Limits.ContextTokens != 16384 || r.Verdict() != VerdictReady {
		t.Errorf("a smaller profile context is the user's choice: %+v %s", r.Limits, r.Verdict())
	}

	// Ollama without a loaded model or num_ctx: its version's default, said to be unconfirmed.
	if ollamaDefaultContext("0.6.8") != 2048 || ollamaDefaultContext("0.12.6") != 4096 || ollamaDefaultContext("") != 4096 {
		t.Error("Ollama's default num_ctx: 2048 up to 0.6, 4096 since")
	}
}

func TestProbeStructuredOutput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		p       inferencetest.Personality
		outcome string
		fix     string
	}{
		{inferencetest.OpenAI(), OutcomeFenced, "Structured Outputs"},
		{func() inferencetest.Personality { p := inferencetest.VLLM(); p.Structured = false; return p }(), OutcomeFenced, "upgrade vLLM"},
		{func() inferencetest.Personality { p := inferencetest.Ollama(); p.Structured = false; return p }(), OutcomeFenced, "Ollama to 0.5 or later"},
	}
	for _, tc := range cases {
		t.Run(tc.p.Name, func(t *testing.T) {
			t.Parallel()
			srv := inferencetest.New(t, inferencetest.WithPersonality(tc.p), inferencetest.WithModels(probeModel))
			r := probeDouble(t, srv, probeModel, ProbeOptions{ContextTokens: 128000})
			if r.Structured != tc.outcome {
				t.Fatalf("json_schema %s (%s), want %s", r.Structured, r.StructuredDetail, tc.outcome)
			}
			wantFinding(t, r, LevelWarn, CheckStructured, []string{"not honoured", "fences", "constrained decoding is more reliable"}, []string{tc.fix})
		})
	}
}

func TestProbeReasoningInline(t *testing.T) {
	t.Parallel()
	cases := []struct {
		p   inferencetest.Personality
		fix string
	}{
		{inferencetest.VLLM(), "--reasoning-parser"},
		{inferencetest.SGLang(), "--reasoning-parser"},
		{inferencetest.LlamaCpp(), "--reasoning-format deepseek"},
		{inferencetest.Ollama(), "0.12.4"},
	}
	for _, tc := range cases {
		t.Run(tc.p.Name, func(t *testing.T) {
			t.Parallel()
			tc.p.Reasoning = inferencetest.ReasoningInline
			srv := inferencetest.New(t, inferencetest.WithPersonality(tc.p), inferencetest.WithModels(probeModel))
			r := probeDouble(t, srv, probeModel, ProbeOptions{ContextTokens: 32768})
			if r.Reasoning != ReasoningInline || r.Structured != OutcomeHonoured {
				t.Fatalf("reasoning %s, json_schema %s (%s)", r.Reasoning, r.Structured, r.StructuredDetail)
			}
			wantFinding(t, r, LevelWarn, CheckReasoning, []string{"inline in content", "the engine strips it"}, []string{tc.fix})
		})
	}
}

func TestProbeAPIKey(t *testing.T) {
	t.Parallel()
	srv := inferencetest.New(t, inferencetest.WithPersonality(inferencetest.VLLM()), inferencetest.WithModels(probeModel), inferencetest.WithAPIKey("k"))
	r := probeDouble(t, srv, probeModel, ProbeOptions{})
	if r.Verdict() != VerdictBroken {
		t.Fatalf("verdict %s", r.Verdict())
	}
	wantFinding(t, r, LevelError, CheckImages, []string{"refused the API key"}, []string{"api_key"})
	p, _ := NewProber(Config{BaseURL: srv.URL(), Model: probeModel, APIKey: "k"})
	if r := p.Probe(context.Background(), ProbeOptions{Timeout: 5 * time.Second}); r.Verdict() != VerdictReady {
		t.Errorf("with the key: %s\n%s", r.Verdict(), dumpFindings(r))
	}
}

// TestJudge covers what the double cannot show: a refused json_schema, an
// unconfirmed Ollama default, a server that answers for a model it does
// not list, calls that time out.
func TestJudge(t *testing.T) {
	t.Parallel()
	base := func() *Report {
		return &Report{Name: "b", BaseURL: "http://h/v1", Model: "m", Options: ProbeOptions{}.withDefaults(), Reachable: true,
			Server: inference.ServerVLLM, Served: []string{"m"}, Listed: true, ServerContext: 32768, ContextConfirmed: true,
			ServerContextSource: "max_model_len of /v1/models", Images: OutcomeAccepted, ManyImages: OutcomeAccepted,
			Structured: OutcomeHonoured, Reasoning: ReasoningNone}
	}
	r := base()
	r.judge()
	if r.Verdict() != VerdictReady {
		t.Fatalf("ready report judged %s:\n%s", r.Verdict(), dumpFindings(r))
	}

	r = base()
	r.Structured, r.StructuredDetail = OutcomeRefused, "HTTP 400: The provided JSON schema contains features not supported by xgrammar."
	r.judge()
	wantFinding(t, r, LevelError, CheckStructured, []string{"refused", "xgrammar", "time_based_metadata tasks"}, []string{"vLLM"})

	r = base()
	r.Server, r.ServerContext, r.ContextConfirmed, r.ServerContextSource = inference.ServerOllama, 4096, false, "default num_ctx, not confirmed"
	r.judge()
	if r.Limits.ImageTokens != 768 || !r.Limits.DropsOldest {
		t.Errorf("ollama limits %+v", r.Limits)
	}
	wantFinding(t, r, LevelWarn, CheckFit, []string{"the context of 4,096 (default num_ctx, not confirmed)", "it adapts"}, []string{"OLLAMA_CONTEXT_LENGTH=32768"})

	r = base()
	r.Server, r.Listed, r.Served = inference.ServerLlamaCpp, false, []string{"/models/qwen.gguf"}
	r.judge()
	wantFinding(t, r, LevelWarn, CheckModel, []string{"not listed", "answered a call for it"}, []string{"set model"})

	r = base()
	r.Images, r.ImagesDetail, r.ManyImages, r.Structured = OutcomeFailed, "no answer in time", OutcomeNotTried, OutcomeFailed
	r.judge()
	wantFinding(t, r, LevelWarn, CheckImages, []string{"failed: no answer in time"}, []string{"may still be loading"})
}

func TestProbeStopped(t *testing.T) {
	t.Parallel()
	p, _ := NewProber(Config{BaseURL: "http://gpu-1:8080/v1", Model: "m"})
	cases := []struct {
		x         exchange
		reachable bool
		row, fix  string
	}{
		{exchange{status: 503, body: []byte(`{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}`)}, false,
			"the server is not ready: GET http://gpu-1:8080/v1/models answered HTTP 503: Loading model", "wait until the server has loaded its model"},
		{exchange{status: 401, body: []byte(`{"error":{"message":"Invalid API Key"}}`)}, true,
			"the server refused the API key", "this server wants an API key"},
	}
	for _, tc := range cases {
		r := &Report{Options: ProbeOptions{}.withDefaults()}
		if p.reached(r, tc.x) || r.Reachable != tc.reachable {
			t.Errorf("%d: reachable %v", tc.x.status, r.Reachable)
		}
		r.judge()
		if len(r.Checks) != 1 || !strings.HasPrefix(r.Checks[0].Result, tc.row) || r.Verdict() != VerdictBroken {
			t.Errorf("%d: checks %v, verdict %s", tc.x.status, r.Checks, r.Verdict())
		}
		wantFinding(t, r, LevelError, CheckServer, nil, []string{tc.fix})
	}
}

func TestReportJSON(t *testing.T) {
	t.Parallel()
	srv := inferencetest.New(t, inferencetest.WithPersonality(inferencetest.Ollama()), inferencetest.WithModels(probeModel))
	r := probeDouble(t, srv, probeModel, ProbeOptions{})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Server   string         `json:"server"`
		Verdict  string         `json:"verdict"`
		Limits   map[string]any `json:"limits"`
		Findings []Finding      `json:"findings"`
		Latency  float64        `json:"latency_ms"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v.Server != "ollama" || v.Verdict != VerdictWarnings || v.Limits["context_tokens"] != float64(4096) || v.Limits["image_tokens"] != float64(768) ||
		v.Limits["drops_oldest"] != true || len(v.Findings) == 0 || v.Latency <= 0 {
		t.Errorf("JSON: %s", b)
	}
}

func TestValidProbeJSON(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		`{"colour":"red","wheels":2}`:           true,
		`{"colour":"red","wheels":2.5}`:         false,
		`{"colour":"pink","wheels":2}`:          false,
		`{"colour":"red"}`:                      false,
		`{"colour":"red","wheels":2,"extra":1}`: false,
		"":                                      false,
	} {
		if got := validProbeJSON(s); got != want {
			t.Errorf("validProbeJSON(%s) = %v", s, got)
		}
	}
	if thousands(17884) != "17,884" || thousands(4096) != "4,096" || thousands(128000) != "128,000" || thousands(999) != "999" {
		t.Error("thousands")
	}
}
