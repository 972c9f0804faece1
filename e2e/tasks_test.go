package e2e

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
)

func TestBase64TaskLifecycle(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	c := srv.client()
	ctx := waitCtx(t, 60*time.Second)
	video := makeVideo(t, "ok", 6, 640, 360)

	created, err := c.CreateTask(ctx, &api.CreateTaskRequest{
		Video:    &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, video)},
		Prompt:   api.String("What happens in this video?"),
		CustomID: api.String("lifecycle-1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if created.Status != api.StatusQueued || len(created.TaskID) != 24 {
		t.Fatalf("create = %+v, want queued with a 24-char id", created)
	}
	var seen []string
	done, err := c.Wait(ctx, created.TaskID, append(fastWait(), client.OnUpdate(func(tk *api.Task) {
		if len(seen) == 0 || seen[len(seen)-1] != tk.Status {
			seen = append(seen, tk.Status)
		}
	}))...)
	if err != nil {
		t.Fatalf("wait: %v (statuses %v)", err, seen)
	}
	if done.Status != api.StatusReady || done.Result == nil || done.CompletedAt == nil {
		t.Fatalf("task = %+v", done)
	}
	if !strings.HasPrefix(done.Result.Data, "Produced by the framewise built-in engine") {
		t.Errorf("data does not start with the built-in header: %q", done.Result.Data)
	}
	if !strings.Contains(done.Result.Data, "640x360") {
		t.Errorf("data lacks the probed resolution: %q", done.Result.Data)
	}
	if done.Result.FinishReason != "stop" || done.Result.Usage.OutputTokens != len(strings.Fields(done.Result.Data)) {
		t.Errorf("finish_reason %q, output_tokens %d", done.Result.FinishReason, done.Result.Usage.OutputTokens)
	}
	if !strings.HasPrefix(done.Result.GenerationID, "gen_") {
		t.Errorf("generation_id %q", done.Result.GenerationID)
	}
	if done.CustomID == nil || *done.CustomID != "lifecycle-1" {
		t.Errorf("custom_id %v", done.CustomID)
	}
	if done.VideoSource == nil || done.VideoSource.Type != api.SourceBase64 || done.VideoSource.SystemMetadata == nil ||
		*done.VideoSource.SystemMetadata.Duration < 5.9 || *done.VideoSource.SystemMetadata.Duration > 6.1 {
		t.Errorf("video_source %+v", done.VideoSource)
	}
	if done.Error != nil || done.RequestParams != nil {
		t.Errorf("ready pegasus1.2 task has error %v / request_params %v", done.Error, done.RequestParams)
	}
	for i := 1; i < len(seen); i++ {
		if rank(seen[i]) <= rank(seen[i-1]) {
			t.Errorf("status went backwards: %v", seen)
		}
	}

	if err := c.DeleteTask(ctx, created.TaskID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetTask(ctx, created.TaskID); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	var ae *client.APIError
	if err := c.DeleteTask(ctx, created.TaskID); !errors.As(err, &ae) || ae.StatusCode != 404 || ae.Code != api.CodeResourceNotExist {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(srv.dataDir, "blobs", "tasks", created.TaskID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("task files remain after delete: %v", err)
	}
}

func rank(s string) int {
	return map[string]int{"queued": 0, "pending": 1, "processing": 2, "ready": 3, "failed": 3}[s]
}

func TestVideoRequirements(t *testing.T) {
	t.Parallel()
	short := makeVideo(t, "short", 2, 640, 360)
	small := makeVideo(t, "small", 5, 320, 240)
	media := startMediaServer(t, map[string]string{"short.mp4": short})
	srv := startServer(t, t.TempDir())
	c := srv.client()
	ctx := waitCtx(t, 60*time.Second)

	// base64: rejected at create with a message naming the measured value.
	_, err := c.CreateTask(ctx, &api.CreateTaskRequest{
		Video:  &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, small)},
		Prompt: api.String("x"),
	})
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Code != api.CodeVideoInvalid || !strings.Contains(ae.Message, "320x240") {
		t.Fatalf("small base64 video: %v", err)
	}
	list, err := c.ListTasks(ctx, client.ListOptions{})
	if err != nil || len(list.Data) != 0 {
		t.Fatalf("a rejected video left a task: %v %+v", err, list)
	}

	// url: the task fails after probing.
	created, err := c.CreateTask(ctx, &api.CreateTaskRequest{
		Video:  &api.VideoContext{Type: api.SourceURL, URL: media.url + "/short.mp4"},
		Prompt: api.String("x"),
	})
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.Wait(ctx, created.TaskID, fastWait()...)
	if !errors.Is(err, client.ErrTaskFailed) {
		t.Fatalf("wait: %v", err)
	}
	if done.Status != api.StatusFailed || done.Error == nil || !strings.Contains(done.Error.Message, "duration") ||
		!strings.Contains(done.Error.Message, "2") || done.Result != nil || done.CompletedAt == nil {
		t.Fatalf("failed task = %+v (error %+v)", done, done.Error)
	}

	// url not reachable: 404 from the media server fails the task.
	created, err = c.CreateTask(ctx, &api.CreateTaskRequest{
		Video:  &api.VideoContext{Type: api.SourceURL, URL: media.url + "/missing.mp4"},
		Prompt: api.String("x"),
	})
	if err != nil {
		t.Fatal(err)
	}
	done, _ = c.Wait(ctx, created.TaskID, fastWait()...)
	if done == nil || done.Status != api.StatusFailed || !strings.Contains(done.Error.Message, "404") {
		t.Fatalf("missing url task = %+v", done)
	}
}

