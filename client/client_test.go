package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
)

// sleeps records the waits a client asked for instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// newTestClient serves h and returns a client for it that does not sleep.
func newTestClient(t *testing.T, h http.Handler, opts ...Option) (*Client, *sleeps) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := New(srv.URL, opts...)
	s := &sleeps{}
	c.sleep = s.sleep
	return c, s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func TestNewBaseURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://127.0.0.1:8700":        "http://127.0.0.1:8700/v1.3",
		"http://127.0.0.1:8700/":       "http://127.0.0.1:8700/v1.3",
		"http://127.0.0.1:8700/v1.3":   "http://127.0.0.1:8700/v1.3",
		"http://127.0.0.1:8700/v1.3/":  "http://127.0.0.1:8700/v1.3",
		" https://api.example.com/x ":  "https://api.example.com/x/v1.3",
		"https://api.example.com/v1.3": "https://api.example.com/v1.3",
	} {
		if got := New(in).BaseURL(); got != want {
			t.Errorf("New(%q).BaseURL() = %q, want %q", in, got, want)
		}
	}
}

func TestAPIErrorParsing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		status      int
		body        string
		wantCode    string
		wantMessage string
		wantIs      error
		wantDetails bool
	}{
		{"flat", 400, `{"code":"parameter_invalid","message":"page_limit must be at most 50","docs_url":"https://x"}`,
			"parameter_invalid", "page_limit must be at most 50", ErrBadRequest, false},
		{"nested", 404, `{"error":{"code":"resource_not_exist","message":"Task abc does not exist."}}`,
			"resource_not_exist", "Task abc does not exist.", ErrNotFound, false},
		{"nested with details", 409, `{"error":{"code":"task_processing","message":"busy","details":{"status":"processing"}}}`,
			"task_processing", "busy", ErrConflict, true},
		{"empty body", 429, ``, "", "", ErrRateLimited, false},
		{"whitespace body", 401, " \n", "", "", ErrUnauthorized, false},
		{"not JSON", 502, "<html>\n<b>Bad   gateway</b></html>", "", "<html> <b>Bad gateway</b></html>", nil, false},
		{"error string", 422, `{"error":"schema keyword maxLength is not supported"}`,
			"", "schema keyword maxLength is not supported", ErrBadRequest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Request-Id", "req-1")
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}), WithMaxRetries(0))
			_, err := c.GetTask(context.Background(), "abc")
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want *APIError", err, err)
			}
			if ae.StatusCode != tt.status || ae.Code != tt.wantCode || ae.Message != tt.wantMessage || ae.RequestID != "req-1" {
				t.Errorf("got %+v, want status %d code %q message %q request id req-1", ae, tt.status, tt.wantCode, tt.wantMessage)
			}
			if (ae.Details != nil) != tt.wantDetails {
				t.Errorf("Details = %v, want present=%v", ae.Details, tt.wantDetails)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(err, %v) = false", tt.wantIs)
			}
			for _, other := range []error{ErrBadRequest, ErrUnauthorized, ErrNotFound, ErrConflict, ErrRateLimited, ErrTaskFailed} {
				if other != tt.wantIs && errors.Is(err, other) {
					t.Errorf("errors.Is(err, %v) = true, want false", other)
				}
			}
			if ae.Error() == "" {
				t.Error("empty Error()")
			}
		})
	}
}

func TestAPIErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *APIError
		want string
	}{
		{&APIError{StatusCode: 404, Code: "resource_not_exist", Message: "no task x", RequestID: "r1"},
			"HTTP 404 resource_not_exist: no task x (request id r1)"},
		{&APIError{StatusCode: 429}, "HTTP 429: Too Many Requests"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestRequestHeadersAndQuery(t *testing.T) {
	t.Parallel()
	var got *http.Request
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		writeJSON(w, 200, api.TaskList{Data: []api.Task{}, PageInfo: api.PageInfo{Page: 2}})
	}), WithAPIKey("secret"), WithUserAgent("test-agent/1"))

	var raw json.RawMessage
	_, err := c.ListTasks(context.Background(), ListOptions{
		Page: 2, PageLimit: 50, Status: "ready", VideoURL: "https://e.com/a b.mp4", AnalysisMode: "general",
	}, WithRawResponse(&raw))
	if err != nil {
		t.Fatal(err)
	}
	if got.URL.Path != "/v1.3/analyze/tasks" {
		t.Errorf("path = %q", got.URL.Path)
	}
	want := "analysis_mode=general&page=2&page_limit=50&status=ready&video_url=https%3A%2F%2Fe.com%2Fa+b.mp4"
	if q := got.URL.Query().Encode(); q != want {
		t.Errorf("query = %q, want %q", q, want)
	}
	if h := got.Header.Get("x-api-key"); h != "secret" {
		t.Errorf("x-api-key = %q", h)
	}
	if h := got.Header.Get("User-Agent"); h != "test-agent/1" {
		t.Errorf("User-Agent = %q", h)
	}
	if h := got.Header.Get("Content-Type"); h != "" {
		t.Errorf("Content-Type on GET = %q, want none", h)
	}
	if !json.Valid(raw) || len(raw) == 0 {
		t.Errorf("raw response = %q", raw)
	}
}

func TestCreateTask(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1.3/analyze/tasks" {
			http.NotFound(w, r)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if k := r.Header.Get("Idempotency-Key"); k != "key-1" {
			t.Errorf("Idempotency-Key = %q", k)
		}
		var req map[string]any
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Error(err)
		}
		if req["prompt"] != "Describe" || req["temperature"] != 0.0 {
			t.Errorf("body = %v", req)
		}
		if _, ok := req["max_tokens"]; ok {
			t.Errorf("unset max_tokens was sent: %v", req)
		}
		writeJSON(w, 202, api.CreateTaskResponse{TaskID: "t1", Status: api.StatusQueued})
	}))
	resp, err := c.CreateTask(context.Background(), &api.CreateTaskRequest{
		Video:       &api.VideoContext{Type: api.SourceURL, URL: "https://e.com/v.mp4"},
		Prompt:      api.String("Describe"),
		Temperature: api.Float(0),
	}, WithIdempotencyKey("key-1"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.TaskID != "t1" || resp.Status != api.StatusQueued {
		t.Errorf("resp = %+v", resp)
	}
}

func TestDeleteTask(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1.3/analyze/tasks/done":
			w.WriteHeader(http.StatusNoContent)
		case "/v1.3/analyze/tasks/ok200":
			w.WriteHeader(http.StatusOK)
		case "/v1.3/analyze/tasks/busy":
			writeJSON(w, 409, api.NestedError{Error: api.ErrorObject{Code: "task_processing", Message: "busy"}})
		default:
			writeJSON(w, 404, api.NestedError{Error: api.ErrorObject{Code: "resource_not_exist", Message: "no"}})
		}
	}))
	ctx := context.Background()
	if err := c.DeleteTask(ctx, "done"); err != nil {
		t.Errorf("204: %v", err)
	}
	if err := c.DeleteTask(ctx, "ok200"); err != nil {
		t.Errorf("200: %v", err)
	}
	if err := c.DeleteTask(ctx, "busy"); !errors.Is(err, ErrConflict) {
		t.Errorf("409: %v, want ErrConflict", err)
	}
	if err := c.DeleteTask(ctx, "gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("404: %v, want ErrNotFound", err)
	}
	if err := c.DeleteTask(ctx, ""); err == nil {
		t.Error("empty id: no error")
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	task := api.Task{TaskID: "t1", Status: api.StatusReady}
	tests := []struct {
		name string
		// statuses answered in turn; 0 closes the connection; the last repeats
		statuses     []int
		retryAfter   string
		call         func(*Client) error
		wantAttempts int
		wantErr      error // nil for success
		wantSleeps   []time.Duration
	}{
		{name: "GET 503 then 200", statuses: []int{503, 200},
			call: getT1, wantAttempts: 2},
		{name: "GET 500 twice then 200", statuses: []int{500, 502, 200},
			call: getT1, wantAttempts: 3},
		{name: "GET gives up after 2 retries", statuses: []int{503},
			call: getT1, wantAttempts: 3, wantErr: errAPI},
		{name: "GET 408 retried", statuses: []int{408, 200},
			call: getT1, wantAttempts: 2},
		{name: "GET 404 not retried", statuses: []int{404},
			call: getT1, wantAttempts: 1, wantErr: ErrNotFound},
		{name: "GET 400 not retried", statuses: []int{400},
			call: getT1, wantAttempts: 1, wantErr: ErrBadRequest},
		{name: "429 honours Retry-After seconds", statuses: []int{429, 200}, retryAfter: "3",
			call: getT1, wantAttempts: 2, wantSleeps: []time.Duration{3 * time.Second}},
		{name: "Retry-After is capped", statuses: []int{503, 200}, retryAfter: "86400",
			call: getT1, wantAttempts: 2, wantSleeps: []time.Duration{maxRetryAfter}},
		{name: "closed connection retried", statuses: []int{0, 200},
			call: getT1, wantAttempts: 2},
		{name: "DELETE retried", statuses: []int{503, 204},
			call: func(c *Client) error { return c.DeleteTask(context.Background(), "t1") }, wantAttempts: 2},
		{name: "POST without key not retried", statuses: []int{503, 202},
			call: createT1(), wantAttempts: 1, wantErr: errAPI},
		{name: "POST with idempotency key retried", statuses: []int{503, 429, 202},
			call: createT1(WithIdempotencyKey("k")), wantAttempts: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var attempts atomic.Int32
			c, sl := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(attempts.Add(1))
				status := tt.statuses[min(n, len(tt.statuses))-1]
				switch {
				case status == 0:
					conn, _, err := w.(http.Hijacker).Hijack()
					if err == nil {
						conn.Close()
					}
				case status >= 200 && status < 300:
					if r.Method == http.MethodPost {
						writeJSON(w, status, api.CreateTaskResponse{TaskID: "t1", Status: "queued"})
					} else if status == 204 {
						w.WriteHeader(status)
					} else {
						writeJSON(w, status, task)
					}
				default:
					if tt.retryAfter != "" {
						w.Header().Set("Retry-After", tt.retryAfter)
					}
					writeJSON(w, status, api.FlatError{Code: "x", Message: http.StatusText(status)})
				}
			}))
			err := tt.call(c)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("err = %v", err)
			case tt.wantErr == errAPI:
				var ae *APIError
				if !errors.As(err, &ae) {
					t.Fatalf("err = %v, want *APIError", err)
				}
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got := int(attempts.Load()); got != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", got, tt.wantAttempts)
			}
			got := sl.all()
			if len(got) != tt.wantAttempts-1 {
				t.Errorf("sleeps = %v, want %d", got, tt.wantAttempts-1)
			}
			if tt.wantSleeps != nil {
				if fmt.Sprint(got) != fmt.Sprint(tt.wantSleeps) {
					t.Errorf("sleeps = %v, want %v", got, tt.wantSleeps)
				}
			} else {
				// exponential backoff 1 s, 2 s with ±20 % jitter
				for i, d := range got {
					base := retryBase << i
					if d < base*8/10 || d > base*12/10 {
						t.Errorf("sleep %d = %v, want %v ±20%%", i, d, base)
					}
				}
			}
		})
	}
}

