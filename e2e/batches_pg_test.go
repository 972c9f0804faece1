package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
	"github.com/framewise/framewise/internal/blob/blobtest"
	"github.com/framewise/framewise/internal/store/storetest"
)

// TestBatchScaleOut: a batch on PostgreSQL and S3, created through an API
// process and run by two worker processes, one of them killed (SIGKILL)
// mid-batch: the other finishes the batch with every item ready once (no
// item analyzed twice in the workers' logs, each custom_id once in the
// results), and a cancel through the API reaches the workers' queue.
func TestBatchScaleOut(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	migrateDatabase(t, url)
	common := []string{"--database-url", url, "--blob-url", blobtest.S3URL(t).String(), "--log-level", "info"}
	apiSrv := startServer(t, t.TempDir(), append(common, "--role", "api")...)
	workers := []*server{
		startServer(t, t.TempDir(), append(common, "--role", "worker", "--workers", "2")...),
		startServer(t, t.TempDir(), append(common, "--role", "worker", "--workers", "2")...),
	}
	c := apiSrv.client()
	ctx := waitCtx(t, 4*time.Minute)
	asset := batchAsset(t, ctx, c)

	const n = 24
	created, err := c.CreateBatch(ctx, batchOf(asset, n))
	if err != nil {
		t.Fatal(err)
	}
	b := untilBatch(t, ctx, c, created.BatchID, func(b *api.Batch) bool { return b.ReadyItems >= 2 && b.ProcessingItems > 0 })
	t.Logf("killed a worker with %d ready, %d processing, %d queued", b.ReadyItems, b.ProcessingItems, b.QueuedItems)
	workers[0].kill()
	done, err := c.WaitBatch(ctx, created.BatchID, fastWait()...)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != api.BatchCompleted || done.ReadyItems != n {
		t.Fatalf("batch after a worker was killed = %+v", done)
	}
	results, err := c.BatchResults(ctx, created.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	if by := checkResults(t, results, n); by[api.ItemReady] != n {
		t.Errorf("results by status %v, want %d ready", by, n)
	}
	analyzed := 0
	for _, w := range workers {
		analyzed += strings.Count(w.logs.String(), `msg="task analyzed"`)
	}
	// A worker killed between an item's completion and its log line
	// leaves one line out; a line too many is an item analyzed twice.
	if analyzed > n || analyzed < n-1 {
		t.Errorf("%d analyses completed in the workers' logs, want each of the %d items once", analyzed, n)
	}

	// A second batch canceled at once through the API: nothing of it runs
	// after the cancel on the remaining worker.
	second, err := c.CreateBatch(ctx, batchOf(asset, n))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CancelBatch(ctx, second.BatchID); err != nil {
		t.Fatal(err)
	}
	ended, err := c.WaitBatch(ctx, second.BatchID, fastWait()...)
	if err != nil || ended.Status != api.BatchCanceled || ended.QueuedItems != 0 || ended.ReadyItems+ended.FailedItems+ended.CanceledItems != n {
		t.Fatalf("canceled batch = %+v, %v", ended, err)
	}
	list, err := c.ListTasks(ctx, client.ListOptions{Status: api.StatusQueued})
	if err != nil || len(list.Data) != 0 {
		t.Errorf("queued tasks after the cancel: %v %v", list, err)
	}
	t.Logf("canceled batch: %d ready (running when canceled), %d canceled", ended.ReadyItems, ended.CanceledItems)
}
