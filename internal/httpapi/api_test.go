package httpapi_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/analysis"
	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/httpapi"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/store"
	"github.com/framewise/framewise/internal/task"
)

// newServer builds the API over the real service, SQLite store and media
// tools, without a queue: jobs are counted instead of enqueued.
func newServer(t *testing.T, keys ...string) (*httptest.Server, *int) {
	t.Helper()
	return newServerOpts(t, httpapi.Options{APIKeys: keys})
}

// newServerOpts is newServer with options (Log and MaxBodyBytes are set).
func newServerOpts(t *testing.T, opts httpapi.Options) (*httptest.Server, *int) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, _ := blob.NewLocal(filepath.Join(dir, "blobs"))
	tool, err := media.New(media.Config{})
	if err != nil {
		t.Fatal(err)
	}
	jobs := new(int)
	tasks := store.NewTasks(db, func(ctx context.Context, tx *sql.Tx, id string) error { *jobs++; return nil })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := task.NewService(tasks, blobs, analysis.Checker{Media: tool}, task.DefaultLimits(), log)
	opts.Log, opts.MaxBodyBytes = log, 1<<20
	if opts.Canceler == nil {
		opts.Canceler = svc
	}
	if opts.Accounts == nil {
		opts.Accounts = store.NewAccounts(db)
	}
	if opts.MediaSigner != nil && opts.MediaBlobs == nil {
		opts.MediaBlobs = blobs
	}
	api := httpapi.New(svc, opts)
	api.SetReady(true)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return srv, jobs
}

func do(t *testing.T, method, url, body string, hdr ...string) (*http.Response, map[string]any) {
	t.Helper()
	resp, raw := doRaw(t, method, url, body, hdr...)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, url, raw)
		}
	}
	return resp, m
}

