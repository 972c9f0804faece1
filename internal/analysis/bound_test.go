package analysis

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/engine"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/task"
)

// measureEngine runs the measuring pass, the heavy part of the built-in engine.
type measureEngine struct{ tool *media.Tool }

func (measureEngine) Name() string { return "measure" }
func (e measureEngine) Analyze(ctx context.Context, in engine.Input) (*engine.Output, error) {
	if _, err := e.tool.Measure(ctx, in.VideoPath, in.Info, media.MeasureOptions{}); err != nil {
		return nil, err
	}
	return &engine.Output{Data: "measured"}, nil
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

// slowTask stores a 60 s video and returns a pipeline that measures it
// with the measuring engine, and the stored file's path.
func slowTask(t *testing.T) (*Pipeline, *fakeTasks, string) {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "long.mp4")
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=60",
		"-c:v", "libx264", "-preset", "ultrafast", "-crf", "40", "-pix_fmt", "yuv420p", src).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	blobs, err := blob.NewLocal(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(src)
	defer f.Close()
	if _, err := blobs.Put(context.Background(), "sources/t1", f); err != nil {
		t.Fatal(err)
	}
	path, release, err := blobs.LocalPath(context.Background(), "sources/t1")
	if err != nil {
		t.Fatal(err)
	}
	release()
	tool, err := media.New(media.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tasks := &fakeTasks{t: task.Task{ID: "t1", Status: task.Processing, BlobKey: "sources/t1",
		Spec: task.Spec{Model: "m", Source: task.Source{Type: task.SourceAssetID, AssetID: "a1"}}}}
	p := &Pipeline{Tasks: tasks, Blobs: blobs, Media: tool, Engines: map[string]engine.Engine{"m": measureEngine{tool}},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return p, tasks, path
}

// A run that outlives its job bound fails for good with a message naming
// the bound and the video's duration; its FFmpeg is killed.
func TestJobBoundFailsTask(t *testing.T) {
	t.Parallel()
	p, tasks, path := slowTask(t)
	p.JobBound = media.Bound{Base: 700 * time.Millisecond}
	started := time.Now()
	if err := p.Run(context.Background(), "t1", 1, 5); err != nil {
		t.Fatalf("Run = %v, want nil (the task failed for good, no retry)", err)
	}
	if took := time.Since(started); took > 5*time.Second {
		t.Errorf("Run took %s, want it stopped soon after its bound", took)
	}
	want := "The analysis exceeded its time bound of 700ms for 1m0s of video"
	if len(tasks.failed) != 1 || !strings.HasPrefix(tasks.failed[0], want) {
		t.Fatalf("task failed with %q, want %q", tasks.failed, want)
	}
	if procs := processesOn(t, path); len(procs) > 0 {
		t.Errorf("processes left on the video: %q", procs)
	}
}