// errAPI stands for "any *APIError" in TestRetries.
var errAPI = errors.New("any API error")

func getT1(c *Client) error {
	_, err := c.GetTask(context.Background(), "t1")
	return err
}

func createT1(opts ...CallOption) func(*Client) error {
	return func(c *Client) error {
		_, err := c.CreateTask(context.Background(), &api.CreateTaskRequest{Prompt: api.String("p")}, opts...)
		return err
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"5", 5 * time.Second, true},
		{"0", 0, true},
		{"-3", 0, true},
		{now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

// pagedTasks serves n tasks, newest first, in pages of the requested size.
// omitTotal leaves page_info.total_page at 0, as a server that does not
// count would.
func pagedTasks(t *testing.T, n int, omitTotal bool, requests *atomic.Int32) http.Handler {
	t.Helper()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		q := r.URL.Query()
		page, _ := strconv.Atoi(q.Get("page"))
		limit, _ := strconv.Atoi(q.Get("page_limit"))
		if page < 1 || limit < 1 {
			t.Errorf("bad query %q", r.URL.RawQuery)
		}
		if q.Get("status") != "ready" {
			t.Errorf("filter lost on page %d: %q", page, r.URL.RawQuery)
		}
		list := api.TaskList{Data: []api.Task{}, PageInfo: api.PageInfo{Page: page, LimitPerPage: limit, TotalResults: n}}
		if !omitTotal {
			list.PageInfo.TotalPage = (n + limit - 1) / limit
		}
		for i := (page - 1) * limit; i < min(page*limit, n); i++ {
			list.Data = append(list.Data, api.Task{TaskID: fmt.Sprintf("t%02d", i), Status: api.StatusReady})
		}
		writeJSON(w, 200, list)
	})
}

