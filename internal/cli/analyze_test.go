package cli

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/framewise/framewise/api"
)

func TestAnalyzeURL(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	code, stdout, stderr := run(t, env, "analyze", "https://example.com/cat.mp4",
		"--prompt", "What happens?", "--model", "pegasus1.5", "--temperature", "0", "--custom-id", "cat-1",
		"--start", "2", "--end", "10.5")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	if stdout != "t1\n" {
		t.Errorf("stdout = %q, want the task id", stdout)
	}
	body := f.lastBody(t)
	want := map[string]any{
		"video":       map[string]any{"type": "url", "url": "https://example.com/cat.mp4"},
		"prompt":      "What happens?",
		"model_name":  "pegasus1.5",
		"temperature": 0.0, // set explicitly, so sent although zero
		"custom_id":   "cat-1",
		"start_time":  2.0,
		"end_time":    10.5,
	}
	if got, _ := json.Marshal(body); string(got) != mustJSON(t, want) {
		t.Errorf("body = %s\nwant   %s", got, mustJSON(t, want))
	}
}

func TestAnalyzeLocalFile(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	video := []byte("\x00\x00\x00\x18ftypmp42 not really a video")
	path := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(path, video, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, env, "analyze", path, "--prompt", "x"); code != 0 {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	v := f.lastBody(t)["video"].(map[string]any)
	if v["type"] != "base64_string" || v["base64_string"] != base64.StdEncoding.EncodeToString(video) {
		t.Errorf("video = %v", v)
	}
}

func TestAnalyzeMissingFile(t *testing.T) {
	t.Parallel()
	_, env := newFakeAPI(t)
	code, _, stderr := run(t, env, "analyze", filepath.Join(t.TempDir(), "nope.mp4"), "--prompt", "x")
	if code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("code %d, stderr %q", code, stderr)
	}
}

func TestAnalyzeJSON(t *testing.T) {
	t.Parallel()
	_, env := newFakeAPI(t)
	code, stdout, stderr := run(t, env, "analyze", "https://e.com/v.mp4", "--prompt", "x", "--json")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	var resp api.CreateTaskResponse
	if err := json.Unmarshal([]byte(stdout), &resp); err != nil || resp.TaskID != "t1" || resp.Status != "queued" {
		t.Errorf("stdout = %q (%v)", stdout, err)
	}
}

func TestAnalyzeWait(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	f.script = []api.Task{
		{Status: api.StatusQueued},
		{Status: api.StatusProcessing, Progress: &api.Progress{Stage: "sampling frames", Percent: 40}},
		{Status: api.StatusProcessing, Progress: &api.Progress{Stage: "sampling frames", Percent: 60}},
		{Status: api.StatusReady, Result: &api.TaskResult{Data: "A cat jumps.", FinishReason: "stop"}},
	}
	// flags after the positional argument
	code, stdout, stderr := run(t, env, "analyze", "https://e.com/v.mp4", "--prompt", "x", "--wait")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	if stdout != "A cat jumps.\n" {
		t.Errorf("stdout = %q", stdout)
	}
	want := "task t1 queued\nstatus: queued\nstatus: processing (sampling frames, 40%)\nstatus: ready\n"
	if stderr != want {
		t.Errorf("stderr = %q\nwant     %q", stderr, want)
	}
}

