package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/store"
	"github.com/framewise/framewise/internal/store/storetest"
	"github.com/riverqueue/river"
)

// measureRunner runs measuring passes over its video, as the built-in
// engine does, one after the other until one fails, and reports when it
// started and how it ended.
type measureRunner struct {
	tool    *media.Tool
	path    string
	started chan struct{}
	ended   chan error
}

func (r *measureRunner) Run(ctx context.Context, id string, attempt, maxAttempts int) error {
	close(r.started)
	for {
		if _, err := r.tool.Measure(ctx, r.path, nil, media.MeasureOptions{}); err != nil {
			r.ended <- err
			return err
		}
	}
}

// testLog writes River's warnings and errors into the test's log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// processesOn lists the running processes whose command line names path.
func processesOn(t *testing.T, path string) []string {
	t.Helper()
	files, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil || len(files) == 0 {
		t.Skip("no /proc to list processes")
	}
	var found []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte(path)) {
			found = append(found, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return found
}

// Canceling the task of a running job stops it at once: the run's context
// ends with ErrCanceled, its FFmpeg is gone, and River records the job as
// cancelled, not to be retried.
//
// Through River alone (cancelJobs, as when the job runs in another
// process) the run's context ends with River's ErrJobCancelledRemotely.
func TestCancelRunStopsFFmpeg(t *testing.T) {
	t.Parallel()
	video := filepath.Join(t.TempDir(), "long.mp4")
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=30",
		"-c:v", "libx264", "-preset", "ultrafast", "-crf", "40", "-pix_fmt", "yuv420p", video).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	t.Run("in this process", func(t *testing.T) {
		t.Parallel()
		testCancel(t, video, func(q *Queue) error { return q.CancelRun(context.Background(), "t1") }, ErrCanceled, time.Second)
	})
	t.Run("through River", func(t *testing.T) {
		t.Parallel()
		// River's producers poll for cancellations every 2 s without a notifier.
		testCancel(t, video, func(q *Queue) error { return q.cancelJobs(context.Background(), "t1") }, river.ErrJobCancelledRemotely, 4*time.Second)
	})
}

func testCancel(t *testing.T, shared string, cancelRun func(*Queue) error, wantCause error, within time.Duration) {
	dir := t.TempDir()
	video := filepath.Join(dir, "long.mp4") // its own name, to tell its FFmpeg from the other test's
	if err := os.Link(shared, video); err != nil {
		t.Fatal(err)
	}
	tool, err := media.New(media.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	runner := &measureRunner{tool: tool, path: video, started: make(chan struct{}), ended: make(chan error, 1)}
	q, err := New(ctx, db, runner, Options{Workers: 1, Log: slog.New(slog.NewTextHandler(testLog{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Writer.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(ctx, tx.Tx, "t1"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		q.Stop(sctx)
	})
	select {
	case <-runner.started:
	case <-time.After(20 * time.Second):
		t.Fatal("the job did not start")
	}
	for wait := time.Now().Add(10 * time.Second); len(processesOn(t, video)) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatal("no FFmpeg runs on the video")
		}
	}

	canceled := time.Now()
	if err := cancelRun(q); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-runner.ended:
		if !errors.Is(err, wantCause) {
			t.Errorf("run ended with %v, want %v", err, wantCause)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the run did not stop")
	}
	if took := time.Since(canceled); took > within {
		t.Errorf("the run stopped %s after the cancel", took)
	}
	if procs := processesOn(t, video); len(procs) > 0 && !t.Failed() {
		t.Errorf("processes left on the video: %q", procs)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var state string
		if err := db.Writer.QueryRowContext(ctx, `SELECT state FROM river_job`).Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state == "cancelled" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job state %s, want cancelled", state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Canceling the task of a queued job cancels the job at once: it never
// runs. On both databases: the job is found by its args, in each one's
// JSON dialect.
func TestCancelRunOfQueuedJob(t *testing.T) { storetest.Each(t, testCancelRunOfQueuedJob) }

func testCancelRunOfQueuedJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	q, err := New(ctx, db, nil, Options{Log: slog.New(slog.NewTextHandler(testLog{t}, nil))}) // insert only
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"t1", "t2"} {
		enqueue(t, db, q, id)
	}
	if err := q.CancelRun(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Writer.QueryContext(ctx, `SELECT state FROM river_job ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for i := 1; rows.Next(); i++ {
		var state string
		if err := rows.Scan(&state); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("t%d %s", i, state))
	}
	if want := "t1 cancelled, t2 available"; strings.Join(got, ", ") != want {
		t.Errorf("jobs: %s, want %s", strings.Join(got, ", "), want)
	}
}
