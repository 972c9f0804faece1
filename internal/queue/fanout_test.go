package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/analysis"
	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/engine"
	"github.com/framewise/framewise/internal/engine/vlm"
	"github.com/framewise/framewise/internal/inference/inferencetest"
	"github.com/framewise/framewise/internal/inference/openai"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/store"
	"github.com/framewise/framewise/internal/store/storetest"
	"github.com/framewise/framewise/internal/task"
)

// chunkCounter runs a pipeline and counts the chunks it ran.
type chunkCounter struct {
	*analysis.Pipeline
	mu     sync.Mutex
	chunks int
}

func (c *chunkCounter) RunChunk(ctx context.Context, id string, chunk, first, last, windows, attempt, maxAttempts int) error {
	c.mu.Lock()
	c.chunks++
	c.mu.Unlock()
	return c.Pipeline.RunChunk(ctx, id, chunk, first, last, windows, attempt, maxAttempts)
}

// A long video fans out: its job plans the windows and inserts one chunk
// job per window, three worker processes (queues) each take some, the
// last chunk inserts the join, which merges. The model is called once per
// window, on the windows a single streaming run calls, the segments are
// the same, and the task is completed once.
func TestFanoutAcrossWorkers(t *testing.T) {
	storetest.Each(t, func(t *testing.T) { testFanoutAcrossWorkers(t, false) })
}

// A chunk that fails for good (the model server is down) fails the task
// with its message, and no join runs.
func TestFanoutChunkFailsTask(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testFanoutAcrossWorkers(t, true) })
}

