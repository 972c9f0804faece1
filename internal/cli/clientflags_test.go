package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
)

// fakeAPI stands in for a framewise server: just the HTTP surface of the
// task endpoints, with tasks that advance one scripted state per GET.
type fakeAPI struct {
	t      *testing.T
	apiKey string // when set, requests must carry it

	mu       sync.Mutex
	bodies   []map[string]any // bodies of POST /analyze/tasks
	queries  []string         // raw queries of GET /analyze/tasks
	tasks    map[string]*fakeTask
	order    []string   // task ids, oldest first
	script   []api.Task // states of tasks created by POST; TaskID is filled in
	createFn func(w http.ResponseWriter) bool
}

type fakeTask struct {
	states []api.Task
	polls  int
}

func (f *fakeTask) current() api.Task { return f.states[min(f.polls, len(f.states)-1)] }

var fakeCreated = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newFakeAPI serves a fake and returns it with the env that points at it.
func newFakeAPI(t *testing.T) (*fakeAPI, Env) {
	t.Helper()
	f := &fakeAPI{t: t, tasks: map[string]*fakeTask{}}
	f.script = []api.Task{{Status: api.StatusQueued}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1.3/analyze/tasks", f.create)
	mux.HandleFunc("GET /v1.3/analyze/tasks", f.list)
	mux.HandleFunc("GET /v1.3/analyze/tasks/{id}", f.get)
	mux.HandleFunc("DELETE /v1.3/analyze/tasks/{id}", f.delete)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.apiKey != "" && r.Header.Get("x-api-key") != f.apiKey {
			writeTestJSON(w, 401, api.FlatError{Code: api.CodeAPIKeyInvalid, Message: "The API key is invalid."})
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return f, testEnv(map[string]string{"FRAMEWISE_URL": srv.URL})
}

func testEnv(vars map[string]string) Env {
	return Env{
		Getenv: func(k string) string { return vars[k] },
		Stdin:  strings.NewReader(""),
		Stdout: &bytes.Buffer{},
		Stderr: &bytes.Buffer{},
	}
}

// run runs the command line and returns the exit code and both outputs.
func run(t *testing.T, env Env, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	env.Stdout, env.Stderr = &bytes.Buffer{}, &bytes.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code = Run(ctx, args, env)
	return code, env.Stdout.(*bytes.Buffer).String(), env.Stderr.(*bytes.Buffer).String()
}

// seed adds a task that advances through states, oldest first.
func (f *fakeAPI) seed(id string, states ...api.Task) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range states {
		states[i].TaskID = id
		if states[i].CreatedAt.IsZero() {
			states[i].CreatedAt = fakeCreated.Add(time.Duration(len(f.order)) * time.Minute)
		}
	}
	f.tasks[id] = &fakeTask{states: states}
	f.order = append(f.order, id)
}

func (f *fakeAPI) create(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeTestJSON(w, 400, api.NestedError{Error: api.ErrorObject{Code: api.CodeParameterInvalid, Message: err.Error()}})
		return
	}
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	fn := f.createFn
	f.mu.Unlock()
	if fn != nil && fn(w) {
		return
	}
	id := "t" + strconv.Itoa(len(f.order)+1)
	f.seed(id, slices.Clone(f.script)...)
	writeTestJSON(w, 202, api.CreateTaskResponse{TaskID: id, Status: api.StatusQueued})
}

func (f *fakeAPI) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ft, ok := f.tasks[r.PathValue("id")]
	if !ok {
		writeTestJSON(w, 404, api.NestedError{Error: api.ErrorObject{Code: api.CodeResourceNotExist,
			Message: fmt.Sprintf("Task %s does not exist.", r.PathValue("id"))}})
		return
	}
	t := ft.current()
	ft.polls++
	writeTestJSON(w, 200, t)
}

