package cli

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
)

// seedTasks adds n ready tasks t1..tn, t1 oldest.
func seedTasks(f *fakeAPI, n int) {
	for i := 1; i <= n; i++ {
		f.seed(fmt.Sprintf("t%d", i), api.Task{Status: api.StatusReady,
			RequestParams: &api.RequestParams{AnalysisMode: api.ModeGeneral}})
	}
}

func TestTasksList(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	f.seed("a1", api.Task{Status: api.StatusReady, CustomID: api.String("cat-1"),
		RequestParams: &api.RequestParams{AnalysisMode: api.ModeGeneral}})
	f.seed("b2", api.Task{Status: api.StatusProcessing,
		RequestParams: &api.RequestParams{AnalysisMode: api.ModeTimeBasedMetadata}})
	f.seed("c3", api.Task{Status: api.StatusQueued})

	code, stdout, stderr := run(t, env, "tasks", "list")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	want := localTimes(`ID  STATUS      MODE                 CREATED              CUSTOM_ID
c3  queued      general              {+2m}  -
b2  processing  time_based_metadata  {+1m}  -
a1  ready       general              {+0s}  cat-1
`)
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
	if stderr != "page 1 of 1, 3 tasks\n" {
		t.Errorf("stderr = %q", stderr)
	}
}

func TestTasksListFilters(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	code, _, stderr := run(t, env, "tasks", "list", "--status", "ready", "--page", "2", "--page-limit", "5",
		"--video-url", "https://e.com/v.mp4", "--asset-id", "as1", "--mode", "general")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	want := "analysis_mode=general&asset_id=as1&page=2&page_limit=5&status=ready&video_url=https%3A%2F%2Fe.com%2Fv.mp4"
	if len(f.queries) != 1 || f.queries[0] != want {
		t.Errorf("queries = %q, want %q", f.queries, want)
	}
}

func TestTasksListAll(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	seedTasks(f, 5)
	code, stdout, stderr := run(t, env, "tasks", "list", "--all", "--page-limit", "2")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[1], "t5 ") || !strings.HasPrefix(lines[5], "t1 ") {
		t.Errorf("stdout:\n%s", stdout)
	}
	if len(f.queries) != 3 || stderr != "5 tasks\n" {
		t.Errorf("%d requests, stderr %q; want 3 pages", len(f.queries), stderr)
	}

	code, stdout, _ = run(t, env, "tasks", "list", "--all", "--page-limit", "2", "--json")
	var tasks []api.Task
	if err := json.Unmarshal([]byte(stdout), &tasks); code != 0 || err != nil || len(tasks) != 5 || tasks[0].TaskID != "t5" {
		t.Errorf("--all --json: code %d, %d tasks (%v): %s", code, len(tasks), err, stdout)
	}
}

func TestTasksListJSON(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	seedTasks(f, 2)
	code, stdout, _ := run(t, env, "tasks", "list", "--json")
	var list api.TaskList
	if err := json.Unmarshal([]byte(stdout), &list); code != 0 || err != nil || len(list.Data) != 2 || list.PageInfo.TotalResults != 2 {
		t.Errorf("code %d, %v: %s", code, err, stdout)
	}
}

func TestTasksListBadPageLimit(t *testing.T) {
	t.Parallel()
	_, env := newFakeAPI(t)
	code, _, stderr := run(t, env, "tasks", "list", "--page-limit", "100")
	if code != 1 || !strings.Contains(stderr, "HTTP 400 parameter_invalid: page_limit must be between 1 and 50.") {
		t.Errorf("code %d, stderr %q", code, stderr)
	}
}