func testFanoutAcrossWorkers(t *testing.T, down bool) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dir := t.TempDir()
	video := filepath.Join(dir, "colours.mp4")
	// red 0–30 s, blue 30–55 s, green 55–80 s.
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
		"color=c=red:s=640x360:r=25:d=30[a];color=c=blue:s=640x360:r=25:d=25[b];color=c=green:s=640x360:r=25:d=25[c];[a][b][c]concat=n=3:v=1:a=0",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", video).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	tool, err := media.New(media.Config{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := tool.Probe(ctx, video)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.NewLocal(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(video)
	if err != nil {
		t.Fatal(err)
	}
	id := task.NewID(time.Now())
	if _, err := blobs.Put(ctx, task.SourceKey(id), f); err != nil {
		t.Fatal(err)
	}
	f.Close()

	double := inferencetest.New(t, inferencetest.WithLatency(100*time.Millisecond))
	newEngine := func() *vlm.Engine {
		chat, err := openai.New(openai.Config{BaseURL: double.URL(), Model: "m", Name: "double", MaxParallel: 2, Timeout: time.Minute, MaxRetries: 1})
		if err != nil {
			t.Fatal(err)
		}
		return vlm.New(vlm.Config{Name: "double", Chat: chat, Media: tool, FramesPerCall: 6, MaxParallel: 2, ChunkSeconds: 30})
	}
	var defs []task.SegmentDefinition
	for _, c := range []string{"red", "blue", "green"} {
		defs = append(defs, task.SegmentDefinition{ID: c, Description: "scenes where the screen is " + c})
	}
	spec := task.Spec{Model: task.Pegasus15, Mode: task.ModeTimeBasedMetadata, MaxTokens: 4096,
		Source:         task.Source{Type: task.SourceURL, URL: "https://x.test/colours.mp4"},
		ResponseFormat: &task.ResponseFormat{Type: "segment_definitions", SegmentDefinitions: defs}}

	// The reference: one streaming run.
	ref, err := newEngine().Analyze(ctx, engine.Input{Spec: spec, VideoPath: video, Info: info, Start: 0, End: info.Duration})
	if err != nil {
		t.Fatal(err)
	}
	windows := double.Stats().Calls
	double.SetDown(down)

	var queues []*Queue
	tasks := store.NewTasks(db, func(ctx context.Context, tx *sql.Tx, id string) error { return queues[0].Enqueue(ctx, tx, id) })
	svc := task.NewService(tasks, blobs, analysis.Checker{Media: tool}, task.DefaultLimits(), log)
	var runners []*chunkCounter
	for range 3 {
		p := &analysis.Pipeline{Tasks: svc, Blobs: blobs, Media: tool, Engines: map[string]engine.Engine{task.Pegasus15: newEngine()},
			ChunkWindows: 1, Log: log}
		r := &chunkCounter{Pipeline: p}
		q, err := New(ctx, db, r, Options{Workers: 2, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		p.Fanout = q
		queues, runners = append(queues, q), append(runners, r)
	}
	now := time.Now().UTC()
	if err := tasks.Create(ctx, &task.Task{ID: id, Status: task.Queued, CreatedAt: now, UpdatedAt: now, Spec: spec, BlobKey: task.SourceKey(id)}); err != nil {
		t.Fatal(err)
	}
	before := double.Stats().Calls
	for _, q := range queues {
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			q.Stop(sctx)
		})
	}
	var got *task.Task
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if got, err = svc.Get(ctx, id); err != nil {
			t.Fatal(err)
		}
		if got.Status.Terminal() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task still %s (%s %.0f%%)", got.Status, got.Stage, got.Percent)
		}
	}
	if down {
		if got.Status != task.Failed || !strings.Contains(got.ErrorMessage, "The analysis failed") {
			t.Fatalf("task %s (%q); want failed by its chunk", got.Status, got.ErrorMessage)
		}
		return
	}
	if got.Status != task.Ready {
		t.Fatalf("task %s: %s", got.Status, got.ErrorMessage)
	}
	if calls := double.Stats().Calls - before; calls != windows {
		t.Errorf("fanned out: %d model calls, streaming: %d; want each window called once", calls, windows)
	}
	var a, b any
	if err := json.Unmarshal([]byte(ref.Data), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(got.Result.Data), &b); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("results differ:\nstreaming:  %s\nfanned out: %s", ref.Data, got.Result.Data)
	}
	wantChunks := windows
	// River records a job completed shortly after its work returns.
	var chunkJobs, analyzeJobs int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if err := db.Writer.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM river_job WHERE kind = 'framewise.analyze_chunk' AND state = 'completed'),
			(SELECT count(*) FROM river_job WHERE kind = 'framewise.analyze_task' AND state = 'completed')`).Scan(&chunkJobs, &analyzeJobs); err != nil {
			t.Fatal(err)
		}
		if (chunkJobs == wantChunks && analyzeJobs == 2) || time.Now().After(deadline) {
			break
		}
	}
	if chunkJobs != wantChunks || analyzeJobs != 2 {
		t.Errorf("jobs: %d chunks, %d analyses; want %d chunks (%d windows, 1 a chunk), 2 analyses (plan, join)", chunkJobs, analyzeJobs, wantChunks, windows)
	}
	busy := 0
	for _, r := range runners {
		if r.chunks > 0 {
			busy++
		}
	}
	t.Logf("%d windows in %d chunks; chunks run by worker: %d %d %d", windows, chunkJobs, runners[0].chunks, runners[1].chunks, runners[2].chunks)
	if busy < 2 {
		t.Errorf("chunks ran on %d of 3 workers; want them spread", busy)
	}
}

// A chunk added or delivered twice counts once, chunks done before the
// plan is complete do not join, and the join job is inserted once: by the
// last chunk after the seal, never again.
func TestFanoutChunkTwice(t *testing.T) { storetest.Each(t, testFanoutChunkTwice) }

func testFanoutChunkTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	q, err := New(ctx, db, nil, Options{Log: slog.New(slog.NewTextHandler(testLog{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	tasks := store.NewTasks(db, func(ctx context.Context, tx *sql.Tx, id string) error { return nil })
	now := time.Now().UTC()
	if err := tasks.Create(ctx, &task.Task{ID: "t1", Status: task.Queued, CreatedAt: now, UpdatedAt: now,
		Spec: task.Spec{Model: task.Pegasus15, Mode: task.ModeGeneral, Source: task.Source{Type: task.SourceURL, URL: "https://x.test/v"}}}); err != nil {
		t.Fatal(err)
	}
	count := func(kind string) int {
		var n int
		if err := db.Writer.QueryRowContext(ctx, `SELECT count(*) FROM river_job WHERE kind = $1`, kind).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	ranges := [][2]int{{0, 7}, {8, 15}, {16, 20}}
	for round := range 2 {
		for i, r := range ranges[:2] {
			if added, err := q.AddChunk(ctx, "t1", i, r[0], r[1], 21); err != nil || added != (round == 0) {
				t.Fatalf("AddChunk %d, round %d = %v, %v", i, round, added, err)
			}
		}
	}
	// Chunks finish (twice) before the plan is complete: no join yet.
	for _, c := range []int{0, 0, 1, 1} {
		if err := q.FinishChunk(ctx, "t1", c); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(AnalyzeArgs{}.Kind()); n != 0 {
		t.Fatalf("join inserted before the fan-out was sealed")
	}
	if _, err := q.AddChunk(ctx, "t1", 2, 16, 20, 21); err != nil {
		t.Fatal(err)
	}
	if err := q.SealFanout(ctx, "t1", 3); err != nil {
		t.Fatal(err)
	}
	if n := count(ChunkArgs{}.Kind()); n != 3 {
		t.Fatalf("%d chunk jobs, want 3", n)
	}
	if exists, chunks, done, err := q.FanoutState(ctx, "t1"); err != nil || !exists || chunks != 3 || done != 2 {
		t.Fatalf("state %v %d %d %v; want 2 of 3 chunks done", exists, chunks, done, err)
	}
	if n := count(AnalyzeArgs{}.Kind()); n != 0 {
		t.Fatalf("join inserted with a chunk left")
	}
	for range 3 {
		if err := q.FinishChunk(ctx, "t1", 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.SealFanout(ctx, "t1", 3); err != nil { // the planning job ran again
		t.Fatal(err)
	}
	if n := count(AnalyzeArgs{}.Kind()); n != 1 {
		t.Fatalf("%d join jobs, want 1", n)
	}
	// Canceling the task cancels its chunk jobs too.
	if err := q.CancelRun(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := db.Writer.QueryRowContext(ctx, `SELECT count(*) FROM river_job WHERE state <> 'cancelled'`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d jobs of the task not cancelled", left)
	}
}
