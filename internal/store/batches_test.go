package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/framewise/framewise/client/webhook"
	"github.com/framewise/framewise/internal/account"
	"github.com/framewise/framewise/internal/task"
	fwwebhook "github.com/framewise/framewise/internal/webhook"
)

func TestBatches(t *testing.T) { eachDialect(t, testBatches) }

// newBatch returns a batch of n queued items b-0…, ids prefixed by id.
func newBatch(id string, n int, at time.Time) (*task.Batch, []*task.Task) {
	b := &task.Batch{ID: id, Model: task.Pegasus15, Mode: task.ModeGeneral, Total: n, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	items := make([]*task.Task, n)
	for i := range items {
		items[i] = newTask(fmt.Sprintf("%s-t%d", id, i), at)
		items[i].Spec.CustomID = fmt.Sprintf("c%d", i)
	}
	return b, items
}

func setStatus(t *testing.T, s *Tasks, ctx context.Context, id string, st task.Status) {
	t.Helper()
	if _, err := s.Update(ctx, id, func(tk *task.Task) error { tk.Status = st; return nil }); err != nil {
		t.Fatal(err)
	}
}

func testBatches(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	a, b := account.NewContext(context.Background(), "a"), account.NewContext(context.Background(), "b")

	t.Run("create is one transaction with the jobs", func(t *testing.T) {
		t.Parallel()
		fail := errors.New("queue down")
		s := openTest(t, nil)
		s.SetBatchEnqueuer(func(ctx context.Context, tx *sql.Tx, batchID string, ids []string) error { return fail })
		bt, items := newBatch("x", 3, now)
		if err := s.CreateBatch(a, bt, items, 5); !errors.Is(err, fail) {
			t.Fatalf("create with failing enqueue: %v", err)
		}
		if _, err := s.GetBatch(a, "x"); !errors.Is(err, task.ErrBatchNotFound) {
			t.Errorf("batch after failed create: %v", err)
		}
		if _, err := s.Get(a, "x-t0"); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("item task after failed create: %v", err)
		}
	})

	t.Run("lifecycle and cancel", func(t *testing.T) {
		t.Parallel()
		s := openTest(t, nil)
		var enqueued []string
		var enqueuedBatch string
		s.SetBatchEnqueuer(func(ctx context.Context, tx *sql.Tx, batchID string, ids []string) error {
			enqueuedBatch, enqueued = batchID, ids
			return nil
		})
		bt, items := newBatch("L", 4, now)
		if err := s.CreateBatch(a, bt, items, 5); err != nil {
			t.Fatal(err)
		}
		if enqueuedBatch != "L" || !slices.Equal(enqueued, []string{"L-t0", "L-t1", "L-t2", "L-t3"}) {
			t.Errorf("enqueued %s %v", enqueuedBatch, enqueued)
		}
		got, err := s.GetBatch(a, "L")
		if err != nil || got.Status() != task.BatchPending || got.Counts.Queued != 4 {
			t.Fatalf("new batch: %+v %v", got, err)
		}
		if _, err := s.GetBatch(b, "L"); !errors.Is(err, task.ErrBatchNotFound) {
			t.Errorf("another account's GetBatch: %v", err)
		}
		setStatus(t, s, a, "L-t0", task.Processing)
		setStatus(t, s, a, "L-t1", task.Processing)
		setStatus(t, s, a, "L-t1", task.Ready)
		if got, _ = s.GetBatch(a, "L"); got.Status() != task.BatchProcessing || got.Counts != (task.BatchCounts{Queued: 2, Processing: 1, Ready: 1}) {
			t.Fatalf("running batch: %+v", got)
		}
		got, err = s.CancelBatch(a, "L", now, func(*task.Batch) error { return nil })
		if err != nil || got.Status() != task.BatchCanceling || got.Counts != (task.BatchCounts{Processing: 1, Ready: 1, Canceled: 2}) {
			t.Fatalf("canceled batch: %+v %v", got, err)
		}
		tk, err := s.Get(a, "L-t2")
		if err != nil || tk.Status != task.Failed || tk.ErrorMessage != task.CanceledWithBatchMessage {
			t.Errorf("canceled item's task: %+v %v", tk, err)
		}
		// The running item finishes; the batch is then canceled.
		setStatus(t, s, a, "L-t0", task.Ready)
		if got, _ = s.GetBatch(a, "L"); got.Status() != task.BatchCanceled || got.FinishedAt == nil {
			t.Fatalf("after the last running item: %+v", got)
		}
		tasks, err := s.BatchItems(a, "L")
		if err != nil || len(tasks) != 4 || tasks[0].ID != "L-t0" || tasks[3].ID != "L-t3" {
			t.Errorf("items: %v %v", tasks, err)
		}
		// Deleting an item's task through the task API: the batch still
		// finishes when its other items do.
		bt2, items2 := newBatch("D", 2, now)
		if err := s.CreateBatch(a, bt2, items2, 5); err != nil {
			t.Fatal(err)
		}
		setStatus(t, s, a, "D-t0", task.Ready)
		if _, err := s.Delete(a, "D-t1", func(*task.Task) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetBatch(a, "D"); got.Status() != task.BatchCompleted || got.Counts != (task.BatchCounts{Ready: 1}) {
			t.Errorf("batch whose last queued item was deleted: %+v", got)
		}
		refuse := errors.New("refused")
		if _, err := s.CancelBatch(a, "L", now, func(*task.Batch) error { return refuse }); !errors.Is(err, refuse) {
			t.Errorf("cancel refused by allow: %v", err)
		}
	})

	t.Run("complete, list, delete, purge", func(t *testing.T) {
		t.Parallel()
		s := openTest(t, nil)
		for i, id := range []string{"P", "Q", "R"} {
			bt, items := newBatch(id, 2, now.Add(time.Duration(i)*time.Second))
			if id == "R" {
				bt.Mode = task.ModeTimeBasedMetadata
			}
			if err := s.CreateBatch(a, bt, items, 5); err != nil {
				t.Fatal(err)
			}
		}
		setStatus(t, s, a, "P-t0", task.Ready)
		if got, _ := s.GetBatch(a, "P"); got.Status() != task.BatchProcessing {
			t.Fatalf("half done: %+v", got)
		}
		setStatus(t, s, a, "P-t1", task.Failed)
		if got, _ := s.GetBatch(a, "P"); got.Status() != task.BatchCompleted || got.Counts != (task.BatchCounts{Ready: 1, Failed: 1}) {
			t.Fatalf("done: %+v", got)
		}
		list := func(f task.BatchFilter) []string {
			t.Helper()
			f.PageLimit = 10
			bs, total, err := s.ListBatches(a, f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, b := range bs {
				ids = append(ids, b.ID)
			}
			if total != len(ids) {
				t.Errorf("total %d for %d ids", total, len(ids))
			}
			return ids
		}
		if got := list(task.BatchFilter{}); !slices.Equal(got, []string{"R", "Q", "P"}) {
			t.Errorf("all, newest first: %v", got)
		}
		if got := list(task.BatchFilter{Statuses: []string{task.BatchCompleted}}); !slices.Equal(got, []string{"P"}) {
			t.Errorf("completed: %v", got)
		}
		if got := list(task.BatchFilter{Statuses: []string{task.BatchPending, task.BatchCompleted}, Modes: []string{task.ModeGeneral}}); !slices.Equal(got, []string{"Q", "P"}) {
			t.Errorf("pending or completed, general: %v", got)
		}
		if bs, _, _ := s.ListBatches(b, task.BatchFilter{}); len(bs) != 0 {
			t.Errorf("another account lists %d batches", len(bs))
		}
		if err := s.DeleteBatch(a, "P", func(*task.Batch) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(a, "P-t0"); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("item task after delete: %v", err)
		}
		// Purge deletes only batches finished before the cut (Q finished
		// at now: setStatus keeps the tasks' UpdatedAt).
		setStatus(t, s, a, "Q-t0", task.Ready)
		setStatus(t, s, a, "Q-t1", task.Ready)
		if n, err := s.PurgeBatches(a, now.Add(-time.Hour)); err != nil || n != 0 {
			t.Errorf("purge of nothing old: %d %v", n, err)
		}
		if n, err := s.PurgeBatches(a, now.Add(time.Hour)); err != nil || n != 1 {
			t.Errorf("purge: %d %v", n, err)
		}
		if _, err := s.GetBatch(a, "Q"); !errors.Is(err, task.ErrBatchNotFound) {
			t.Errorf("purged batch: %v", err)
		}
		if _, err := s.GetBatch(a, "R"); err != nil {
			t.Errorf("unfinished batch was purged: %v", err)
		}
	})

	t.Run("active batches per account", func(t *testing.T) {
		t.Parallel()
		s := openTest(t, nil)
		for _, id := range []string{"A1", "A2"} {
			bt, items := newBatch(id, 1, now)
			if err := s.CreateBatch(a, bt, items, 2); err != nil {
				t.Fatal(err)
			}
		}
		bt, items := newBatch("A3", 1, now)
		var be *task.BusyError
		if err := s.CreateBatch(a, bt, items, 2); !errors.As(err, &be) || be.Status != 429 || be.RetryAfter == 0 {
			t.Fatalf("third active batch: %v", err)
		}
		bt, items = newBatch("B1", 1, now)
		if err := s.CreateBatch(b, bt, items, 2); err != nil {
			t.Fatalf("another account: %v", err)
		}
		setStatus(t, s, a, "A1-t0", task.Ready)
		bt, items = newBatch("A3", 1, now)
		if err := s.CreateBatch(a, bt, items, 2); err != nil {
			t.Fatalf("after one finished: %v", err)
		}
	})

	t.Run("expiry", func(t *testing.T) {
		t.Parallel()
		s := openTest(t, nil)
		bt, items := newBatch("E", 3, now)
		if err := s.CreateBatch(a, bt, items, 5); err != nil {
			t.Fatal(err)
		}
		setStatus(t, s, a, "E-t0", task.Processing)
		if ids, err := s.ExpireBatches(context.Background(), now.Add(time.Minute)); err != nil || len(ids) != 0 {
			t.Fatalf("before expiry: %v %v", ids, err)
		}
		ids, err := s.ExpireBatches(context.Background(), now.Add(2*time.Hour))
		if err != nil || !slices.Equal(ids, []string{"E"}) {
			t.Fatalf("expire: %v %v", ids, err)
		}
		got, _ := s.GetBatch(a, "E")
		if got.Status() != task.BatchExpired || got.Counts != (task.BatchCounts{Processing: 1, Canceled: 2}) || got.FinishedAt != nil {
			t.Fatalf("expired batch: %+v", got)
		}
		tk, _ := s.Get(a, "E-t1")
		if tk.Status != task.Failed || tk.ErrorMessage != task.ExpiredWithBatchMessage {
			t.Errorf("expired item's task: %+v", tk)
		}
		setStatus(t, s, a, "E-t0", task.Ready)
		if got, _ = s.GetBatch(a, "E"); got.Status() != task.BatchExpired || got.FinishedAt == nil {
			t.Errorf("after its running item: %+v", got)
		}
		if ids, _ := s.ExpireBatches(context.Background(), now.Add(3*time.Hour)); len(ids) != 0 {
			t.Errorf("expired twice: %v", ids)
		}
	})
}

// An ended batch sends one analyze.batch.completed notification per
// enabled endpoint of its account, written with its jobs in the
// transaction that ends it; the batch shows their deliveries.
func TestBatchWebhook(t *testing.T) { eachDialect(t, testBatchWebhook) }

func testBatchWebhook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	s := openTest(t, nil)
	var queued []string
	hooks := NewWebhooks(s.db, func(ctx context.Context, tx *sql.Tx, id string) error {
		queued = append(queued, id)
		return nil
	})
	s.OnTerminal(hooks.TaskEnded)
	s.OnBatchEnded(hooks.BatchEnded)
	if err := hooks.CreateEndpoint(ctx, &fwwebhook.Endpoint{ID: "wh_a", AccountID: "default", URL: "http://a.test/hook", Secret: "s", Enabled: true, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	bt, items := newBatch("W", 2, now)
	if err := s.CreateBatch(ctx, bt, items, 5); err != nil {
		t.Fatal(err)
	}
	setStatus(t, s, ctx, "W-t0", task.Ready)
	if len(queued) != 1 {
		t.Fatalf("after one item: %d deliveries queued, want the item's own", len(queued))
	}
	// The cancel ends the batch at once: the other item had not started.
	if _, err := s.CancelBatch(ctx, "W", now, func(*task.Batch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if len(queued) != 2 {
		t.Fatalf("after the cancel: %d deliveries queued, want 2", len(queued))
	}
	d, ep, err := hooks.Delivery(ctx, queued[1])
	if err != nil || ep == nil || ep.ID != "wh_a" || d.Event != webhook.EventBatchCompleted {
		t.Fatalf("batch delivery: %+v %+v %v", d, ep, err)
	}
	var ev webhook.Event
	if err := json.Unmarshal(d.Payload, &ev); err != nil || ev.Data.ID != "W" || ev.Data.Status != task.BatchCanceled || ev.Data.Batch == nil ||
		*ev.Data.Batch != (webhook.BatchCounts{TotalItems: 2, ReadyItems: 1, CanceledItems: 1}) || ev.Data.CompletedAt == nil {
		t.Fatalf("batch event: %s %v", d.Payload, err)
	}
	if err := hooks.RecordAttempt(ctx, d.ID, false, "HTTP 503"); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetBatch(ctx, "W")
	if err != nil || len(got.Webhooks) != 1 || got.Webhooks[0] != (task.WebhookStatus{URL: "http://a.test/hook", Attempts: 1, LastError: "HTTP 503"}) {
		t.Fatalf("batch webhooks: %+v %v", got, err)
	}
	// Deleting the batch deletes its deliveries.
	if err := s.DeleteBatch(ctx, "W", func(*task.Batch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := hooks.Delivery(ctx, d.ID); !errors.Is(err, fwwebhook.ErrNotFound) {
		t.Errorf("delivery of a deleted batch: %v", err)
	}
}