func TestTasksGet(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	done := fakeCreated.Add(95 * time.Second)
	f.seed("t1", api.Task{
		Status:        api.StatusReady,
		CustomID:      api.String("cat-1"),
		CompletedAt:   &done,
		VideoSource:   &api.VideoSource{Type: api.SourceURL, URL: "https://e.com/cat.mp4", SystemMetadata: &api.SystemMetadata{Duration: api.Float(12.5)}},
		RequestParams: &api.RequestParams{AnalysisMode: api.ModeGeneral, Prompt: api.String("What\nhappens?"), Temperature: 0.2, MaxTokens: 4096},
		Result:        &api.TaskResult{Data: "A cat jumps.", FinishReason: "stop", Usage: api.Usage{OutputTokens: 4}},
	})
	code, stdout, stderr := run(t, env, "tasks", "get", "t1")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	want := localTimes(`Task:         t1
Status:       ready
Custom ID:    cat-1
Created:      {+0s}
Completed:    {+1m35s} (took 1m35s)
Video:        https://e.com/cat.mp4
Duration:     12.5 s
Mode:         general
Prompt:       What happens?
Temperature:  0.2
Max tokens:   4096
Result:       finish reason stop, 4 output tokens

A cat jumps.
`)
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}

	code, stdout, _ = run(t, env, "tasks", "get", "--json", "t1")
	var task api.Task
	if err := json.Unmarshal([]byte(stdout), &task); code != 0 || err != nil || task.TaskID != "t1" {
		t.Errorf("--json: code %d, %v: %s", code, err, stdout)
	}
}

func TestTasksGetProcessing(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	f.seed("t1", api.Task{Status: api.StatusProcessing, Progress: &api.Progress{Stage: "generating", Percent: 70}})
	code, stdout, _ := run(t, env, "tasks", "get", "t1")
	if code != 0 || !strings.Contains(stdout, "Status:   processing (generating, 70%)\n") {
		t.Errorf("code %d, stdout:\n%s", code, stdout)
	}
}

