package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
	"github.com/framewise/framewise/client/webhook"
)

// Batches with the built-in engine, on the real binary: a batch
// completes while another account's single task still starts at once
// (fair share), a cancel leaves no item queued, and a SIGKILL mid-batch
// loses and duplicates no item. bench/batch.sh runs the full 1,000 items.

// batchAsset uploads a small analyzable video as an asset and waits until
// it is ready.
func batchAsset(t *testing.T, ctx context.Context, c *client.Client) string {
	t.Helper()
	f, err := os.Open(makeVideo(t, "batch", 4.5, 640, 360))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := c.CreateAsset(ctx, f, "batch.mp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitAsset(ctx, a.ID, fastWait()...); err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// batchOf is a create request of n items on asset, custom ids item-0….
func batchOf(asset string, n int) *api.CreateBatchRequest {
	req := &api.CreateBatchRequest{ModelName: "pegasus1.5", AnalysisMode: api.ModeGeneral,
		Defaults: &api.BatchDefaults{Prompt: &api.BatchPrompt{InputText: "Describe the video."}}}
	for i := range n {
		req.Requests = append(req.Requests, api.BatchItemRequest{Video: api.BatchVideo{Type: "asset_id", AssetID: asset}, CustomID: fmt.Sprintf("item-%d", i)})
	}
	return req
}

// startWait creates a single task and measures how long it waits before
// it starts (leaves queued and pending).
func startWait(t *testing.T, ctx context.Context, c *client.Client, video string) (string, time.Duration) {
	t.Helper()
	r, err := c.CreateTask(ctx, &api.CreateTaskRequest{Video: &api.VideoContext{Type: api.SourceBase64, Base64String: video}, Prompt: api.String("describe")})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		tk, err := c.GetTask(ctx, r.TaskID)
		if err != nil {
			t.Fatal(err)
		}
		if tk.Status != api.StatusQueued && tk.Status != api.StatusPending {
			return r.TaskID, time.Since(start)
		}
		if ctx.Err() != nil {
			t.Fatalf("the single task never started: %+v", tk)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkResults checks that the results have every custom id of a batch of
// n exactly once, every item final, and returns the count by status.
func checkResults(t *testing.T, results []api.BatchResult, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	by := map[string]int{}
	for _, r := range results {
		seen[r.CustomID]++
		by[r.Status]++
		switch r.Status {
		case api.ItemReady:
			if r.Data == nil || r.Data.Data == "" {
				t.Errorf("ready item %s has no data", r.CustomID)
			}
		case api.ItemFailed, api.ItemCanceled:
			if r.Error == nil || r.Error.Message == "" {
				t.Errorf("%s item %s has no error", r.Status, r.CustomID)
			}
		default:
			t.Errorf("item %s is still %s", r.CustomID, r.Status)
		}
	}
	if len(results) != n {
		t.Errorf("%d results, want %d", len(results), n)
	}
	for i := range n {
		if id := fmt.Sprintf("item-%d", i); seen[id] != 1 {
			t.Errorf("custom_id %s appears %d times in the results", id, seen[id])
		}
	}
	return by
}

// untilBatch polls the batch until cond holds and returns it.
func untilBatch(t *testing.T, ctx context.Context, c *client.Client, id string, cond func(*api.Batch) bool) *api.Batch {
	t.Helper()
	for {
		b, err := c.GetBatch(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(b) {
			return b
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBatchCompletesWhileOthersStart: a batch completes, and while it
// runs another account's single task starts within a bounded wait. Not
// parallel: it measures a wait, alone on the machine's share of this
// test binary (the other batch tests run after it, in parallel).
func TestBatchCompletesWhileOthersStart(t *testing.T) {
	srv := startServer(t, t.TempDir(), "--admin-key", adminKey, "--workers", "2")
	c := srv.client()
	ctx := waitCtx(t, 3*time.Minute)
	other := srv.clientWithKey(createAccountCLI(t, srv, "other"))
	video := base64File(t, makeVideo(t, "single", 4.5, 640, 360))
	asset := batchAsset(t, ctx, c)

	// Baseline: the other account's task with nothing else running.
	_, baseline := startWait(t, ctx, other, video)

	const n = 40
	created, err := c.CreateBatch(ctx, batchOf(asset, n))
	if err != nil {
		t.Fatal(err)
	}
	if created.Status != api.BatchPending || created.TotalItems != n || len(created.Items) != n {
		t.Fatalf("created = %+v", created)
	}
	// Every item is an ordinary task.
	tk, err := c.GetTask(ctx, created.Items[0].TaskID)
	if err != nil || tk.CustomID == nil || *tk.CustomID != "item-0" {
		t.Fatalf("item task: %+v %v", tk, err)
	}
	untilBatch(t, ctx, c, created.BatchID, func(b *api.Batch) bool { return b.ProcessingItems+b.ReadyItems > 0 })
	single, wait := startWait(t, ctx, other, video)
	during, err := c.GetBatch(ctx, created.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("other account's single task start wait: %v with the batch running (%d of %d items still queued), %v with nothing running (ratio %.1f)",
		wait.Round(time.Millisecond), during.QueuedItems, n, baseline.Round(time.Millisecond), float64(wait)/float64(max(baseline, time.Millisecond)))
	if wait > 10*time.Second {
		t.Errorf("the single task waited %v to start while the batch ran", wait)
	}
	if during.QueuedItems == 0 {
		t.Errorf("the batch had no item queued when the single task started: the test proves nothing about fair share (%+v)", during)
	}
	if _, err := other.Wait(ctx, single, fastWait()...); err != nil {
		t.Fatal(err)
	}

	done, err := c.WaitBatch(ctx, created.BatchID, fastWait()...)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != api.BatchCompleted || done.ReadyItems != n || done.CompletedAt == nil {
		t.Fatalf("batch = %+v", done)
	}
	results, err := c.BatchResults(ctx, created.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	if by := checkResults(t, results, n); by[api.ItemReady] != n {
		t.Errorf("results by status %v, want %d ready", by, n)
	}
	// The other account sees nothing of the batch.
	if _, err := other.GetBatch(ctx, created.BatchID); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("other account's GetBatch: %v, want not found", err)
	}
	list, err := c.ListBatches(ctx, client.BatchListOptions{Statuses: []string{api.BatchCompleted}})
	if err != nil || len(list.Data) != 1 || list.Data[0].BatchID != created.BatchID {
		t.Errorf("list completed: %+v %v", list, err)
	}
	if err := c.DeleteBatch(ctx, created.BatchID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetTask(ctx, created.Items[0].TaskID); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("an item's task after the batch was deleted: %v, want not found", err)
	}
}

// TestBatchCancelLeavesNothingQueued: a cancel mid-way cancels every item
// not started (their jobs too), lets running ones finish, and refuses a
// second cancel.
func TestBatchCancelLeavesNothingQueued(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir(), "--workers", "2", "--admin-key", adminKey, "--webhook-backoff", webhookBackoff)
	c := srv.client()
	ctx := waitCtx(t, 2*time.Minute)
	rc := startReceiver(t, func(int) int { return 204 })
	addWebhook(t, srv, rc)
	asset := batchAsset(t, ctx, c)
	const n = 100
	created, err := c.CreateBatch(ctx, batchOf(asset, n))
	if err != nil {
		t.Fatal(err)
	}
	untilBatch(t, ctx, c, created.BatchID, func(b *api.Batch) bool { return b.ReadyItems >= 2 })
	canceled, err := c.CancelBatch(ctx, created.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	if canceled.QueuedItems != 0 || canceled.CanceledItems == 0 || (canceled.Status != api.BatchCanceling && canceled.Status != api.BatchCanceled) {
		t.Fatalf("after cancel: %+v", canceled)
	}
	if canceled.Status == api.BatchCanceling {
		if err := c.DeleteBatch(ctx, created.BatchID); !errors.Is(err, client.ErrConflict) {
			t.Errorf("delete of a canceling batch: %v, want a conflict", err)
		}
	}
	done, err := c.WaitBatch(ctx, created.BatchID, fastWait()...)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != api.BatchCanceled || done.ReadyItems+done.CanceledItems != n || done.FailedItems != 0 || done.CanceledAt == nil {
		t.Fatalf("canceled batch = %+v", done)
	}
	results, err := c.BatchResults(ctx, created.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	by := checkResults(t, results, n)
	t.Logf("canceled after %d ready: %v", canceled.ReadyItems, by)
	var canceledTask string
	for _, r := range results {
		if r.Status == api.ItemCanceled {
			canceledTask = r.TaskID
		}
	}
	tk, err := c.GetTask(ctx, canceledTask)
	if err != nil || tk.Status != api.StatusFailed || tk.Error == nil || tk.Error.Message != "canceled with its batch" {
		t.Errorf("a canceled item's task: %+v %v", tk, err)
	}
	// One analyze.batch.completed notification, delivered and reported.
	untilBatch(t, ctx, c, created.BatchID, func(b *api.Batch) bool { return len(b.Webhooks) == 1 && b.Webhooks[0].Delivered })
	_, _, events, bad := rc.snapshot()
	var batchEvents []webhook.Event
	for _, ev := range events {
		if ev.Type == webhook.EventBatchCompleted {
			batchEvents = append(batchEvents, ev)
		}
	}
	if len(bad) > 0 || len(batchEvents) != 1 || batchEvents[0].Data.ID != created.BatchID || batchEvents[0].Data.Status != api.BatchCanceled ||
		batchEvents[0].Data.Batch == nil || batchEvents[0].Data.Batch.CanceledItems != done.CanceledItems || batchEvents[0].Data.Batch.ReadyItems != done.ReadyItems {
		t.Errorf("batch events %+v, bad signatures %v", batchEvents, bad)
	}
	var ae *client.APIError
	if _, err := c.CancelBatch(ctx, created.BatchID); !errors.As(err, &ae) || ae.StatusCode != http.StatusConflict || ae.Code != api.CodeBatchCanceled {
		t.Errorf("second cancel: %v, want 409 batch_canceled", err)
	}
	// No job of the batch waits in the queue.
	waiting := -1.0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && waiting != 0; time.Sleep(100 * time.Millisecond) {
		waiting = queueWaiting(t, srv)
	}
	if waiting != 0 {
		t.Errorf("%v jobs still wait in the queue after the cancel", waiting)
	}
}

// queueWaiting reads framewise_queue_jobs_waiting from /metrics.
func queueWaiting(t *testing.T, srv *server) float64 {
	t.Helper()
	resp, err := healthClient.Get("http://" + srv.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^framewise_queue_jobs_waiting (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no framewise_queue_jobs_waiting in /metrics")
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// TestBatchSurvivesKill: the server is SIGKILLed mid-batch and restarted
// on the same data dir; the batch completes with every item exactly once.
func TestBatchSurvivesKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServer(t, dir, "--workers", "2")
	c := srv.client()
	ctx := waitCtx(t, 2*time.Minute)
	asset := batchAsset(t, ctx, c)
	const n = 30
	created, err := c.CreateBatch(ctx, batchOf(asset, n))
	if err != nil {
		t.Fatal(err)
	}
	b := untilBatch(t, ctx, c, created.BatchID, func(b *api.Batch) bool { return b.ReadyItems >= 3 && b.ProcessingItems > 0 })
	t.Logf("killed with %d ready, %d processing, %d queued", b.ReadyItems, b.ProcessingItems, b.QueuedItems)
	srv.kill()
	srv2 := startServer(t, dir, "--workers", "2")
	c2 := srv2.client()
	done, err := c2.WaitBatch(ctx, created.BatchID, fastWait()...)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != api.BatchCompleted || done.ReadyItems != n || done.TotalItems != n {
		t.Fatalf("batch after SIGKILL and restart = %+v", done)
	}
	results, err := c2.BatchResults(ctx, created.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	if by := checkResults(t, results, n); by[api.ItemReady] != n {
		t.Errorf("results by status %v, want %d ready", by, n)
	}
	// The task list holds each item once too.
	list, err := c2.ListTasks(ctx, client.ListOptions{PageLimit: 50})
	if err != nil || list.PageInfo.TotalResults != n {
		t.Errorf("tasks after restart: %v, %d, want %d", err, list.PageInfo.TotalResults, n)
	}
}

// TestBatchesCLI: framewise batches create FILE.jsonl, get, list, wait,
// results, delete against the real server.
func TestBatchesCLI(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir(), "--workers", "2")
	ctx := waitCtx(t, time.Minute)
	asset := batchAsset(t, ctx, srv.client())
	file := t.TempDir() + "/items.jsonl"
	lines := fmt.Sprintf("{\"video\":{\"type\":\"asset_id\",\"asset_id\":%q},\"custom_id\":\"one\"}\n\n{\"video\":{\"asset_id\":%q},\"custom_id\":\"two\",\"temperature\":0.5}\n", asset, asset)
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	conn := []string{"--server", "http://" + srv.addr, "--api-key", testKey}
	out, err := runBinary(t, append([]string{"batches", "create", file, "--prompt", "Describe it.", "--json"}, conn...)...)
	var created api.CreateBatchResponse
	if err != nil || json.Unmarshal([]byte(out), &created) != nil || created.TotalItems != 2 || created.Items[1].CustomID != "two" {
		t.Fatalf("batches create: %v, output %q", err, out)
	}
	id := created.BatchID
	out, err = runBinary(t, append([]string{"batches", "wait", id}, conn...)...)
	if err != nil || !regexp.MustCompile(`Status:\s+completed`).MatchString(out) || !strings.Contains(out, "2: 0 queued, 0 processing, 2 ready") {
		t.Fatalf("batches wait: %v, output %q", err, out)
	}
	out, err = runBinary(t, append([]string{"batches", "list", "--status", "completed,canceled"}, conn...)...)
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "1 batch") {
		t.Errorf("batches list: %v, output %q", err, out)
	}
	out, err = runBinary(t, append([]string{"batches", "results", id, "--json"}, conn...)...)
	if err != nil || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"custom_id":"two","status":"ready"`) {
		t.Errorf("batches results --json: %v, output %q", err, out)
	}
	out, err = runBinary(t, append([]string{"batches", "results", id}, conn...)...)
	if err != nil || !regexp.MustCompile(`(?m)^\S+\s+one\s+ready\s+Produced by the framewise built-in engine`).MatchString(out) {
		t.Errorf("batches results: %v, output %q", err, out)
	}
	out, err = runBinary(t, append([]string{"batches", "cancel", id}, conn...)...)
	if err == nil || !strings.Contains(out, "batch_completed") {
		t.Errorf("batches cancel of a completed batch: %v, output %q", err, out)
	}
	out, err = runBinary(t, append([]string{"batches", "delete", id}, conn...)...)
	if err != nil || out != "deleted "+id+"\n" {
		t.Errorf("batches delete: %v, output %q", err, out)
	}
	out, err = runBinary(t, append([]string{"batches", "create", file, "--prompt", "Describe it.", "--max-tokens", "600", "--wait"}, conn...)...)
	if err != nil || !regexp.MustCompile(`Status:\s+completed`).MatchString(out) || !strings.Contains(out, "2 ready") {
		t.Errorf("batches create --wait: %v, output %q", err, out)
	}
	out, err = runBinary(t, append([]string{"batches", "create", file + ".missing"}, conn...)...)
	if err == nil || !strings.Contains(out, "no such file") {
		t.Errorf("batches create of a missing file: %v, output %q", err, out)
	}
}

// TestBatchExpiresThenIsPurged: items not started by --batch-expiry are
// canceled and the batch expires; --batch-retention after it ended, the
// batch and its items' tasks are gone.
func TestBatchExpiresThenIsPurged(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir(), "--workers", "2", "--batch-expiry", "4s", "--batch-retention", "3s")
	c := srv.client()
	ctx := waitCtx(t, time.Minute)
	asset := batchAsset(t, ctx, c)
	const n = 40
	created, err := c.CreateBatch(ctx, batchOf(asset, n))
	if err != nil {
		t.Fatal(err)
	}
	if got := created.ExpiresAt.Sub(created.CreatedAt); got != 4*time.Second {
		t.Errorf("expires_at - created_at = %v, want 4s", got)
	}
	b := untilBatch(t, ctx, c, created.BatchID, func(b *api.Batch) bool { return b.Status == api.BatchExpired })
	if b.ExpiredAt == nil || b.QueuedItems != 0 || b.CanceledItems == 0 || b.ReadyItems == 0 || b.FailedItems != 0 {
		t.Fatalf("expired batch: %+v", b)
	}
	t.Logf("expired with %d ready, %d processing, %d canceled", b.ReadyItems, b.ProcessingItems, b.CanceledItems)
	results, err := c.BatchResults(ctx, created.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	var expired string
	for _, r := range results {
		if r.Status == api.ItemCanceled {
			expired = r.Error.Message
		}
	}
	if !strings.HasPrefix(expired, "expired with its batch") {
		t.Errorf("an expired item's error: %q", expired)
	}
	for {
		_, err := c.GetBatch(ctx, created.BatchID)
		if errors.Is(err, client.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := c.GetTask(ctx, created.Items[0].TaskID); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("an item's task after the batch was purged: %v", err)
	}
}
