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

func TestAnalyzeSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	array := file("array.json", `[{"id":"scenes","description":"each scene","fields":[{"name":"summary","type":"string"}]},
		{"id":"black","description":"black frames","time_ranges":[{"start_time":0,"end_time":10}]}]`)
	object := file("object.json", `{"segment_definitions":[{"id":"scenes","description":"each scene"}],"segment_time_format":"hh:mm:ss"}`)
	typed := file("typed.json", `{"type":"segment_definitions","segment_definitions":[{"id":"scenes","description":"each scene"}]}`)
	rfSegs := file("rf.json", `{"type":"segment_definitions","segment_definitions":[{"id":"scenes","description":"each scene"}]}`)
	schema := file("schema.json", `{"type":"json_schema","json_schema":{"type":"object"}}`)
	defs := func(ids ...string) []any {
		var out []any
		for _, id := range ids {
			out = append(out, id)
		}
		return out
	}
	const url = "https://e.com/v.mp4"
	tests := []struct {
		name       string
		args       []string
		wantBody   map[string]any // keys checked; nil value = must be absent
		wantDefs   []any          // ids of response_format.segment_definitions
		wantStderr string         // exact
	}{
		{"array", []string{"--segments", array},
			map[string]any{"model_name": "pegasus1.5", "analysis_mode": "time_based_metadata", "prompt": nil, "response_format.type": "segment_definitions", "response_format.segment_time_format": nil},
			defs("scenes", "black"), "model pegasus1.5 (needed for --segments)\n"},
		{"object", []string{"--segments", object},
			map[string]any{"model_name": "pegasus1.5", "response_format.segment_time_format": "hh:mm:ss"},
			defs("scenes"), "model pegasus1.5 (needed for --segments)\n"},
		{"object with type", []string{"--segments", typed}, map[string]any{"response_format.type": "segment_definitions"}, defs("scenes"), "model pegasus1.5 (needed for --segments)\n"},
		{"time format flag wins", []string{"--segments", object, "--segment-time-format", "hh:mm:ss.fff"},
			map[string]any{"response_format.segment_time_format": "hh:mm:ss.fff"}, defs("scenes"), "model pegasus1.5 (needed for --segments)\n"},
		{"durations and window", []string{"--segments", array, "--min-segment-duration", "2", "--max-segment-duration", "30", "--start", "5", "--end", "60", "--prompt", "focus on people"},
			map[string]any{"min_segment_duration": 2.0, "max_segment_duration": 30.0, "start_time": 5.0, "end_time": 60.0, "prompt": "focus on people"},
			defs("scenes", "black"), "model pegasus1.5 (needed for --segments, --start, --end, --min-segment-duration, --max-segment-duration)\n"},
		{"explicit mode", []string{"--segments", array, "--mode", "time_based_metadata"},
			map[string]any{"analysis_mode": "time_based_metadata"}, defs("scenes", "black"), "model pegasus1.5 (needed for --segments)\n"},
		{"explicit model is kept", []string{"--segments", array, "--model", "pegasus1.2"},
			map[string]any{"model_name": "pegasus1.2", "analysis_mode": "time_based_metadata"}, defs("scenes", "black"), ""},
		{"response-format of segments", []string{"--response-format", rfSegs},
			map[string]any{"model_name": "pegasus1.5", "analysis_mode": "time_based_metadata", "prompt": nil}, defs("scenes"),
			"model pegasus1.5 (needed for --response-format of type segment_definitions)\n"},
		{"mode time_based_metadata", []string{"--mode", "time_based_metadata"},
			map[string]any{"model_name": "pegasus1.5", "response_format": nil}, nil, "model pegasus1.5 (needed for --mode time_based_metadata)\n"},
		{"window only", []string{"--prompt", "x", "--end", "20"},
			map[string]any{"model_name": "pegasus1.5", "analysis_mode": nil, "end_time": 20.0}, nil, "model pegasus1.5 (needed for --end)\n"},
		{"json_schema keeps the server's model", []string{"--prompt", "x", "--response-format", schema},
			map[string]any{"model_name": nil, "analysis_mode": nil, "response_format.type": "json_schema"}, nil, ""},
		{"plain prompt", []string{"--prompt", "x"}, map[string]any{"model_name": nil, "analysis_mode": nil}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, env := newFakeAPI(t)
			code, stdout, stderr := run(t, env, append([]string{"analyze", url}, tt.args...)...)
			if code != 0 || stdout != "t1\n" {
				t.Fatalf("code %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			if stderr != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", stderr, tt.wantStderr)
			}
			body := f.lastBody(t)
			for key, want := range tt.wantBody {
				got, ok := lookupPath(body, key)
				if want == nil && ok {
					t.Errorf("%s = %v, want it absent", key, got)
				} else if want != nil && got != want {
					t.Errorf("%s = %v, want %v", key, got, want)
				}
			}
			if tt.wantDefs != nil {
				var ids []any
				list, _ := lookupPath(body, "response_format.segment_definitions")
				for _, d := range list.([]any) {
					ids = append(ids, d.(map[string]any)["id"])
				}
				if mustJSON(t, ids) != mustJSON(t, tt.wantDefs) {
					t.Errorf("definitions %v, want %v", ids, tt.wantDefs)
				}
			}
		})
	}
	// fields and time ranges go through as written
	f, env := newFakeAPI(t)
	run(t, env, "analyze", url, "--segments", array)
	rf, _ := lookupPath(f.lastBody(t), "response_format")
	want := `{"segment_definitions":[{"description":"each scene","fields":[{"name":"summary","type":"string"}],"id":"scenes"},` +
		`{"description":"black frames","id":"black","time_ranges":[{"end_time":10,"start_time":0}]}],"type":"segment_definitions"}`
	if got := mustJSON(t, rf); got != want {
		t.Errorf("response_format = %s\nwant              %s", got, want)
	}
}