func TestTasksPager(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		n            int
		omitTotal    bool
		stopAfter    int // 0: consume everything
		wantTasks    int
		wantRequests int
	}{
		{name: "three pages", n: 25, wantTasks: 25, wantRequests: 3},
		{name: "exactly full pages", n: 30, wantTasks: 30, wantRequests: 3},
		{name: "no total_page: stops at empty page", n: 25, omitTotal: true, wantTasks: 25, wantRequests: 4},
		{name: "empty list", n: 0, wantTasks: 0, wantRequests: 1},
		{name: "break stops fetching", n: 25, stopAfter: 12, wantTasks: 12, wantRequests: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var requests atomic.Int32
			c, _ := newTestClient(t, pagedTasks(t, tt.n, tt.omitTotal, &requests))
			var ids []string
			for task, err := range c.Tasks(context.Background(), ListOptions{PageLimit: 10, Status: "ready"}) {
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, task.TaskID)
				if len(ids) == tt.stopAfter {
					break
				}
			}
			if len(ids) != tt.wantTasks {
				t.Errorf("got %d tasks, want %d", len(ids), tt.wantTasks)
			}
			for i, id := range ids {
				if want := fmt.Sprintf("t%02d", i); id != want {
					t.Fatalf("task %d = %s, want %s (order or duplicates wrong)", i, id, want)
				}
			}
			if got := int(requests.Load()); got != tt.wantRequests {
				t.Errorf("requests = %d, want %d", got, tt.wantRequests)
			}
		})
	}
}

func TestTasksPagerError(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "2" {
			writeJSON(w, 400, api.FlatError{Code: "parameter_invalid", Message: "bad page"})
			return
		}
		writeJSON(w, 200, api.TaskList{Data: []api.Task{{TaskID: "a"}}, PageInfo: api.PageInfo{Page: 1, TotalPage: 5}})
	}))
	var n int
	var gotErr error
	for _, err := range c.Tasks(context.Background(), ListOptions{}) {
		if err != nil {
			gotErr = err
			continue // the pager must stop by itself
		}
		n++
	}
	if n != 1 || !errors.Is(gotErr, ErrBadRequest) {
		t.Errorf("tasks = %d, err = %v; want 1 task then ErrBadRequest", n, gotErr)
	}
}

// lifecycle serves one task that advances one state per GET.
func lifecycle(states ...api.Task) (http.Handler, *atomic.Int32) {
	var polls atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1.3/analyze/tasks/t1" {
			writeJSON(w, 404, api.NestedError{Error: api.ErrorObject{Code: "resource_not_exist", Message: "no such task"}})
			return
		}
		n := int(polls.Add(1))
		writeJSON(w, 200, states[min(n, len(states))-1])
	}), &polls
}

