package queue

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/store"
	"github.com/framewise/framewise/internal/store/storetest"
)

// openDB opens an empty database, migrated, of the subtest of
// storetest.Each that t is.
func openDB(t *testing.T) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.URL(t), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := Migrate(ctx, db, slog.New(slog.NewTextHandler(testLog{t}, nil))); err != nil {
		t.Fatal(err)
	}
	return db
}

// countingRunner counts the runs of each task; each run takes hold.
type countingRunner struct {
	hold time.Duration
	mu   sync.Mutex
	runs map[string]int
	done chan string
}

func (r *countingRunner) Run(ctx context.Context, taskID string, attempt, maxAttempts int) error {
	r.mu.Lock()
	r.runs[taskID]++
	r.mu.Unlock()
	select {
	case <-time.After(r.hold):
	case <-ctx.Done():
		return ctx.Err()
	}
	r.done <- taskID
	return nil
}

func enqueue(t *testing.T, db *store.DB, q *Queue, id string) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Writer.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(ctx, tx.Tx, id); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// A job left running by a process that died is run again by a live
// worker within DeadAfter and a heartbeat; a job that a live worker runs
// longer than DeadAfter is never taken from it.
func TestDeadWorkersJobsAreRescued(t *testing.T) { storetest.Each(t, testDeadWorkersJobsAreRescued) }

func testDeadWorkersJobsAreRescued(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	log := slog.New(slog.NewTextHandler(testLog{t}, nil))
	// The dead process: an insert-only queue enqueues, then the job is
	// marked as it would be by a worker that took it and was killed 10 s
	// ago (River's fetch sets state, attempt and attempted_at).
	dead, err := New(ctx, db, nil, Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, db, dead, "orphan")
	stale := `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() - interval '10 seconds'`
	if db.Dialect == store.SQLite {
		stale = `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = datetime('now', '-10 seconds', 'subsec')`
	}
	if _, err := db.Writer.ExecContext(ctx, stale); err != nil {
		t.Fatal(err)
	}

	runner := &countingRunner{hold: 3 * time.Second, runs: map[string]int{}, done: make(chan string, 4)}
	const deadAfter, beat = time.Second, 200 * time.Millisecond
	live, err := New(ctx, db, runner, Options{Workers: 2, Log: log, Heartbeat: beat, DeadAfter: deadAfter})
	if err != nil {
		t.Fatal(err)
	}
	// A long job of the live worker: 3 s, three times DeadAfter.
	enqueue(t, db, live, "long")
	start := time.Now()
	if err := live.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		live.Stop(sctx)
	})
	finished := map[string]time.Duration{}
	for len(finished) < 2 {
		select {
		case id := <-runner.done:
			finished[id] = time.Since(start)
		case <-time.After(30 * time.Second):
			t.Fatalf("jobs finished: %v; the orphan was not rescued", finished)
		}
	}
	// The orphan's run took 3 s of the hold; it started within about a
	// heartbeat of the start (its attempted_at was already stale).
	if picked := finished["orphan"] - runner.hold; picked > deadAfter+2*beat+2*time.Second {
		t.Errorf("orphan picked up %v after start", picked)
	}
	t.Logf("orphan picked up %v after the live worker started (dead after %v, heartbeat %v)", finished["orphan"]-runner.hold, deadAfter, beat)
	time.Sleep(2 * deadAfter) // time for a wrong rescue of either job to run it again
	runner.mu.Lock()
	defer runner.mu.Unlock()
	if runner.runs["long"] != 1 || runner.runs["orphan"] != 1 {
		t.Errorf("runs %v: each job must run once (the long one was taken from its live worker?)", runner.runs)
	}
}