func TestTasksGetNotFound(t *testing.T) {
	t.Parallel()
	_, env := newFakeAPI(t)
	code, stdout, stderr := run(t, env, "tasks", "get", "nope")
	if code != 1 || stdout != "" || stderr != "framewise tasks: HTTP 404 resource_not_exist: Task nope does not exist.\n" {
		t.Errorf("code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestTasksDelete(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	f.seed("t1", api.Task{Status: api.StatusReady})
	f.seed("t2", api.Task{Status: api.StatusProcessing})

	if code, stdout, stderr := run(t, env, "tasks", "delete", "t1"); code != 0 || stdout != "deleted t1\n" {
		t.Errorf("code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, ok := f.tasks["t1"]; ok {
		t.Error("t1 still exists")
	}
	code, _, stderr := run(t, env, "tasks", "delete", "t2")
	if code != 1 || !strings.Contains(stderr, "HTTP 409") || !strings.Contains(stderr, "framewise tasks wait t2") {
		t.Errorf("processing: code %d, stderr %q", code, stderr)
	}
	if code, _, stderr := run(t, env, "tasks", "delete", "t1"); code != 1 || !strings.Contains(stderr, "HTTP 404") {
		t.Errorf("deleted twice: code %d, stderr %q", code, stderr)
	}
}

func TestTasksWait(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	f.seed("t1",
		api.Task{Status: api.StatusProcessing, Progress: &api.Progress{Stage: "probing", Percent: 5}},
		api.Task{Status: api.StatusReady, Result: &api.TaskResult{Data: "done\n"}})
	f.seed("t2", api.Task{Status: api.StatusFailed, Error: &api.TaskError{Message: "The video could not be decoded."}})

	code, stdout, stderr := run(t, env, "tasks", "wait", "t1")
	if code != 0 || stdout != "done\n" || stderr != "status: processing (probing, 5%)\nstatus: ready\n" {
		t.Errorf("code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, env, "tasks", "wait", "t2", "--json")
	if code != 1 || !strings.Contains(stderr, "task t2 failed: The video could not be decoded.") {
		t.Errorf("failed: code %d, stderr %q", code, stderr)
	}
	var task api.Task
	if err := json.Unmarshal([]byte(stdout), &task); err != nil || task.Status != api.StatusFailed {
		t.Errorf("failed --json: stdout %q (%v), want the failed task", stdout, err)
	}
}

func TestTasksUsage(t *testing.T) {
	t.Parallel()
	_, env := newFakeAPI(t)
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{[]string{"tasks"}, 2, "missing command"},
		{[]string{"tasks", "frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"tasks", "get"}, 2, "missing task ID"},
		{[]string{"tasks", "get", "a", "b"}, 2, "one task ID at a time"},
		{[]string{"tasks", "delete", "a", "--json"}, 2, "flag provided but not defined: -json"},
		{[]string{"tasks", "list", "extra"}, 2, "takes no arguments"},
		{[]string{"tasks", "list", "--page", "x"}, 2, `invalid value "x" for flag -page`},
		{[]string{"tasks", "-h"}, 0, "framewise tasks list [--status S]"},
		{[]string{"tasks", "wait", "-h"}, 0, "Usage: framewise tasks wait ID"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			code, _, stderr := run(t, env, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("code %d, stderr %q; want %d and %q", code, stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
}

// localTimes replaces each {+DURATION} of s by the time fakeCreated+DURATION
// as the CLI shows it (local time, so that tests pass in every zone).
func localTimes(s string) string {
	return regexp.MustCompile(`\{\+([0-9a-z.]+)\}`).ReplaceAllStringFunc(s, func(m string) string {
		d, err := time.ParseDuration(m[2 : len(m)-1])
		if err != nil {
			panic(err)
		}
		return formatTime(fakeCreated.Add(d))
	})
}

func TestFormatTime(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 5, 900e6, time.UTC)
	if got, want := formatTime(at), at.Local().Format("2006-01-02 15:04:05"); got != want {
		t.Errorf("formatTime = %q, want %q", got, want)
	}
	if got := formatTime(time.Time{}); got != "-" {
		t.Errorf("zero time = %q", got)
	}
}

func TestTasksListFailed(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	f.seed("a1", api.Task{Status: api.StatusReady, Error: &api.TaskError{Message: "The output reached max_tokens (512) and was truncated."}})
	f.seed("b2", api.Task{Status: api.StatusFailed, Error: &api.TaskError{Message: "The video is 2.0 s long;\nthe minimum is 4 s."}})
	f.seed("c3", api.Task{Status: api.StatusFailed, Error: &api.TaskError{Message: "The video could not be decoded: " + strings.Repeat("x", 100)}})
	f.seed("d4", api.Task{Status: api.StatusFailed})

	code, stdout, stderr := run(t, env, "tasks", "list", "--status", "failed")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	want := localTimes(`ID  STATUS  MODE     CREATED              CUSTOM_ID  ERROR
d4  failed  general  {+3m}  -          -
c3  failed  general  {+2m}  -          The video could not be decoded: xxxxxxxxxxxxxxxxxxxxxxxxxxx…
b2  failed  general  {+1m}  -          The video is 2.0 s long; the minimum is 4 s.
`)
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}

	// no ERROR column without a failed task to explain; a warning of a
	// ready task is not an error
	_, stdout, _ = run(t, env, "tasks", "list", "--status", "ready")
	if strings.Contains(stdout, "ERROR") || strings.Contains(stdout, "max_tokens") {
		t.Errorf("ready tasks:\n%s", stdout)
	}
	// --all lists the same way
	_, stdout, _ = run(t, env, "tasks", "list", "--all", "--page-limit", "1")
	if !strings.Contains(stdout, "ERROR") || !strings.Contains(stdout, "the minimum is 4 s.") {
		t.Errorf("--all:\n%s", stdout)
	}
}

// segmentTask is a ready time_based_metadata task with two definitions.
func segmentTask(data string) api.Task {
	return api.Task{
		Status: api.StatusReady,
		RequestParams: &api.RequestParams{AnalysisMode: api.ModeTimeBasedMetadata, ResponseFormat: &api.ResponseFormat{
			Type: "segment_definitions",
			SegmentDefinitions: []api.SegmentDefinition{
				{ID: "scenes", Description: "each scene", Fields: []api.SegmentField{{Name: "summary", Type: "string"}, {Name: "people", Type: "array"}, {Name: "score", Type: "number"}}},
				{ID: "black", Description: "black frames"},
			}}},
		Result: &api.TaskResult{Data: data, FinishReason: "stop"},
	}
}

const segmentData = `{"scenes":[` +
	`{"start_time":0,"end_time":12.5,"metadata":{"summary":"A man walks\ninto a bar","people":["Ann","Bob"],"score":0.9}},` +
	`{"start_time":12.5,"end_time":30,"metadata":{"score":1,"summary":"` + "A very long description that goes on and on about the scene" + `","mood":"calm"},"framewise_evidence":"model"}],` +
	`"black":[]}`

const segmentTablesOut = `scenes: 2 segments
  start  end   summary                                   people    score  mood
  0      12.5  A man walks into a bar                    Ann, Bob  0.9    -
  12.5   30    A very long description that goes on an…  -         1      calm

black: no segments
`

func TestTasksGetSegments(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	f.seed("t1", segmentTask(segmentData))
	code, stdout, stderr := run(t, env, "tasks", "get", "t1")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	if !strings.HasSuffix(stdout, "Result:           finish reason stop, 0 output tokens\n\n"+segmentTablesOut) {
		t.Errorf("stdout:\n%s\nwant it to end with:\n%s", stdout, segmentTablesOut)
	}
	code, stdout, _ = run(t, env, "tasks", "get", "t1", "--json")
	var task api.Task
	if err := json.Unmarshal([]byte(stdout), &task); code != 0 || err != nil || task.Result.Data != segmentData {
		t.Errorf("--json: code %d (%v): %s", code, err, stdout)
	}
}

func TestWriteResult(t *testing.T) {
	t.Parallel()
	schema := &api.RequestParams{AnalysisMode: api.ModeGeneral, ResponseFormat: &api.ResponseFormat{Type: "json_schema"}}
	tests := []struct {
		name string
		task api.Task
		want string
	}{
		{"segments", segmentTask(segmentData), segmentTablesOut},
		{"segments in clock format", segmentTask(`{"scenes":[{"start_time":"00:00:00","end_time":"00:01:02.500","metadata":{}}],"black":[{"start_time":"00:00:03","end_time":"00:00:04"}]}`),
			"scenes: 1 segment\n  start     end           summary  people  score\n  00:00:00  00:01:02.500  -        -       -\n\nblack: 1 segment\n  start     end\n  00:00:03  00:00:04\n"},
		{"segments without definitions", api.Task{RequestParams: &api.RequestParams{AnalysisMode: api.ModeTimeBasedMetadata},
			Result: &api.TaskResult{Data: `{"b":[{"start_time":1,"end_time":2,"metadata":{"z":true,"a":null}}],"a":[]}`}},
			"b: 1 segment\n  start  end  z     a\n  1      2    true  -\n\na: no segments\n"},
		{"segments cut at max_tokens", segmentTask(`{"scenes":[{"start_time":0,"end_ti`), `{"scenes":[{"start_time":0,"end_ti` + "\n"},
		{"segments not an object", segmentTask(`[1,2]`), "[1,2]\n"},
		{"json_schema", api.Task{RequestParams: schema, Result: &api.TaskResult{Data: `{"title":"Cats","tags":["a","b"]}`}},
			"{\n  \"title\": \"Cats\",\n  \"tags\": [\n    \"a\",\n    \"b\"\n  ]\n}\n"},
		{"json_schema cut", api.Task{RequestParams: schema, Result: &api.TaskResult{Data: `{"title":"Ca`}}, "{\"title\":\"Ca\n"},
		{"pegasus1.2 JSON", api.Task{Result: &api.TaskResult{Data: ` {"a":1}`}}, "{\n  \"a\": 1\n}\n"},
		{"text", api.Task{RequestParams: &api.RequestParams{AnalysisMode: api.ModeGeneral}, Result: &api.TaskResult{Data: `{"a":1} is JSON`}}, "{\"a\":1} is JSON\n"},
		{"text ending in newline", api.Task{Result: &api.TaskResult{Data: "done\n"}}, "done\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := writeResult(&b, &tt.task); err != nil || b.String() != tt.want {
				t.Errorf("writeResult = %q (%v)\nwant          %q", b.String(), err, tt.want)
			}
		})
	}
}

func TestTasksWaitSegments(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	f.seed("t1", api.Task{Status: api.StatusProcessing}, segmentTask(segmentData))
	code, stdout, stderr := run(t, env, "tasks", "wait", "t1")
	if code != 0 || stdout != segmentTablesOut {
		t.Errorf("code %d, stderr %q, stdout:\n%s\nwant:\n%s", code, stderr, stdout, segmentTablesOut)
	}
}
