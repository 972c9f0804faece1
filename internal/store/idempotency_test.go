package store

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/task"
)

func TestCreateWithKey(t *testing.T) { eachDialect(t, testCreateWithKey) }

func testCreateWithKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	jobs := 0
	s := openTest(t, func(ctx context.Context, tx *sql.Tx, id string) error { jobs++; return nil })
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	since := now.Add(-task.IdempotencyTTL)

	if got, err := s.CreateWithKey(ctx, newTask("a", now), "s", "k", "h1", since); err != nil || got != nil {
		t.Fatalf("first: %v %v", got, err)
	}
	// The same scope and key: nothing is written, the first record returned.
	got, err := s.CreateWithKey(ctx, newTask("b", now), "s", "k", "h2", since)
	if err != nil || got == nil || got.TaskID != "a" || got.BodySHA256 != "h1" || !got.CreatedAt.Equal(now) {
		t.Fatalf("second: %+v %v", got, err)
	}
	if _, err := s.Get(ctx, "b"); !errors.Is(err, task.ErrNotFound) || jobs != 1 {
		t.Fatalf("losing create wrote its task (%v) or job (%d jobs)", err, jobs)
	}
	// Another scope is another key.
	if got, err := s.CreateWithKey(ctx, newTask("c", now), "t", "k", "h1", since); err != nil || got != nil {
		t.Fatalf("other scope: %v %v", got, err)
	}
	if got, err := s.LookupKey(ctx, "s", "k", since); err != nil || got == nil || got.TaskID != "a" {
		t.Fatalf("lookup: %+v %v", got, err)
	}
	// A day later the key has expired: lookup misses, a new create takes it.
	later := now.Add(task.IdempotencyTTL + time.Second)
	if got, err := s.LookupKey(ctx, "s", "k", later.Add(-task.IdempotencyTTL)); err != nil || got != nil {
		t.Fatalf("expired lookup: %+v %v", got, err)
	}
	if got, err := s.CreateWithKey(ctx, newTask("d", later), "s", "k", "h3", later.Add(-task.IdempotencyTTL)); err != nil || got != nil {
		t.Fatalf("after expiry: %+v %v", got, err)
	}
	if got, _ := s.LookupKey(ctx, "s", "k", later.Add(-task.IdempotencyTTL)); got == nil || got.TaskID != "d" {
		t.Fatalf("expired record not replaced: %+v", got)
	}
	// Expired records of other keys were dropped on the way.
	var n int
	if err := s.db.Reader.QueryRowContext(ctx, `SELECT count(*) FROM idempotency_keys`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d records left, want 1 (%v)", n, err)
	}
	if jobs != 3 {
		t.Fatalf("%d jobs, want 3", jobs)
	}
}
