package e2e

import (
	"errors"
	osexec "os/exec"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
)

// exec runs the framewise binary and returns its combined output.
func runBinary(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := osexec.Command(binary, args...).CombinedOutput()
	collectLog(t, "framewise "+args[0], func() string { return string(out) })
	return string(out), err
}

// waitStatus polls until the task has status want.
func waitStatus(t *testing.T, c *client.Client, id, want string, within time.Duration) *api.Task {
	t.Helper()
	ctx := waitCtx(t, within)
	for {
		tk, err := c.GetTask(ctx, id)
		if err == nil && tk.Status == want {
			return tk
		}
		if ctx.Err() != nil {
			t.Fatalf("task %s never reached %s (last %+v, %v)", id, want, tk, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRestartKeepsEveryTask(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	video := makeVideo(t, "ok", 6, 640, 360)
	srv := startServer(t, dir)
	c := srv.client()
	ctx := waitCtx(t, 90*time.Second)
	before := map[string]*api.Task{}
	for i := range 3 {
		r, err := c.CreateTask(ctx, &api.CreateTaskRequest{
			Video:     &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, video)},
			Prompt:    api.String("describe"),
			ModelName: api.String([]string{"pegasus1.2", "pegasus1.5", "pegasus1.5"}[i]),
		})
		if err != nil {
			t.Fatal(err)
		}
		tk, err := c.Wait(ctx, r.TaskID, fastWait()...)
		if err != nil {
			t.Fatal(err)
		}
		before[r.TaskID] = tk
	}
	srv.stop()

	srv2 := startServer(t, dir)
	c2 := srv2.client()
	for id, want := range before {
		got, err := c2.GetTask(ctx, id)
		if err != nil {
			t.Fatalf("task %s after restart: %v", id, err)
		}
		if got.Status != want.Status || got.Result.Data != want.Result.Data || got.Result.GenerationID != want.Result.GenerationID ||
			!got.CreatedAt.Equal(want.CreatedAt) || !got.CompletedAt.Equal(*want.CompletedAt) {
			t.Errorf("task %s changed across restart:\nbefore %+v\nafter  %+v", id, want, got)
		}
	}
	l, err := c2.ListTasks(ctx, client.ListOptions{})
	if err != nil || l.PageInfo.TotalResults != 3 {
		t.Fatalf("list after restart: %v %+v", err, l)
	}
}

func TestKilledWhileProcessingFinishesAfterRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	video := makeVideo(t, "ok", 6, 640, 360)
	media := startMediaServer(t, map[string]string{"v.mp4": video})
	media.setSlow(true)
	srv := startServer(t, dir)
	c := srv.client()
	ctx := waitCtx(t, 90*time.Second)
	r, err := c.CreateTask(ctx, &api.CreateTaskRequest{
		Video:  &api.VideoContext{Type: api.SourceURL, URL: media.url + "/v.mp4"},
		Prompt: api.String("describe"),
	})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, r.TaskID, api.StatusProcessing, 30*time.Second)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		tk, err := c.GetTask(ctx, r.TaskID)
		if err == nil && tk.Progress != nil && tk.Progress.Stage == "downloading" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processing task never showed stage downloading: %+v %v", tk, err)
		}
	}
	srv.kill()

	media.setSlow(false)
	srv2 := startServer(t, dir)
	done, err := srv2.client().Wait(ctx, r.TaskID, fastWait()...)
	if err != nil {
		t.Fatalf("task after SIGKILL and restart: %v\n%s", err, srv2.logs.String())
	}
	if done.Status != api.StatusReady || !strings.HasPrefix(done.Result.Data, "Produced by the framewise built-in engine") {
		t.Fatalf("task = %+v", done)
	}
	if !strings.Contains(srv2.logs.String(), "job rescued") {
		t.Errorf("the restarted server did not say it rescued the job")
	}
}

func TestDeleteQueuedTaskNeverRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	video := makeVideo(t, "ok", 6, 640, 360)
	media := startMediaServer(t, map[string]string{"v.mp4": video})
	srv := startServer(t, dir, "--workers", "0")
	c := srv.client()
	ctx := waitCtx(t, 60*time.Second)
	r, err := c.CreateTask(ctx, &api.CreateTaskRequest{
		Video:  &api.VideoContext{Type: api.SourceURL, URL: media.url + "/v.mp4"},
		Prompt: api.String("describe"),
	})
	if err != nil {
		t.Fatal(err)
	}
	keep, err := c.CreateTask(ctx, &api.CreateTaskRequest{
		Video:  &api.VideoContext{Type: api.SourceURL, URL: media.url + "/v.mp4?keep"},
		Prompt: api.String("describe"),
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if tk, err := c.GetTask(ctx, r.TaskID); err != nil || tk.Status != api.StatusQueued {
		t.Fatalf("task without workers: %+v %v", tk, err)
	}
	if err := c.DeleteTask(ctx, r.TaskID); err != nil {
		t.Fatal(err)
	}
	srv.stop()

	srv2 := startServer(t, dir)
	c2 := srv2.client()
	if _, err := c2.Wait(ctx, keep.TaskID, fastWait()...); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.GetTask(ctx, r.TaskID); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("deleted task: %v", err)
	}
	media.mu.Lock()
	hits := media.hits
	media.mu.Unlock()
	if hits != 1 {
		t.Errorf("media server was hit %d times; only the kept task should have fetched", hits)
	}
	if !strings.Contains(srv2.logs.String(), "deleted before it ran") {
		t.Errorf("the deleted task's job did not report that it had nothing to do")
	}
}

func TestDeleteWhileProcessingConflicts(t *testing.T) {
	t.Parallel()
	video := makeVideo(t, "ok", 6, 640, 360)
	media := startMediaServer(t, map[string]string{"v.mp4": video})
	media.setSlow(true)
	srv := startServer(t, t.TempDir())
	c := srv.client()
	ctx := waitCtx(t, 60*time.Second)
	r, err := c.CreateTask(ctx, &api.CreateTaskRequest{
		Video:  &api.VideoContext{Type: api.SourceURL, URL: media.url + "/v.mp4"},
		Prompt: api.String("describe"),
	})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, r.TaskID, api.StatusProcessing, 30*time.Second)
	var ae *client.APIError
	if err := c.DeleteTask(ctx, r.TaskID); !errors.As(err, &ae) || ae.StatusCode != 409 || !errors.Is(err, client.ErrConflict) {
		t.Fatalf("delete while processing: %v", err)
	}
	media.setSlow(false)
	if _, err := c.Wait(ctx, r.TaskID, fastWait()...); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTask(ctx, r.TaskID); err != nil {
		t.Fatalf("delete when ready: %v", err)
	}
}
