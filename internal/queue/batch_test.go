package queue

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/framewise/framewise/internal/store/storetest"
)

// A batch's jobs go on BatchQueue in the caller's transaction, and
// CancelBatchJobs cancels the waiting ones of that batch only. On both
// databases: the jobs are found by their args, in each one's JSON dialect.
func TestBatchJobs(t *testing.T) { storetest.Each(t, testBatchJobs) }

func testBatchJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	q, err := New(ctx, db, nil, Options{Log: slog.New(slog.NewTextHandler(testLog{t}, nil))}) // insert only
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct {
		id    string
		tasks []string
	}{{"b1", []string{"t1", "t2", "t3"}}, {"b2", []string{"t4"}}} {
		tx, err := db.Writer.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.EnqueueBatch(ctx, tx.Tx, b.id, b.tasks); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	enqueue(t, db, q, "single")
	if err := q.CancelBatchJobs(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Writer.QueryContext(ctx, `SELECT queue, state FROM river_job ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var queue, state string
		if err := rows.Scan(&queue, &state); err != nil {
			t.Fatal(err)
		}
		got = append(got, queue+" "+state)
	}
	want := []string{"batch cancelled", "batch cancelled", "batch cancelled", "batch available", "default available"}
	if !slices.Equal(got, want) {
		t.Errorf("jobs: %q, want %q", got, want)
	}
	if BatchWorkers(0) != 1 || BatchWorkers(1) != 1 || BatchWorkers(2) != 1 || BatchWorkers(8) != 4 {
		t.Error("BatchWorkers is not half the workers, at least one")
	}
}