func TestAnalyzeWaitTruncated(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	f.script = []api.Task{{Status: api.StatusReady,
		Result: &api.TaskResult{Data: `{"a": [1, 2`, FinishReason: "length"},
		Error:  &api.TaskError{Message: "The output reached max_tokens (512) and was truncated."}}}
	code, stdout, stderr := run(t, env, "analyze", "https://e.com/v.mp4", "--prompt", "x", "--wait")
	if code != 0 || stdout != "{\"a\": [1, 2\n" || !strings.Contains(stderr, "warning: The output reached max_tokens") {
		t.Errorf("code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestAnalyzeWaitFailed(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	f.script = []api.Task{
		{Status: api.StatusPending},
		{Status: api.StatusFailed, Error: &api.TaskError{Message: "The video is 2.0 s long; the minimum is 4 s."}},
	}
	code, stdout, stderr := run(t, env, "analyze", "https://e.com/v.mp4", "--wait", "--prompt", "x")
	if code != 1 {
		t.Errorf("code = %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	if !strings.Contains(stderr, "framewise analyze: task t1 failed: The video is 2.0 s long; the minimum is 4 s.") {
		t.Errorf("stderr = %q", stderr)
	}
}

func TestAnalyzeWaitJSON(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	f.script = []api.Task{
		{Status: api.StatusProcessing},
		{Status: api.StatusReady, Result: &api.TaskResult{Data: "done", FinishReason: "stop"}},
	}
	code, stdout, stderr := run(t, env, "analyze", "--json", "https://e.com/v.mp4", "--prompt", "x", "--wait")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	var task api.Task
	if err := json.Unmarshal([]byte(stdout), &task); err != nil || task.Status != "ready" || task.Result.Data != "done" {
		t.Errorf("stdout = %q (%v), want the ready task as JSON", stdout, err)
	}
}

func TestAnalyzeResponseFormat(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "rf.json")
	os.WriteFile(good, []byte(`{"type":"segment_definitions","segment_definitions":[{"id":"scenes","description":"each scene"}]}`), 0o644)
	code, _, stderr := run(t, env, "analyze", "https://e.com/v.mp4", "--model", "pegasus1.5",
		"--mode", "time_based_metadata", "--response-format", good)
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	body := f.lastBody(t)
	if _, hasPrompt := body["prompt"]; hasPrompt || body["analysis_mode"] != "time_based_metadata" {
		t.Errorf("body = %v", body)
	}
	rf := body["response_format"].(map[string]any)
	if rf["type"] != "segment_definitions" || len(rf["segment_definitions"].([]any)) != 1 {
		t.Errorf("response_format = %v", rf)
	}

	typo := filepath.Join(dir, "typo.json")
	os.WriteFile(typo, []byte(`{"type":"json_schema","jsonschema":{}}`), 0o644)
	code, _, stderr = run(t, env, "analyze", "https://e.com/v.mp4", "--prompt", "x", "--response-format", typo)
	if code != 1 || !strings.Contains(stderr, `unknown field "jsonschema"`) {
		t.Errorf("typo: code %d, stderr %q", code, stderr)
	}
}

func TestAnalyzeServerRefuses(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	f.createFn = func(w http.ResponseWriter) bool {
		writeTestJSON(w, 400, api.NestedError{Error: api.ErrorObject{Code: api.CodeParameterInvalid,
			Message: "The temperature parameter must be between 0 and 1."}})
		return true
	}
	code, _, stderr := run(t, env, "analyze", "https://e.com/v.mp4", "--prompt", "x", "--temperature", "3")
	if code != 1 || !strings.Contains(stderr, "parameter_invalid: The temperature parameter must be between 0 and 1.") {
		t.Errorf("code %d, stderr %q", code, stderr)
	}
}

func TestAnalyzeUsage(t *testing.T) {
	t.Parallel()
	_, env := newFakeAPI(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no video", []string{"analyze", "--prompt", "x"}, 2, "missing VIDEO_FILE_OR_URL"},
		{"no prompt", []string{"analyze", "https://e.com/v.mp4"}, 2, "--prompt is required"},
		{"two videos", []string{"analyze", "a.mp4", "b.mp4", "--prompt", "x"}, 2, "one video at a time"},
		{"unknown flag", []string{"analyze", "v.mp4", "--promt", "x"}, 2, "flag provided but not defined: -promt"},
		{"bad number", []string{"analyze", "v.mp4", "--prompt", "x", "--temperature", "hot"}, 2, `invalid value "hot"`},
		{"flag without value", []string{"analyze", "v.mp4", "--prompt"}, 2, "flag needs an argument"},
		{"help", []string{"analyze", "-h"}, 0, "Usage: framewise analyze VIDEO_FILE_OR_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := run(t, env, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("code %d, stderr %q; want %d and %q", code, stderr, tt.wantCode, tt.wantErr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q", stdout)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