func (f *fakeAPI) list(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, r.URL.RawQuery)
	q := r.URL.Query()
	page, limit := 1, 10
	if v := q.Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}
	if v := q.Get("page_limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	if limit < 1 || limit > 50 {
		writeTestJSON(w, 400, api.FlatError{Code: api.CodeParameterInvalid, Message: "page_limit must be between 1 and 50."})
		return
	}
	var match []api.Task
	for _, id := range slices.Backward(f.order) {
		t := f.tasks[id].current()
		if s := q.Get("status"); s != "" && t.Status != s {
			continue
		}
		match = append(match, t)
	}
	list := api.TaskList{Data: []api.Task{}, PageInfo: api.PageInfo{
		Page: page, LimitPerPage: limit, TotalResults: len(match), TotalPage: (len(match) + limit - 1) / limit,
	}}
	for i := (page - 1) * limit; i < min(page*limit, len(match)); i++ {
		list.Data = append(list.Data, match[i])
	}
	writeTestJSON(w, 200, list)
}

func (f *fakeAPI) delete(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := r.PathValue("id")
	ft, ok := f.tasks[id]
	switch {
	case !ok:
		writeTestJSON(w, 404, api.NestedError{Error: api.ErrorObject{Code: api.CodeResourceNotExist, Message: "Task " + id + " does not exist."}})
	case ft.current().Status == api.StatusProcessing:
		writeTestJSON(w, 409, api.NestedError{Error: api.ErrorObject{Code: api.CodeTaskProcessing, Message: "The task is being processed."}})
	default:
		delete(f.tasks, id)
		f.order = slices.DeleteFunc(f.order, func(s string) bool { return s == id })
		w.WriteHeader(http.StatusNoContent)
	}
}

func (f *fakeAPI) lastBody(t *testing.T) map[string]any {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) == 0 {
		t.Fatal("no task was created")
	}
	return f.bodies[len(f.bodies)-1]
}

func writeTestJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func TestFlagsFirst(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"video.mp4", "--prompt", "x y", "--wait"}, "--prompt|x y|--wait|--|video.mp4"},
		{[]string{"--wait", "video.mp4", "--prompt=x"}, "--wait|--prompt=x|--|video.mp4"},
		{[]string{"-wait", "a", "b"}, "-wait|--|a|b"},
		{[]string{"--temperature", "-1", "v"}, "--temperature|-1|--|v"},
		{[]string{"--nope", "v"}, "--nope|--|v"},
		{[]string{"v", "--", "--prompt"}, "--|v|--prompt"},
		{[]string{"-", "--prompt"}, "--prompt"},
		{[]string{"v", "--wait", "--prompt"}, "--wait|--prompt"},
		{nil, "--"},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.String("prompt", "", "")
		fs.Float64("temperature", 0, "")
		fs.Bool("wait", false, "")
		if got := strings.Join(flagsFirst(fs, tt.args), "|"); got != tt.want {
			t.Errorf("flagsFirst(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

func TestAPIKey(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	f.apiKey = "s3cret"
	f.seed("t1", api.Task{Status: api.StatusQueued})

	code, _, stderr := run(t, env, "tasks", "get", "t1")
	if code != 1 || !strings.Contains(stderr, "api_key_invalid") || !strings.Contains(stderr, "FRAMEWISE_API_KEY") {
		t.Errorf("without key: code %d, stderr %q", code, stderr)
	}
	if code, _, stderr := run(t, env, "tasks", "get", "t1", "--api-key", "s3cret"); code != 0 {
		t.Errorf("--api-key: code %d, stderr %q", code, stderr)
	}
	getenv := env.Getenv
	env.Getenv = func(k string) string {
		if k == "FRAMEWISE_API_KEY" {
			return "s3cret"
		}
		return getenv(k)
	}
	if code, _, stderr := run(t, env, "tasks", "get", "t1"); code != 0 {
		t.Errorf("FRAMEWISE_API_KEY: code %d, stderr %q", code, stderr)
	}
	// -h must not show the key from the environment
	if _, _, stderr := run(t, env, "tasks", "get", "-h"); strings.Contains(stderr, "s3cret") {
		t.Errorf("help shows the API key: %q", stderr)
	}
}

func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	env := testEnv(map[string]string{"FRAMEWISE_URL": url})
	code, _, stderr := run(t, env, "analyze", "https://e.com/v.mp4", "--prompt", "x")
	if code != 1 || !strings.Contains(stderr, "cannot reach the framewise server at "+url) {
		t.Errorf("code %d, stderr %q", code, stderr)
	}
}