// doRaw sends a request with header name, value pairs and returns the
// response and its raw body.
func doRaw(t *testing.T, method, url, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

// code returns the error code of a flat or nested body, and which shape it was.
func code(m map[string]any) (string, string) {
	if e, ok := m["error"].(map[string]any); ok {
		c, _ := e["code"].(string)
		return c, "nested"
	}
	c, _ := m["code"].(string)
	return c, "flat"
}

func TestErrorsByEndpoint(t *testing.T) {
	t.Parallel()
	srv, jobs := newServer(t)
	u := srv.URL
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code, shape              string
	}{
		{"malformed json", "POST", "/v1.3/analyze/tasks", `{"video":`, 400, "parameter_invalid", "nested"},
		{"not an object", "POST", "/v1.3/analyze/tasks", `[1,2]`, 400, "parameter_invalid", "nested"},
		{"empty body", "POST", "/v1.3/analyze/tasks", ``, 400, "parameter_invalid", "nested"},
		{"unknown key", "POST", "/v1.3/analyze/tasks", `{"video":{"type":"url","url":"https://x.test/a.mp4"},"prompt":"p","colour":1}`, 400, "parameter_unknown", "nested"},
		{"missing video", "POST", "/v1.3/analyze/tasks", `{"prompt":"p"}`, 400, "parameter_not_provided", "nested"},
		{"asset not found", "POST", "/v1.3/analyze/tasks", `{"video":{"type":"asset_id","asset_id":"64f8d2c7e4a1b37f8a9c5d12"},"prompt":"p"}`, 400, "resource_not_exist", "nested"},
		{"too large", "POST", "/v1.3/analyze/tasks", `{"prompt":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "request_too_large", "nested"},
		{"bad base64", "POST", "/v1.3/analyze/tasks", `{"video":{"type":"base64_string","base64_string":"!!!"},"prompt":"p"}`, 400, "parameter_invalid", "nested"},
		{"base64 not a video", "POST", "/v1.3/analyze/tasks", `{"video":{"type":"base64_string","base64_string":"aGVsbG8gd29ybGQ="},"prompt":"p"}`, 400, "video_invalid", "nested"},
		{"get unknown", "GET", "/v1.3/analyze/tasks/nope", ``, 404, "resource_not_exist", "nested"},
		{"delete unknown", "DELETE", "/v1.3/analyze/tasks/nope", ``, 404, "resource_not_exist", "nested"},
		{"list page 0", "GET", "/v1.3/analyze/tasks?page=0", ``, 400, "parameter_invalid", "flat"},
		{"list page_limit 51", "GET", "/v1.3/analyze/tasks?page_limit=51", ``, 400, "parameter_invalid", "flat"},
		{"list page_limit x", "GET", "/v1.3/analyze/tasks?page_limit=x", ``, 400, "parameter_invalid", "flat"},
		{"list bad status", "GET", "/v1.3/analyze/tasks?status=done", ``, 400, "parameter_invalid", "flat"},
		{"list bad mode", "GET", "/v1.3/analyze/tasks?analysis_mode=x", ``, 400, "parameter_invalid", "flat"},
		{"wrong method", "PUT", "/v1.3/analyze/tasks", ``, 405, "method_not_allowed", "flat"},
		{"wrong method on task", "POST", "/v1.3/analyze/tasks/abc", ``, 405, "method_not_allowed", "flat"},
		{"no route", "GET", "/v1.3/nothing", ``, 404, "not_found", "flat"},
		{"trailing slash is served", "GET", "/v1.3/analyze/tasks/", ``, 200, "", "flat"},
		{"double slash is served", "GET", "//v1.3//analyze/tasks/nope", ``, 404, "resource_not_exist", "nested"},
		{"dot segments are served", "DELETE", "/v1.3/analyze/./x/../tasks/nope", ``, 404, "resource_not_exist", "nested"},
	} {
		resp, m := do(t, tc.method, u+tc.path, tc.body, "Content-Type", "application/json")
		c, sh := code(m)
		if resp.StatusCode != tc.status || c != tc.code || sh != tc.shape {
			t.Errorf("%s: %d %s (%s), want %d %s (%s); body %v", tc.name, resp.StatusCode, c, sh, tc.status, tc.code, tc.shape, m)
		}
		if resp.Header.Get("X-Api-Version") != "1.3" || resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: headers %v", tc.name, resp.Header)
		}
	}
	if *jobs != 0 {
		t.Errorf("%d jobs enqueued by refused requests", *jobs)
	}
	// Nothing was stored by the refused requests.
	resp, m := do(t, "GET", u+"/v1.3/analyze/tasks", "")
	if resp.StatusCode != 200 || len(m["data"].([]any)) != 0 {
		t.Fatalf("list after refusals: %d %v", resp.StatusCode, m)
	}
}

func TestCreateEnqueuesOnceAndEchoes(t *testing.T) {
	t.Parallel()
	srv, jobs := newServer(t, "k1", "k2")
	body := `{"model_name":"pegasus1.5","video":{"type":"url","url":"https://media.example/v.mp4"},
		"prompt":"Describe every scene of this video in detail, please","temperature":null}`
	resp, m := do(t, "POST", srv.URL+"/v1.3/analyze/tasks", body, "x-api-key", "k2")
	if resp.StatusCode != 202 || m["status"] != "queued" || len(m["task_id"].(string)) != 24 {
		t.Fatalf("create: %d %v", resp.StatusCode, m)
	}
	if *jobs != 1 {
		t.Fatalf("jobs = %d", *jobs)
	}
	id := m["task_id"].(string)
	_, got := do(t, "GET", srv.URL+"/v1.3/analyze/tasks/"+id, "", "x-api-key", "k1")
	rp := got["request_params"].(map[string]any)
	if got["custom_id"] != nil || got["status"] != "queued" || got["completed_at"] != nil || got["result"] != nil ||
		rp["temperature"] != 0.2 || rp["max_tokens"] != float64(4096) || rp["analysis_mode"] != "general" {
		t.Fatalf("retrieve: %v", got)
	}
	if _, ok := got["custom_id"]; !ok {
		t.Error("custom_id must be present (null) when unset")
	}
	_, list := do(t, "GET", srv.URL+"/v1.3/analyze/tasks", "", "x-api-key", "k1")
	item := list["data"].([]any)[0].(map[string]any)
	if p := item["request_params"].(map[string]any)["prompt"]; p != "Describe every scene of this v" {
		t.Errorf("list prompt not cut to 30 characters: %q", p)
	}
	resp, m = do(t, "GET", srv.URL+"/v1.3/analyze/tasks", "", "x-api-key", "k3")
	if c, sh := code(m); resp.StatusCode != 401 || c != "api_key_invalid" || sh != "flat" {
		t.Errorf("wrong key: %d %v", resp.StatusCode, m)
	}
}

// newAccount creates an account through the admin routes and returns its key.
func newAccount(t *testing.T, base, adminKey, name string) string {
	t.Helper()
	resp, m := do(t, "POST", base+"/admin/v1/accounts", `{"name":"`+name+`"}`, "x-api-key", adminKey)
	key, _ := m["api_key"].(string)
	if resp.StatusCode != 201 || key == "" {
		t.Fatalf("create account %s: %d %v", name, resp.StatusCode, m)
	}
	return key
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	srv, jobs := newServerOpts(t, httpapi.Options{APIKeys: []string{"k1", "k2"}, AdminKeys: []string{"root"}})
	u := srv.URL + "/v1.3/analyze/tasks"
	body := `{"video":{"type":"url","url":"https://media.example/v.mp4"},"prompt":"What happens?"}`
	acme := newAccount(t, srv.URL, "root", "acme")
	post := func(body, apiKey string, idem ...string) (*http.Response, map[string]any) {
		hdr := []string{"x-api-key", apiKey}
		for _, k := range idem {
			hdr = append(hdr, "Idempotency-Key", k)
		}
		return do(t, "POST", u, body, hdr...)
	}

	resp, first := post(body, "k1", "order-42")
	if resp.StatusCode != 202 || resp.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %v %v", resp.StatusCode, resp.Header, first)
	}
	resp, again := post(body, "k1", "order-42")
	if resp.StatusCode != 202 || again["task_id"] != first["task_id"] || again["status"] != "queued" ||
		resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %v, want task %v", resp.StatusCode, again, first["task_id"])
	}
	if *jobs != 1 {
		t.Fatalf("%d jobs after a replay, want 1", *jobs)
	}

	// Another body under the same key is refused and creates nothing.
	resp, m := post(strings.Replace(body, "What", "Who", 1), "k1", "order-42")
	if c, sh := code(m); resp.StatusCode != 422 || c != "idempotency_key_reused" || sh != "nested" ||
		!strings.Contains(m["error"].(map[string]any)["message"].(string), first["task_id"].(string)) {
		t.Fatalf("other body: %d %v", resp.StatusCode, m)
	}
	// Keys belong to the account that sent them: another key of the same
	// account replays, another account's key creates its own task.
	resp, same := post(body, "k2", "order-42")
	if resp.StatusCode != 202 || same["task_id"] != first["task_id"] {
		t.Fatalf("other key of the account: %d %v", resp.StatusCode, same)
	}
	resp, other := post(body, acme, "order-42")
	if resp.StatusCode != 202 || other["task_id"] == first["task_id"] {
		t.Fatalf("other account: %d %v", resp.StatusCode, other)
	}
	// A refused request does not use up its key.
	if resp, m := post(`{"prompt":"p"}`, "k1", "fresh"); resp.StatusCode != 400 {
		t.Fatalf("bad body: %d %v", resp.StatusCode, m)
	}
	if resp, m := post(body, "k1", "fresh"); resp.StatusCode != 202 || resp.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("key after a refused request: %d %v", resp.StatusCode, m)
	}
	// Malformed keys.
	for _, k := range []string{"", strings.Repeat("x", 256), "tab\there"} {
		resp, m := post(body, "k1", k)
		if c, _ := code(m); resp.StatusCode != 400 || c != "parameter_invalid" {
			t.Errorf("key %q: %d %v", k, resp.StatusCode, m)
		}
	}
	req, _ := http.NewRequest("POST", u, strings.NewReader(body))
	req.Header.Set("x-api-key", "k1")
	req.Header.Add("Idempotency-Key", "a")
	req.Header.Add("Idempotency-Key", "b")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Errorf("two keys: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if *jobs != 3 {
		t.Errorf("%d jobs, want 3 (first, other API key, fresh)", *jobs)
	}
}

// Concurrent requests with one key create one task: the store's unique
// record decides, and the losers answer with the winner's task.
func TestIdempotencyKeyConcurrent(t *testing.T) {
	t.Parallel()
	srv, jobs := newServer(t)
	body := `{"video":{"type":"url","url":"https://media.example/v.mp4"},"prompt":"p"}`
	const n = 8
	ids := make(chan any, n)
	for range n {
		go func() {
			req, _ := http.NewRequest("POST", srv.URL+"/v1.3/analyze/tasks", strings.NewReader(body))
			req.Header.Set("Idempotency-Key", "same")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				ids <- err
				return
			}
			defer resp.Body.Close()
			var m map[string]any
			json.NewDecoder(resp.Body).Decode(&m)
			ids <- m["task_id"]
		}()
	}
	var first any
	for i := range n {
		id := <-ids
		if i == 0 {
			first = id
		}
		if _, ok := id.(string); !ok || id != first {
			t.Fatalf("answer %d: %v, first %v", i, id, first)
		}
	}
	_, list := do(t, "GET", srv.URL+"/v1.3/analyze/tasks", "")
	if got := len(list["data"].([]any)); got != 1 || *jobs != 1 {
		t.Fatalf("%d tasks and %d jobs, want 1 and 1", got, *jobs)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 10, 0, 15, 0, time.UTC) // 45 s before the window resets
	srv, _ := newServerOpts(t, httpapi.Options{APIKeys: []string{"k1", "k2"}, RateLimit: 3, Now: func() time.Time { return now }, AdminKeys: []string{"root"}})
	list := srv.URL + "/v1.3/analyze/tasks"
	acme := newAccount(t, srv.URL, "root", "acme")
	for i := 1; i <= 3; i++ {
		resp, m := do(t, "GET", list, "", "x-api-key", "k1")
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("X-Ratelimit-Limit") != "3" || h.Get("X-Ratelimit-Used") != strconv.Itoa(i) ||
			h.Get("X-Ratelimit-Remaining") != strconv.Itoa(3-i) {
			t.Fatalf("request %d: %d %v %v", i, resp.StatusCode, h, m)
		}
		if reset := h.Get("X-Ratelimit-Reset"); reset != strconv.FormatInt(now.Add(45*time.Second).Unix(), 10) {
			t.Fatalf("X-Ratelimit-Reset %q", reset)
		}
	}
	// The fourth in the minute is refused, in each endpoint's shape.
	resp, m := do(t, "GET", list, "", "x-api-key", "k1")
	if c, sh := code(m); resp.StatusCode != 429 || c != "too_many_requests" || sh != "flat" ||
		!strings.Contains(m["message"].(string), "3 requests per minute") {
		t.Fatalf("over the limit: %d %v", resp.StatusCode, m)
	}
	if resp.Header.Get("Retry-After") != "45" || resp.Header.Get("X-Ratelimit-Remaining") != "0" {
		t.Fatalf("Retry-After %q, headers %v", resp.Header.Get("Retry-After"), resp.Header)
	}
	resp, m = do(t, "POST", list, `{"video":{"type":"url","url":"https://x.test/a.mp4"},"prompt":"p"}`, "x-api-key", "k1")
	if c, sh := code(m); resp.StatusCode != 429 || c != "too_many_requests" || sh != "nested" {
		t.Fatalf("create over the limit: %d %v", resp.StatusCode, m)
	}
	// The budget is the account's: another key of it is refused too,
	// another account has its own; a wrong key is refused before it
	// counts; /healthz is not limited.
	if resp, m := do(t, "GET", list, "", "x-api-key", "k2"); resp.StatusCode != 429 {
		t.Fatalf("other key of the account: %d %v", resp.StatusCode, m)
	}
	if resp, m := do(t, "GET", list, "", "x-api-key", acme); resp.StatusCode != 200 || resp.Header.Get("X-Ratelimit-Used") != "1" {
		t.Fatalf("other account: %d %v", resp.StatusCode, m)
	}
	if resp, _ := do(t, "GET", list, "", "x-api-key", "nope"); resp.StatusCode != 401 || resp.Header.Get("X-Ratelimit-Used") != "" {
		t.Fatalf("wrong key: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := do(t, "GET", srv.URL+"/healthz", ""); resp.StatusCode != 200 || resp.Header.Get("X-Ratelimit-Limit") != "" {
		t.Fatalf("healthz: %d %v", resp.StatusCode, resp.Header)
	}
	// The next minute starts afresh.
	now = now.Add(45 * time.Second)
	if resp, m := do(t, "GET", list, "", "x-api-key", "k1"); resp.StatusCode != 200 || resp.Header.Get("X-Ratelimit-Used") != "1" {
		t.Fatalf("next minute: %d %v", resp.StatusCode, m)
	}
	// Without a limit there are no rate-limit headers.
	open, _ := newServer(t)
	if resp, _ := do(t, "GET", open.URL+"/v1.3/analyze/tasks", ""); resp.Header.Get("X-Ratelimit-Limit") != "" {
		t.Fatalf("headers without a limit: %v", resp.Header)
	}
}

// TestRootIndex: GET / answers without a key and says where the API, its
// OpenAPI document and the health check are; other methods are 405.
func TestRootIndex(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, "k")
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var idx map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /: %d %v", resp.StatusCode, err)
	}
	if idx["api"] != "/v1.3" || idx["openapi"] != "/v1.3/openapi.json" || idx["health"] != "/healthz" {
		t.Errorf("index %v", idx)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader("{}"))
	req.Header.Set("x-api-key", "k")
	post, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", post.StatusCode)
	}
}