func TestWaitReady(t *testing.T) {
	t.Parallel()
	h, polls := lifecycle(
		api.Task{TaskID: "t1", Status: api.StatusQueued},
		api.Task{TaskID: "t1", Status: api.StatusProcessing, Progress: &api.Progress{Stage: "sampling", Percent: 40}},
		api.Task{TaskID: "t1", Status: api.StatusProcessing, Progress: &api.Progress{Stage: "generating", Percent: 80}},
		api.Task{TaskID: "t1", Status: api.StatusReady, Result: &api.TaskResult{Data: "a cat", FinishReason: "stop"}},
	)
	c, sl := newTestClient(t, h)
	var seen []string
	task, err := c.Wait(context.Background(), "t1", OnUpdate(func(t *api.Task) {
		s := t.Status
		if t.Progress != nil {
			s += "/" + t.Progress.Stage
		}
		seen = append(seen, s)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if task.Status != api.StatusReady || task.Result == nil || task.Result.Data != "a cat" {
		t.Errorf("task = %+v", task)
	}
	if want := "[queued processing/sampling processing/generating ready]"; fmt.Sprint(seen) != want {
		t.Errorf("updates = %v, want %s", seen, want)
	}
	if polls.Load() != 4 {
		t.Errorf("polls = %d, want 4", polls.Load())
	}
	want := []time.Duration{250 * time.Millisecond, 375 * time.Millisecond, 562500 * time.Microsecond}
	if got := sl.all(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("poll delays = %v, want %v", got, want)
	}
}

func TestWaitBackoffCap(t *testing.T) {
	t.Parallel()
	states := make([]api.Task, 12)
	for i := range states {
		states[i] = api.Task{TaskID: "t1", Status: api.StatusProcessing}
	}
	states = append(states, api.Task{TaskID: "t1", Status: api.StatusReady})
	h, _ := lifecycle(states...)
	c, sl := newTestClient(t, h)
	if _, err := c.Wait(context.Background(), "t1", WithMaxPollInterval(2*time.Second), WithPollInterval(time.Second), WithBackoffFactor(2)); err != nil {
		t.Fatal(err)
	}
	got := sl.all()
	want := "[1s 2s 2s 2s 2s 2s 2s 2s 2s 2s 2s 2s]"
	if fmt.Sprint(got) != want {
		t.Errorf("delays = %v, want %s", got, want)
	}

	h, _ = lifecycle(states...)
	c, sl = newTestClient(t, h)
	if _, err := c.Wait(context.Background(), "t1"); err != nil {
		t.Fatal(err)
	}
	got = sl.all()
	if last := got[len(got)-1]; last != DefaultMaxPollInterval {
		t.Errorf("default delays = %v, want capped at %v", got, DefaultMaxPollInterval)
	}
}

func TestWaitFailed(t *testing.T) {
	t.Parallel()
	h, _ := lifecycle(
		api.Task{TaskID: "t1", Status: api.StatusPending},
		api.Task{TaskID: "t1", Status: api.StatusFailed, Error: &api.TaskError{Message: "video duration exceeds 7200 s"}},
	)
	c, _ := newTestClient(t, h)
	task, err := c.Wait(context.Background(), "t1")
	if !errors.Is(err, ErrTaskFailed) {
		t.Fatalf("err = %v, want ErrTaskFailed", err)
	}
	var fe *TaskFailedError
	if !errors.As(err, &fe) || fe.TaskID != "t1" || fe.Message != "video duration exceeds 7200 s" {
		t.Errorf("err = %#v", err)
	}
	if task == nil || task.Status != api.StatusFailed {
		t.Errorf("task = %+v, want the failed task", task)
	}
	if want := "task t1 failed: video duration exceeds 7200 s"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestWaitNotFound(t *testing.T) {
	t.Parallel()
	h, _ := lifecycle(api.Task{})
	c, _ := newTestClient(t, h)
	task, err := c.Wait(context.Background(), "nope")
	if !errors.Is(err, ErrNotFound) || task != nil {
		t.Errorf("task = %v, err = %v; want nil, ErrNotFound", task, err)
	}
}

func TestWaitContextCancel(t *testing.T) {
	t.Parallel()
	h, polls := lifecycle(api.Task{TaskID: "t1", Status: api.StatusProcessing})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := New(srv.URL) // real sleeps
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	start := time.Now()
	task, err := c.Wait(ctx, "t1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if task == nil || task.Status != api.StatusProcessing {
		t.Errorf("task = %+v, want the last polled task", task)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Wait returned after %v, want soon after the deadline", el)
	}
	// 0, 250 ms, 625 ms: two or three polls before the deadline
	if n := polls.Load(); n < 2 || n > 3 {
		t.Errorf("polls = %d", n)
	}
}

func TestRequestContextCancel(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int32
	release := make(chan struct{})
	c, sl := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release) }) // runs before the server closes
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.GetTask(ctx, "t1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if attempts.Load() != 1 || len(sl.all()) != 0 {
		t.Errorf("attempts = %d, sleeps = %v; a cancelled call must not be retried", attempts.Load(), sl.all())
	}
}
