package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPrecedenceFlagsEnvFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "framewise.yaml")
	os.WriteFile(file, []byte(`
addr: 127.0.0.1:9001
data_dir: /from/file
workers: 7
rate_limit: 60
api_keys: ["${KEY_FROM_ENV}"]
limits: {segment_definitions: 20, enum_values: 100, max_tokens: 98304}
models:
  pegasus1.5:
    backend: openai
    name: vllm
    base_url: http://127.0.0.1:8000/v1
    model: Qwen/Qwen2.5-VL-7B-Instruct
    max_parallel: 8
    timeout: 90s
asr: {base_url: "http://127.0.0.1:9000/v1", model: whisper-1}
`), 0o600)
	c, err := ParseServe([]string{"--config", file, "--workers", "3"}, env(map[string]string{
		"FRAMEWISE_DATA_DIR": "/from/env", "KEY_FROM_ENV": "k-secret",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9001" || c.DataDir != "/from/env" || c.Workers != 3 {
		t.Errorf("precedence: addr %s (file) data %s (env) workers %d (flag)", c.Addr, c.DataDir, c.Workers)
	}
	if c.RateLimit != 60 {
		t.Errorf("rate limit %d from the file, want 60", c.RateLimit)
	}
	if len(c.APIKeys) != 1 || c.APIKeys[0] != "k-secret" {
		t.Errorf("api keys %v: ${VAR} not expanded", c.APIKeys)
	}
	if c.MaxSegmentDefinitions != 20 || c.MaxEnumValues != 100 || c.MaxTokensP15 != 98304 {
		t.Errorf("limits %d %d %d", c.MaxSegmentDefinitions, c.MaxEnumValues, c.MaxTokensP15)
	}
	p := c.Models["pegasus1.5"]
	if p.Backend != "openai" || p.Name != "vllm" || p.MaxParallel != 8 || p.Timeout != 90*time.Second || p.FramesPerCall != 16 {
		t.Errorf("pegasus1.5 profile %+v", p)
	}
	if c.Models["pegasus1.2"].Backend != "builtin" {
		t.Errorf("pegasus1.2 profile %+v, want builtin", c.Models["pegasus1.2"])
	}
	if c.ASR == nil || c.ASR.Model != "whisper-1" || c.ASR.Name != "127.0.0.1:9000" {
		t.Errorf("asr %+v", c.ASR)
	}
}

func TestVLMFlagsServeBothModels(t *testing.T) {
	t.Parallel()
	c, err := ParseServe([]string{"--vlm-url", "http://127.0.0.1:11434/v1", "--vlm-model", "qwen2.5vl:7b"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"pegasus1.2", "pegasus1.5"} {
		if p := c.Models[m]; p.Backend != "openai" || p.Model != "qwen2.5vl:7b" || p.Name != "127.0.0.1:11434" {
			t.Errorf("%s: %+v", m, p)
		}
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("adress: x\n"), 0o600)
	unknownModel := filepath.Join(t.TempDir(), "m.yaml")
	os.WriteFile(unknownModel, []byte("models: {gpt: {backend: builtin}}\n"), 0o600)
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"open on public address":  {[]string{"--addr", "0.0.0.0:8700"}, nil, "without an API key"},
		"open on empty host":      {[]string{"--addr", ":8700"}, nil, "without an API key"},
		"unknown file key":        {[]string{"--config", bad}, nil, "adress"},
		"unknown model name":      {[]string{"--config", unknownModel}, nil, "gpt"},
		"vlm without model":       {[]string{"--vlm-url", "http://x/v1"}, nil, "needs base_url and model"},
		"bad env number":          {nil, map[string]string{"FRAMEWISE_WORKERS": "many"}, "FRAMEWISE_WORKERS"},
		"negative rate limit":     {[]string{"--rate-limit", "-1"}, nil, "rate-limit"},
		"bad env rate limit":      {nil, map[string]string{"FRAMEWISE_RATE_LIMIT": "fast"}, "FRAMEWISE_RATE_LIMIT"},
		"bad default model":       {[]string{"--default-model", "gpt-4"}, nil, "default-model"},
		"missing config file":     {[]string{"--config", "/nonexistent.yaml"}, nil, "config file"},
		"positional argument":     {[]string{"extra"}, nil, "unexpected argument"},
		"asr without model":       {[]string{"--asr-url", "http://x/v1"}, nil, "asr"},
		"keys allow public addrs": {[]string{"--addr", "0.0.0.0:8700", "--api-key", "k"}, nil, ""},
		"unknown role":            {[]string{"--role", "boss"}, nil, "use all, api or worker"},
		"role without postgres":   {[]string{"--role", "api"}, nil, "needs --database-url"},
		"role without blob store": {[]string{"--role", "worker", "--database-url", "postgres://db/x"}, nil, "needs --blob-url"},
		"worker with no workers":  {[]string{"--role", "worker", "--workers", "0"}, nil, "--workers 1 or more"},
		"sqlite url refused":      {[]string{"--database-url", "framewise.db"}, nil, "postgres://"},
		"api role":                {[]string{"--role", "api", "--database-url", "postgres://db/x", "--blob-url", "s3://b?endpoint=http://127.0.0.1:9000&region=us-east-1"}, nil, ""},
	} {
		_, err := ParseServe(tc.args, env(tc.env), io.Discard)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, tc.want)
		}
	}
}