// lookupPath follows a dotted path of object keys.
func lookupPath(m map[string]any, path string) (any, bool) {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = o[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

func TestAnalyzeSegmentsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := file("good.json", `[{"id":"scenes","description":"each scene"}]`)
	schema := file("schema.json", `{"type":"json_schema","json_schema":{"type":"object"}}`)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown key in object", []string{"--segments", file("a.json", `{"segment_definitions":[{"id":"s","description":"d"}],"segment_timeformat":"seconds"}`)},
			1, `unknown field "segment_timeformat"`},
		{"unknown key in a definition", []string{"--segments", file("b.json", `[{"id":"s","descripton":"d"}]`)}, 1, `unknown field "descripton"`},
		{"unknown key in a field", []string{"--segments", file("c.json", `[{"id":"s","description":"d","fields":[{"name":"n","typ":"string"}]}]`)}, 1, `unknown field "typ"`},
		{"a single definition", []string{"--segments", file("d.json", `{"id":"s","description":"d"}`)}, 1, `unknown field "id" (want an array of segment definitions`},
		{"json_schema type", []string{"--segments", file("e.json", `{"type":"json_schema","segment_definitions":[{"id":"s","description":"d"}]}`)}, 1, `type "json_schema": only segment_definitions fits --segments`},
		{"empty", []string{"--segments", file("f.json", `[]`)}, 1, "no segment definitions"},
		{"not JSON", []string{"--segments", file("g.json", `id: scenes`)}, 1, "not a JSON array or object"},
		{"trailing data", []string{"--segments", file("h.json", `[{"id":"s","description":"d"}] [1]`)}, 1, "data after the JSON value"},
		{"missing file", []string{"--segments", filepath.Join(dir, "nope.json")}, 1, "--segments: open"},
		{"with --response-format", []string{"--segments", good, "--response-format", schema}, 2, "--segments and --response-format both set the response format"},
		{"with --mode general", []string{"--segments", good, "--mode", "general"}, 2, `--segments needs --mode time_based_metadata, not "general"`},
		{"time format alone", []string{"--prompt", "x", "--segment-time-format", "seconds"}, 2, "--segment-time-format needs --segments"},
		{"time format with json_schema", []string{"--prompt", "x", "--response-format", schema, "--segment-time-format", "seconds"}, 2, "--segment-time-format needs --segments"},
		{"no prompt in general mode", []string{"--min-segment-duration", "3"}, 2, "--prompt is required (except with --segments or --mode time_based_metadata)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, env := newFakeAPI(t)
			code, stdout, stderr := run(t, env, append([]string{"analyze", "https://e.com/v.mp4"}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) || stdout != "" {
				t.Errorf("code %d, stdout %q, stderr %q; want %d and %q", code, stdout, stderr, tt.wantCode, tt.wantErr)
			}
			if len(f.bodies) != 0 {
				t.Errorf("a task was created: %v", f.bodies)
			}
		})
	}
}

// TestAnalyzeExplicitModelRefused: with --model pegasus1.2 the CLI sends
// what it was told and shows the server's refusal.
func TestAnalyzeExplicitModelRefused(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	f.createFn = func(w http.ResponseWriter) bool {
		writeTestJSON(w, 400, api.NestedError{Error: api.ErrorObject{Code: api.CodeParameterInvalid,
			Message: "The analysis_mode time_based_metadata requires model_name pegasus1.5, but the model is pegasus1.2."}})
		return true
	}
	path := filepath.Join(t.TempDir(), "s.json")
	os.WriteFile(path, []byte(`[{"id":"scenes","description":"each scene"}]`), 0o644)
	code, _, stderr := run(t, env, "analyze", "https://e.com/v.mp4", "--segments", path, "--model", "pegasus1.2")
	if code != 1 || stderr != "framewise analyze: HTTP 400 parameter_invalid: The analysis_mode time_based_metadata requires model_name pegasus1.5, but the model is pegasus1.2.\n" {
		t.Errorf("code %d, stderr %q", code, stderr)
	}
	if got := f.lastBody(t)["model_name"]; got != "pegasus1.2" {
		t.Errorf("model_name = %v", got)
	}
}

func TestAnalyzeWaitSegments(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	f.script = []api.Task{{Status: api.StatusProcessing}, segmentTask(segmentData)}
	path := filepath.Join(t.TempDir(), "s.json")
	os.WriteFile(path, []byte(`[{"id":"scenes","description":"each scene"},{"id":"black","description":"black frames"}]`), 0o644)
	code, stdout, stderr := run(t, env, "analyze", "https://e.com/v.mp4", "--segments", path, "--wait")
	if code != 0 || stdout != segmentTablesOut {
		t.Errorf("code %d, stderr %q, stdout:\n%s\nwant:\n%s", code, stderr, stdout, segmentTablesOut)
	}
	code, stdout, _ = run(t, env, "analyze", "https://e.com/v.mp4", "--segments", path, "--wait", "--json")
	var task api.Task
	if err := json.Unmarshal([]byte(stdout), &task); code != 0 || err != nil || task.Result == nil || task.Result.Data != segmentData {
		t.Errorf("--json: code %d (%v): %s", code, err, stdout)
	}
}