func TestSSRFGuard(t *testing.T) {
	t.Parallel()
	video := makeVideo(t, "ok", 6, 640, 360)
	media := startMediaServer(t, map[string]string{"v.mp4": video})
	srv := startServer(t, t.TempDir(), "--allow-private-urls=false")
	c := srv.client()
	ctx := waitCtx(t, 60*time.Second)
	created, err := c.CreateTask(ctx, &api.CreateTaskRequest{
		Video:  &api.VideoContext{Type: api.SourceURL, URL: media.url + "/v.mp4"},
		Prompt: api.String("x"),
	})
	if err != nil {
		t.Fatal(err)
	}
	done, _ := c.Wait(ctx, created.TaskID, fastWait()...)
	if done == nil || done.Status != api.StatusFailed || !strings.Contains(done.Error.Message, "allow-private-urls") {
		t.Fatalf("loopback url task = %+v", done)
	}
	media.mu.Lock()
	hits := media.hits
	media.mu.Unlock()
	if hits != 0 {
		t.Fatalf("the guarded server reached the loopback media server %d times", hits)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	ctx := waitCtx(t, 20*time.Second)
	for _, key := range []string{"", "wrong"} {
		c := client.New("http://"+srv.addr, client.WithAPIKey(key))
		_, err := c.GetTask(ctx, "000000000000000000000000")
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.StatusCode != 401 || ae.Code != api.CodeAPIKeyInvalid {
			t.Errorf("key %q: %v", key, err)
		}
	}
	// healthz needs no key.
	resp, err := http.Get("http://" + srv.addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", err, resp)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Api-Version") != "1.3" {
		t.Errorf("X-Api-Version = %q", resp.Header.Get("X-Api-Version"))
	}
}

func TestOpenServerRefusesPublicAddress(t *testing.T) {
	t.Parallel()
	out, err := runBinary(t, "serve", "--addr", "0.0.0.0:0", "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(out, "without an API key") {
		t.Fatalf("serve on 0.0.0.0 without key: err=%v out=%s", err, out)
	}
}

func TestListFiltersAndPagination(t *testing.T) {
	t.Parallel()
	video := makeVideo(t, "ok", 6, 640, 360)
	short := makeVideo(t, "short", 2, 640, 360)
	media := startMediaServer(t, map[string]string{"v.mp4": video, "short.mp4": short})
	srv := startServer(t, t.TempDir())
	c := srv.client()
	ctx := waitCtx(t, 90*time.Second)

	var ids []string
	for i := range 5 {
		u := media.url + "/v.mp4"
		if i == 4 {
			u = media.url + "/short.mp4"
		}
		r, err := c.CreateTask(ctx, &api.CreateTaskRequest{
			Video:  &api.VideoContext{Type: api.SourceURL, URL: u},
			Prompt: api.String("A prompt that is longer than thirty characters, to see the cut"),
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.TaskID)
		time.Sleep(5 * time.Millisecond)
	}
	for _, id := range ids {
		c.Wait(ctx, id, fastWait()...)
	}

	// Newest first, pages disjoint, past the end empty.
	var got []string
	for page := 1; page <= 3; page++ {
		l, err := c.ListTasks(ctx, client.ListOptions{Page: page, PageLimit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if l.PageInfo.TotalResults != 5 || l.PageInfo.TotalPage != 3 || l.PageInfo.Page != page || l.PageInfo.LimitPerPage != 2 {
			t.Fatalf("page_info %+v", l.PageInfo)
		}
		for _, tk := range l.Data {
			got = append(got, tk.TaskID)
		}
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("pages = %v, want %v", got, want)
	}
	l, err := c.ListTasks(ctx, client.ListOptions{Page: 4, PageLimit: 2})
	if err != nil || len(l.Data) != 0 {
		t.Fatalf("page past the end: %v %+v", err, l)
	}

	count := func(o client.ListOptions) int {
		t.Helper()
		o.PageLimit = 50
		l, err := c.ListTasks(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Data)
	}
	for name, tc := range map[string]struct {
		opts client.ListOptions
		want int
	}{
		"status ready":      {client.ListOptions{Status: "ready"}, 4},
		"status failed":     {client.ListOptions{Status: "failed"}, 1},
		"status queued":     {client.ListOptions{Status: "queued"}, 0},
		"video_url":         {client.ListOptions{VideoURL: media.url + "/short.mp4"}, 1},
		"video_url + ready": {client.ListOptions{VideoURL: media.url + "/short.mp4", Status: "ready"}, 0},
		"asset_id":          {client.ListOptions{AssetID: "64f8d2c7e4a1b37f8a9c5d12"}, 0},
		"video_id":          {client.ListOptions{VideoID: "64f8d2c7e4a1b37f8a9c5d12"}, 0},
		"analysis_mode":     {client.ListOptions{AnalysisMode: "general"}, 5},
		"analysis_mode tbm": {client.ListOptions{AnalysisMode: "time_based_metadata"}, 0},
	} {
		if n := count(tc.opts); n != tc.want {
			t.Errorf("%s: %d tasks, want %d", name, n, tc.want)
		}
	}

	var ae *client.APIError
	if _, err := c.ListTasks(ctx, client.ListOptions{PageLimit: 51}); !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Code != api.CodeParameterInvalid {
		t.Errorf("page_limit 51: %v", err)
	}
	if _, err := c.ListTasks(ctx, client.ListOptions{Status: "done"}); !errors.As(err, &ae) || ae.StatusCode != 400 {
		t.Errorf("status done: %v", err)
	}
	// The pager walks every page.
	n := 0
	for _, err := range c.Tasks(ctx, client.ListOptions{PageLimit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 5 {
		t.Errorf("pager saw %d tasks", n)
	}
}

// TestIdempotencyKeyAcrossClients: the Go client and the CLI send
// Idempotency-Key, and the real server creates one task per key.
func TestIdempotencyKeyAcrossClients(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	c := srv.client()
	ctx := waitCtx(t, time.Minute)
	req := &api.CreateTaskRequest{Video: &api.VideoContext{Type: api.SourceURL, URL: "https://media.example/cat.mp4"}, Prompt: api.String("What happens?")}
	a, err := c.CreateTask(ctx, req, client.WithIdempotencyKey("job-7"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.CreateTask(ctx, req, client.WithIdempotencyKey("job-7"))
	if err != nil || b.TaskID != a.TaskID {
		t.Fatalf("second create with the key: %+v %v, want task %s", b, err, a.TaskID)
	}
	req.Prompt = api.String("Who is there?")
	if _, err := c.CreateTask(ctx, req, client.WithIdempotencyKey("job-7")); err == nil || !strings.Contains(err.Error(), "idempotency_key_reused") {
		t.Fatalf("other body with the key: %v", err)
	}

	cli := func(extra ...string) string {
		t.Helper()
		args := append([]string{"analyze", "https://media.example/dog.mp4", "--prompt", "p", "--server", "http://" + srv.addr, "--api-key", testKey}, extra...)
		out, err := runBinary(t, args...)
		if err != nil {
			t.Fatalf("analyze %v: %v\n%s", extra, err, out)
		}
		return strings.TrimSpace(out)
	}
	if x, y := cli("--idempotency-key", "cli-1"), cli("--idempotency-key", "cli-1"); x != y || len(x) != 24 {
		t.Errorf("CLI with one key made %q and %q", x, y)
	}
	if x, y := cli(), cli(); x == y {
		t.Errorf("CLI without a key reused task %s: each run must get its own key", x)
	}
	list, err := c.ListTasks(ctx, client.ListOptions{})
	if err != nil || len(list.Data) != 4 {
		t.Fatalf("%d tasks, want 4 (client, CLI keyed, two CLI unkeyed): %v", len(list.Data), err)
	}
}