// Admin keys follow the API keys' order: flags replace, the environment
// adds to the file.
func TestAdminKeys(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "framewise.yaml")
	os.WriteFile(file, []byte("admin_keys: [from-file]\n"), 0o600)
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"none", nil, nil, ""},
		{"file", []string{"--config", file}, nil, "from-file"},
		{"env adds to the file", []string{"--config", file}, map[string]string{"FRAMEWISE_ADMIN_KEYS": "a, b"}, "from-file,a,b"},
		{"one key in FRAMEWISE_ADMIN_KEY", nil, map[string]string{"FRAMEWISE_ADMIN_KEY": " solo "}, "solo"},
		{"both variables", nil, map[string]string{"FRAMEWISE_ADMIN_KEY": "solo", "FRAMEWISE_ADMIN_KEYS": "a,solo"}, "solo,a"},
		{"flags replace", []string{"--config", file, "--admin-key", "f1", "--admin-key", "f2"}, map[string]string{"FRAMEWISE_ADMIN_KEYS": "a"}, "f1,f2"},
	} {
		c, err := ParseServe(tt.args, env(tt.env), io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := strings.Join(c.AdminKeys, ","); got != tt.want {
			t.Errorf("%s: admin keys %q, want %q", tt.name, got, tt.want)
		}
	}
}

// Quotas are off by default; flags, the environment and the file set them.
func TestQuotas(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "framewise.yaml")
	os.WriteFile(file, []byte("quotas:\n  active_tasks: 3\n  video_hours_per_day: 1.5\n"), 0o600)
	for _, tt := range []struct {
		name   string
		args   []string
		env    map[string]string
		active int
		hours  float64
	}{
		{"off", nil, nil, 0, 0},
		{"file", []string{"--config", file}, nil, 3, 1.5},
		{"env", nil, map[string]string{"FRAMEWISE_QUOTA_ACTIVE_TASKS": "5", "FRAMEWISE_QUOTA_VIDEO_HOURS": "10"}, 5, 10},
		{"flags", []string{"--quota-active-tasks", "7", "--quota-video-hours", "0.5"}, map[string]string{"FRAMEWISE_QUOTA_ACTIVE_TASKS": "5"}, 7, 0.5},
	} {
		c, err := ParseServe(tt.args, env(tt.env), io.Discard)
		if err != nil || c.QuotaActiveTasks != tt.active || c.QuotaVideoHours != tt.hours {
			t.Errorf("%s: %d, %g, %v; want %d, %g", tt.name, c.QuotaActiveTasks, c.QuotaVideoHours, err, tt.active, tt.hours)
		}
	}
	if _, err := ParseServe([]string{"--quota-active-tasks", "-1"}, env(nil), io.Discard); err == nil {
		t.Error("a negative quota was accepted")
	}
}
