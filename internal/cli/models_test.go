package cli

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/framewise/framewise/internal/inference/inferencetest"
)

const checkModel = "qwen2.5-vl"

// checkDouble runs "framewise models check" against a double of personality
// p serving models (checkModel when none), with extra flags.
func checkDouble(t *testing.T, p inferencetest.Personality, models []string, extra ...string) (code int, stdout, stderr string, srv *inferencetest.Server) {
	t.Helper()
	if len(models) == 0 {
		models = []string{checkModel}
	}
	srv = inferencetest.New(t, inferencetest.WithPersonality(p), inferencetest.WithModels(models...))
	args := append([]string{"models", "check", "--vlm-url", srv.URL(), "--vlm-model", checkModel, "--vlm-name", p.Name}, extra...)
	code, stdout, stderr = run(t, testEnv(nil), args...)
	t.Logf("framewise %s\n%s%s", strings.Join(args, " "), stderr, stdout)
	return code, stdout, stderr, srv
}

func wantIn(t *testing.T, what, text string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(text, s) {
			t.Errorf("%s lacks %q:\n%s", what, s, text)
		}
	}
}

func TestModelsCheckReadyVLLM(t *testing.T) {
	t.Parallel()
	code, stdout, stderr, _ := checkDouble(t, inferencetest.VLLM(), nil)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	wantIn(t, "progress", stderr, "checking pegasus1.2, pegasus1.5: vllm at ")
	wantIn(t, "table", stdout,
		"pegasus1.2, pegasus1.5 — vllm at ",
		"  CHECK            RESULT\n",
		"  server           vLLM (owned_by \"vllm\" in /v1/models)\n",
		"  model            qwen2.5-vl is listed\n",
		"  context          32,768 tokens (max_model_len of /v1/models)\n",
		"  images per call  16 accepted\n",
		"  json_schema      honoured",
		"verdict: ready\n")
	if strings.Contains(stdout, "warn") || strings.Contains(stdout, "error") {
		t.Errorf("a ready server with findings:\n%s", stdout)
	}
}

func TestModelsCheckOllamaSmallContext(t *testing.T) {
	t.Parallel()
	code, stdout, stderr, _ := checkDouble(t, inferencetest.Ollama(), nil)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// 16 frames × 768 tokens as Ollama counts them, the instructions and
	// the answer do not fit its 4096: a warning, since Ollama drops the
	// oldest frames and the engine adapts.
	wantIn(t, "report", stdout,
		"  server           Ollama 0.12.6 (GET /api/version answers)\n",
		"  context          4,096 tokens (context_length of the loaded model, GET /api/ps); trained for 128,000\n",
		"  frames fit       no: 16 × 768 + 1,500 + 4,096 = 17,884 > 4,096\n",
		"  warn   frames fit: 16 frames × 768 tokens (Ollama counts 768 per image whatever its size) + ~1,500 instructions + 4,096 answer = 17,884 tokens > the context of 4,096",
		"silently drops the oldest frames", "(it adapts)",
		"fix: raise Ollama's num_ctx: start it with `OLLAMA_CONTEXT_LENGTH=32768 ollama serve`, or put `PARAMETER num_ctx 32768` in a Modelfile",
		"verdict: works with warnings\n")
}

func TestModelsCheckImageLimit(t *testing.T) {
	t.Parallel()
	p := inferencetest.VLLM()
	p.MaxImages = 8
	code, stdout, stderr, _ := checkDouble(t, p, nil)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	wantIn(t, "report", stdout, "images per call  at most 8 (HTTP 400: At most 8 image(s) may be provided in one prompt.)",
		"at most 8 images per call, frames_per_call is 16",
		`--limit-mm-per-prompt '{"image":16}'`, "image=16", "verdict: works with warnings\n")
}

func TestModelsCheckUnreachable(t *testing.T) {
	t.Parallel()
	srv := inferencetest.New(t, inferencetest.WithPersonality(inferencetest.VLLM()))
	srv.Close()
	code, stdout, stderr := run(t, testEnv(nil), "models", "check", "--vlm-url", srv.URL(), "--vlm-model", checkModel)
	t.Logf("%s%s", stderr, stdout)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	wantIn(t, "report", stdout, "unreachable: cannot reach "+srv.URL()+"/models", "fix: check base_url", "verdict: will not work\n")
	wantIn(t, "stderr", stderr, "framewise models: pegasus1.2, pegasus1.5 will not work as configured\n")
}

func TestModelsCheckModelNotListed(t *testing.T) {
	t.Parallel()
	code, stdout, _, _ := checkDouble(t, inferencetest.Ollama(), []string{"llava:7b", "qwen2.5vl:7b"})
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	wantIn(t, "report", stdout, "qwen2.5-vl is not listed (it serves llava:7b, qwen2.5vl:7b)", "`ollama pull qwen2.5-vl`", "verdict: will not work\n")
}

func TestModelsCheckJSON(t *testing.T) {
	t.Parallel()
	code, stdout, stderr, _ := checkDouble(t, inferencetest.OpenAI(), nil, "--json", "--vlm-context-tokens", "128000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var checks []struct {
		ModelNames []string `json:"model_names"`
		Verdict    string   `json:"verdict"`
		Report     struct {
			Server string `json:"server"`
			Limits struct {
				ContextTokens int    `json:"context_tokens"`
				ContextSource string `json:"context_source"`
			} `json:"limits"`
			Findings []struct{ Level, Check, Message, Fix string } `json:"findings"`
		} `json:"report"`
	}
	if err := json.Unmarshal([]byte(stdout), &checks); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if len(checks) != 1 || len(checks[0].ModelNames) != 2 || checks[0].Verdict != "works with warnings" || checks[0].Report.Server != "openai" ||
		checks[0].Report.Limits.ContextTokens != 128000 || checks[0].Report.Limits.ContextSource != "profile context_tokens" {
		t.Errorf("JSON: %s", stdout)
	}
}

func TestModelsCheckProfiles(t *testing.T) {
	t.Parallel()
	// One profile per model name, from the YAML file: a built-in one, and
	// a llama.cpp one.
	srv := inferencetest.New(t, inferencetest.WithPersonality(inferencetest.LlamaCpp()), inferencetest.WithModels(checkModel))
	file := t.TempDir() + "/framewise.yaml"
	yaml := "models:\n  pegasus1.2: { backend: builtin }\n  pegasus1.5:\n    backend: openai\n    name: llamacpp\n    base_url: " + srv.URL() +
		"\n    model: " + checkModel + "\n    frames_per_call: 8\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, testEnv(nil), "models", "check", "--config", file)
	t.Logf("%s%s", stderr, stdout)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	wantIn(t, "report", stdout, "pegasus1.2: built-in engine, nothing to check\nverdict: ready\n",
		"pegasus1.5 — llamacpp at ", "llama.cpp b6000 (owned_by \"llamacpp\" in /v1/models)", "1 slot(s)", "images per call  8 accepted")
	if strings.Count(stderr, "checking ") != 1 {
		t.Errorf("progress: %q", stderr)
	}
}

func TestModelsUsage(t *testing.T) {
	t.Parallel()
	if code, _, stderr := run(t, testEnv(nil), "models"); code != 2 || !strings.Contains(stderr, "framewise models check") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	if code, _, _ := run(t, testEnv(nil), "models", "list"); code != 2 {
		t.Errorf("unknown subcommand: exit %d", code)
	}
}
