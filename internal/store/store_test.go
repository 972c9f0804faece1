package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/store/storetest"
	"github.com/framewise/framewise/internal/task"
)

// eachDialect runs test on SQLite and on PostgreSQL: the store's one
// suite for both databases. openDB opens the subtest's database.
func eachDialect(t *testing.T, test func(t *testing.T)) { storetest.Each(t, test) }

// openDB opens an empty, migrated database of the subtest of eachDialect.
func openDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), storetest.URL(t), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openTest(t *testing.T, enqueue Enqueuer) *Tasks {
	t.Helper()
	return NewTasks(openDB(t), enqueue)
}

func newTask(id string, at time.Time) *task.Task {
	return &task.Task{ID: id, Status: task.Queued, CreatedAt: at, UpdatedAt: at,
		Spec: task.Spec{Model: task.Pegasus12, Mode: task.ModeGeneral, Source: task.Source{Type: task.SourceURL, URL: "https://x.test/" + id}}}
}

func TestCreateIsAtomicWithEnqueue(t *testing.T) { eachDialect(t, testCreateIsAtomicWithEnqueue) }

func testCreateIsAtomicWithEnqueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fail := errors.New("queue down")
	s := openTest(t, func(ctx context.Context, tx *sql.Tx, id string) error {
		if id == "bad" {
			return fail
		}
		return nil
	})
	if err := s.Create(ctx, newTask("bad", time.Now())); !errors.Is(err, fail) {
		t.Fatalf("create with failing enqueue: %v", err)
	}
	if _, err := s.Get(ctx, "bad"); !errors.Is(err, task.ErrNotFound) {
		t.Fatalf("task row kept although its job was not enqueued: %v", err)
	}
	if err := s.Create(ctx, newTask("good", time.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "good"); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTripListUpdateDelete(t *testing.T) { eachDialect(t, testRoundTripListUpdateDelete) }

func testRoundTripListUpdateDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, nil)
	base := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	for i := range 7 {
		tk := newTask(fmt.Sprintf("t%d", i), base.Add(time.Duration(i)*time.Second))
		if i%2 == 1 {
			tk.Spec.Mode = task.ModeTimeBasedMetadata
		}
		if err := s.Create(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Get(ctx, "t3")
	if err != nil || !got.CreatedAt.Equal(base.Add(3*time.Second)) || got.Spec.Source.URL != "https://x.test/t3" {
		t.Fatalf("get: %+v %v", got, err)
	}
	page, total, err := s.List(ctx, task.Filter{Page: 2, PageLimit: 3})
	if err != nil || total != 7 || len(page) != 3 || page[0].ID != "t3" || page[2].ID != "t1" {
		t.Fatalf("page 2: total %d %v", total, ids(page))
	}
	page, total, _ = s.List(ctx, task.Filter{AnalysisMode: task.ModeTimeBasedMetadata, Page: 1, PageLimit: 10})
	if total != 3 || len(page) != 3 {
		t.Fatalf("mode filter: %d %v", total, ids(page))
	}
	dur := 6.5
	now := time.Now().UTC()
	_, err = s.Update(ctx, "t3", func(tk *task.Task) error {
		tk.Status, tk.Duration, tk.CompletedAt = task.Ready, &dur, &now
		tk.Result = &task.Result{GenerationID: "gen_x", Data: "d", FinishReason: "stop", OutputTokens: 1}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = s.Get(ctx, "t3")
	if got.Status != task.Ready || *got.Duration != 6.5 || got.Result.Data != "d" || got.CompletedAt == nil {
		t.Fatalf("after update: %+v", got)
	}
	// A refused change leaves the row as it was.
	_, err = s.Update(ctx, "t3", func(tk *task.Task) error { tk.Status = task.Failed; return task.ErrTransition })
	if got, _ = s.Get(ctx, "t3"); !errors.Is(err, task.ErrTransition) || got.Status != task.Ready {
		t.Fatalf("refused update: %v %s", err, got.Status)
	}
	if _, err := s.Delete(ctx, "t3", func(*task.Task) error { return task.ErrProcessing }); !errors.Is(err, task.ErrProcessing) {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "t3", func(*task.Task) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "t3"); !errors.Is(err, task.ErrNotFound) {
		t.Fatal(err)
	}
}

// Concurrent read-modify-write updates through the single writer never
// lose an increment.
func TestConcurrentUpdates(t *testing.T) { eachDialect(t, testConcurrentUpdates) }

func testConcurrentUpdates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, nil)
	if err := s.Create(ctx, newTask("c", time.Now())); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if _, err := s.Update(ctx, "c", func(tk *task.Task) error { tk.Percent++; return nil }); err != nil {
					t.Error(err)
				}
				if _, err := s.Get(ctx, "c"); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	got, _ := s.Get(ctx, "c")
	if got.Percent != 200 {
		t.Fatalf("percent = %v, want 200", got.Percent)
	}
}

func ids(ts []*task.Task) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

func TestCheckpoints(t *testing.T) { eachDialect(t, testCheckpoints) }

func testCheckpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, nil)
	if err := s.Create(ctx, newTask("k", time.Now())); err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"a", "b"} {
		if err := s.SaveCheckpoint(ctx, "k", "window/0", []byte(v)); err != nil {
			t.Fatalf("save %d: %v", i, err)
		}
	}
	s.SaveCheckpoint(ctx, "k", "window/1", []byte("c"))
	got, err := s.Checkpoints(ctx, "k")
	if err != nil || len(got) != 2 || string(got["window/0"]) != "b" || string(got["window/1"]) != "c" {
		t.Fatalf("checkpoints %q %v", got, err)
	}
	if _, err := s.Delete(ctx, "k", func(*task.Task) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Checkpoints(ctx, "k"); len(got) != 0 {
		t.Fatalf("checkpoints outlived their task: %q", got)
	}
	if err := s.SaveCheckpoint(ctx, "missing", "x", []byte("y")); err == nil {
		t.Fatal("checkpoint saved for a task that does not exist")
	}
}

// The stored request carries its version; a newer version than the
// binary's is refused with a message, not misread.
func TestStoredSpecVersion(t *testing.T) { eachDialect(t, testStoredSpecVersion) }

func testStoredSpecVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, nil)
	if err := s.Create(ctx, newTask("v", time.Now())); err != nil {
		t.Fatal(err)
	}
	var raw string
	if err := s.db.Reader.QueryRowContext(ctx, `SELECT spec FROM tasks WHERE id = ?`, "v").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(raw, `{"v":1,`) {
		t.Fatalf("stored spec %s, want version 1 first", raw)
	}
	if _, err := s.db.Writer.ExecContext(ctx, `UPDATE tasks SET spec = ? WHERE id = ?`, strings.Replace(raw, `"v":1`, `"v":99`, 1), "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "v"); err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("get of a version 99 row: %v", err)
	}
	if _, err := s.db.Writer.ExecContext(ctx, `UPDATE tasks SET spec = ? WHERE id = ?`, strings.Replace(raw, `"v":1,`, ``, 1), "v"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "v"); err != nil || got.Spec.Model != task.Pegasus12 {
		t.Fatalf("get of a row from before versions: %v %+v", err, got)
	}
}
