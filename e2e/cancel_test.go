package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
)

const adminKey = "e2e-admin-key"

// longVideo is a 30-minute 640x360 video: a 30 s clip repeated by stream
// copy, so it costs a second to make and minutes to analyze.
func longVideo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	clip, long := filepath.Join(dir, "clip.mp4"), filepath.Join(dir, "long.mp4")
	for _, args := range [][]string{
		{"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=15:duration=30",
			"-c:v", "libx264", "-preset", "ultrafast", "-crf", "40", "-pix_fmt", "yuv420p", clip},
		{"-stream_loop", "59", "-i", clip, "-c", "copy", long},
	} {
		if out, err := exec.Command("ffmpeg", append([]string{"-y", "-v", "error"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out)
		}
	}
	return long
}

// ffmpegIn lists the FFmpeg processes whose command line names a file under dir.
func ffmpegIn(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil || len(files) == 0 {
		t.Skip("no /proc to list processes")
	}
	var found []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte(dir)) && bytes.Contains(b, []byte("ffmpeg")) {
			found = append(found, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return found
}

// TestOperatorCancel: "framewise tasks cancel" stops a task that is being
// analyzed. The task ends failed with the operator's message within a few
// seconds, its FFmpeg is gone, and a second cancel is refused.
func TestOperatorCancel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServer(t, dir, "--admin-key", adminKey)
	c := srv.client()
	media := startMediaServer(t, map[string]string{"long.mp4": longVideo(t)})
	ctx := waitCtx(t, 3*time.Minute)
	r, err := c.CreateTask(ctx, &api.CreateTaskRequest{
		Video:  &api.VideoContext{Type: api.SourceURL, URL: media.url + "/long.mp4"},
		Prompt: api.String("What happens?"),
	})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, r.TaskID, api.StatusProcessing, time.Minute)
	for deadline := time.Now().Add(time.Minute); len(ffmpegIn(t, dir)) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no FFmpeg ever ran on the task's video")
		}
	}

	// The public API still refuses to delete a processing task.
	if err := c.DeleteTask(ctx, r.TaskID); !errors.Is(err, client.ErrConflict) {
		t.Errorf("DELETE of the processing task: %v, want 409", err)
	}

	server := "http://" + srv.addr
	canceled := time.Now()
	out, err := runBinary(t, "tasks", "cancel", r.TaskID, "--server", server, "--admin-key", adminKey)
	if err != nil || out != "canceled "+r.TaskID+": The task was canceled by an operator.\n" {
		t.Fatalf("tasks cancel: %v, output %q", err, out)
	}
	got := waitStatus(t, c, r.TaskID, api.StatusFailed, 5*time.Second)
	if got.Error == nil || got.Error.Message != "The task was canceled by an operator." {
		t.Errorf("failed task's error = %+v", got.Error)
	}
	for len(ffmpegIn(t, dir)) > 0 {
		if time.Since(canceled) > 5*time.Second {
			t.Fatalf("FFmpeg still runs %s after the cancel: %q", time.Since(canceled).Round(time.Millisecond), ffmpegIn(t, dir))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("canceled: failed and FFmpeg gone within %s", time.Since(canceled).Round(time.Millisecond))

	// A final task cannot be canceled; an API key is not an admin key.
	if out, err := runBinary(t, "tasks", "cancel", r.TaskID, "--server", server, "--admin-key", adminKey); err == nil || !strings.Contains(out, "nothing to cancel") {
		t.Errorf("second cancel: %v, output %q", err, out)
	}
	if out, err := runBinary(t, "tasks", "cancel", r.TaskID, "--server", server, "--admin-key", testKey); err == nil || !strings.Contains(out, "check --admin-key") {
		t.Errorf("cancel with an API key: %v, output %q", err, out)
	}
	// Through the SDK (its responses are checked against api/openapi.json).
	admin := client.New(server, client.WithAPIKey(adminKey), client.WithHTTPClient(recordingClient(t)))
	if _, err := admin.CancelTask(ctx, r.TaskID); !errors.Is(err, client.ErrConflict) {
		t.Errorf("CancelTask of the failed task: %v, want 409", err)
	}
	if _, err := admin.CancelTask(ctx, "6760c4a1e4a1b37f8a9c5d12"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("CancelTask of an unknown task: %v, want 404", err)
	}

	// The job does not come back: the task stays failed.
	time.Sleep(time.Second)
	if tk, err := c.GetTask(ctx, r.TaskID); err != nil || tk.Status != api.StatusFailed {
		t.Errorf("task after the cancel: %+v, %v", tk, err)
	}
}
