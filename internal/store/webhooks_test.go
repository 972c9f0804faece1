package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"github.com/framewise/framewise/internal/account"
	"testing"
	"time"

	"github.com/framewise/framewise/client/webhook"
	"github.com/framewise/framewise/internal/task"
	fwwebhook "github.com/framewise/framewise/internal/webhook"
)

// The deliveries of a task and their jobs are written in the transaction
// that ends the task: a failing enqueue leaves the task as it was.
func TestTerminalTransitionEnqueuesWebhooksAtomically(t *testing.T) {
	eachDialect(t, testTerminalTransitionEnqueuesWebhooksAtomically)
}

func testTerminalTransitionEnqueuesWebhooksAtomically(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tasks := openTest(t, nil)
	var queued []string
	fail := errors.New("queue down")
	failing := false
	hooks := NewWebhooks(tasks.db, func(ctx context.Context, tx *sql.Tx, id string) error {
		if failing {
			return fail
		}
		queued = append(queued, id)
		return nil
	})
	tasks.OnTerminal(hooks.TaskEnded)
	if _, _, err := NewAccounts(tasks.db).CreateAccount(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if err := hooks.CreateEndpoint(ctx, &fwwebhook.Endpoint{ID: "wh_none", AccountID: "nobody", URL: "http://x.test/", Secret: "s", CreatedAt: time.Unix(1, 0)}); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("endpoint of an unknown account: %v", err)
	}
	for _, e := range []*fwwebhook.Endpoint{
		{ID: "wh_a", AccountID: "default", URL: "http://a.test/hook", Secret: "s1", Enabled: true, CreatedAt: time.Unix(1, 0)},
		{ID: "wh_b", AccountID: "default", URL: "http://b.test/hook", Secret: "s2", Enabled: true, CreatedAt: time.Unix(2, 0)},
		{ID: "wh_off", AccountID: "default", URL: "http://off.test/", Secret: "s3", Enabled: false, CreatedAt: time.Unix(3, 0)},
		{ID: "wh_other", AccountID: "other", URL: "http://other.test/", Secret: "s4", Enabled: true, CreatedAt: time.Unix(4, 0)},
	} {
		if err := hooks.CreateEndpoint(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	tk := newTask("t1", time.Now())
	tk.Spec.CustomID = "mine"
	if err := tasks.Create(ctx, tk); err != nil {
		t.Fatal(err)
	}
	got, err := tasks.Get(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Webhooks) != 2 || got.Webhooks[0].URL != "http://a.test/hook" || got.Webhooks[0].Attempts != 0 {
		t.Fatalf("queued task webhooks = %+v, want the two enabled endpoints with no attempt", got.Webhooks)
	}
	toReady := func(t *task.Task) error {
		now := time.Now()
		t.Status, t.CompletedAt = task.Ready, &now
		t.Result = &task.Result{GenerationID: "g", Data: "d", FinishReason: "stop"}
		return nil
	}
	failing = true
	if _, err := tasks.Update(ctx, "t1", toReady); !errors.Is(err, fail) {
		t.Fatalf("update with failing enqueue = %v", err)
	}
	if got, _ := tasks.Get(ctx, "t1"); got.Status != task.Queued {
		t.Fatalf("task became %s although its webhook jobs were not enqueued", got.Status)
	}
	failing = false
	if _, err := tasks.Update(ctx, "t1", toReady); err != nil {
		t.Fatal(err)
	}
	if len(queued) != 2 {
		t.Fatalf("queued %d deliveries, want 2", len(queued))
	}
	d, ep, err := hooks.Delivery(ctx, queued[0])
	if err != nil {
		t.Fatal(err)
	}
	var ev webhook.Event
	if err := json.Unmarshal(d.Payload, &ev); err != nil {
		t.Fatal(err)
	}
	if ep.ID != "wh_a" || ev.ID != d.ID || ev.Type != webhook.EventTaskReady || ev.Data.ID != "t1" ||
		ev.Data.Status != "ready" || ev.Data.CustomID == nil || *ev.Data.CustomID != "mine" {
		t.Fatalf("delivery %+v endpoint %+v event %+v", d, ep, ev)
	}
	// A later update of a terminal task fires nothing.
	if _, err := tasks.Update(ctx, "t1", func(t *task.Task) error { t.Stage = "x"; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(queued) != 2 {
		t.Fatalf("a second update enqueued again: %d", len(queued))
	}
	if err := hooks.RecordAttempt(ctx, queued[0], false, "HTTP 500"); err != nil {
		t.Fatal(err)
	}
	if err := hooks.RecordAttempt(ctx, queued[0], true, ""); err != nil {
		t.Fatal(err)
	}
	if err := hooks.RecordAttempt(ctx, queued[1], false, "HTTP 503"); err != nil {
		t.Fatal(err)
	}
	got, _ = tasks.Get(ctx, "t1")
	want := []task.WebhookStatus{{URL: "http://a.test/hook", Delivered: true, Attempts: 2}, {URL: "http://b.test/hook", Attempts: 1, LastError: "HTTP 503"}}
	if len(got.Webhooks) != 2 || got.Webhooks[0] != want[0] || got.Webhooks[1] != want[1] {
		t.Fatalf("webhooks = %+v, want %+v", got.Webhooks, want)
	}
	list, _, err := tasks.List(ctx, task.Filter{PageLimit: 10})
	if err != nil || len(list) != 1 || len(list[0].Webhooks) != 2 {
		t.Fatalf("list = %+v, %v", list, err)
	}

	// Redelivery resets delivered and queues the same delivery again.
	n, err := hooks.Redeliver(ctx, "t1", "wh_a")
	if err != nil || n != 1 || queued[2] != queued[0] {
		t.Fatalf("redeliver = %d, %v, queued %v", n, err, queued)
	}
	if _, err := hooks.Redeliver(ctx, "t1", "wh_none"); !errors.Is(err, fwwebhook.ErrNotFound) {
		t.Fatalf("redeliver to an unknown endpoint = %v", err)
	}
	if err := tasks.Create(ctx, newTask("t2", time.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := hooks.Redeliver(ctx, "t2", ""); !errors.Is(err, fwwebhook.ErrNotFinished) {
		t.Fatalf("redeliver of a queued task = %v", err)
	}

	// A removed endpoint: its deliveries stay, Delivery reports no endpoint.
	if err := hooks.DeleteEndpoint(ctx, "wh_b"); err != nil {
		t.Fatal(err)
	}
	if _, ep, err := hooks.Delivery(ctx, queued[1]); err != nil || ep != nil {
		t.Fatalf("delivery of a removed endpoint: %v %v", ep, err)
	}
	if err := hooks.DeleteEndpoint(ctx, "wh_b"); !errors.Is(err, fwwebhook.ErrNotFound) {
		t.Fatalf("second delete = %v", err)
	}
	// Deleting the task deletes its deliveries.
	if _, err := tasks.Delete(ctx, "t1", func(*task.Task) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := hooks.Delivery(ctx, queued[0]); !errors.Is(err, fwwebhook.ErrNotFound) {
		t.Fatalf("delivery of a deleted task = %v", err)
	}
}

func TestNoEndpointsNoWebhooks(t *testing.T) { eachDialect(t, testNoEndpointsNoWebhooks) }

func testNoEndpointsNoWebhooks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tasks := openTest(t, nil)
	hooks := NewWebhooks(tasks.db, func(context.Context, *sql.Tx, string) error { t.Error("enqueued"); return nil })
	tasks.OnTerminal(hooks.TaskEnded)
	if err := tasks.Create(ctx, newTask("t1", time.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := tasks.Update(ctx, "t1", func(t *task.Task) error { t.Status = task.Failed; return nil }); err != nil {
		t.Fatal(err)
	}
	got, _ := tasks.Get(ctx, "t1")
	if got.Webhooks != nil {
		t.Fatalf("webhooks = %+v, want none", got.Webhooks)
	}
}
