package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/framewise/framewise/api"
)

// TestBatchCalls checks the wire side of the batch calls: paths, the
// repeated list filters, JSON Lines results, no retry of a create, and
// WaitBatch polling until a final status.
func TestBatchCalls(t *testing.T) {
	t.Parallel()
	var creates, polls atomic.Int32
	var listQuery string
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "POST /v1.3/analyze/batches":
			creates.Add(1)
			writeJSON(w, 503, api.NestedError{Error: api.ErrorObject{Code: "server_busy", Message: "busy"}})
		case "GET /v1.3/analyze/batches":
			listQuery = r.URL.RawQuery
			writeJSON(w, 200, api.BatchList{Data: []api.Batch{}, PageInfo: api.PageInfo{Page: 1}})
		case "GET /v1.3/analyze/batches/b1":
			st := api.BatchProcessing
			if polls.Add(1) >= 3 {
				st = api.BatchCompleted
			}
			writeJSON(w, 200, api.Batch{BatchID: "b1", Status: st})
		case "GET /v1.3/analyze/batches/b1/results":
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.Write([]byte(`{"task_id":"t1","custom_id":"a","status":"ready","data":{"generation_id":"gen_1","data":"x","finish_reason":"stop","usage":{"output_tokens":1}}}` + "\n\n" +
				`{"task_id":"t2","status":"canceled","error":{"code":"canceled","message":"canceled with its batch"}}` + "\n"))
		case "POST /v1.3/analyze/batches/b1/cancel":
			writeJSON(w, 409, api.NestedError{Error: api.ErrorObject{Code: api.CodeBatchCompleted, Message: "done"}})
		default:
			http.NotFound(w, r)
		}
	}))
	ctx := context.Background()
	if _, err := c.CreateBatch(ctx, &api.CreateBatchRequest{ModelName: "pegasus1.5"}); err == nil || creates.Load() != 1 {
		t.Errorf("create: %v after %d attempts, want one failed attempt", err, creates.Load())
	}
	if _, err := c.ListBatches(ctx, BatchListOptions{Statuses: []string{"pending", "processing"}, Modes: []string{"general"}, PageLimit: 5}); err != nil {
		t.Fatal(err)
	}
	if want := "analysis_mode=general&page_limit=5&status=pending&status=processing"; listQuery != want {
		t.Errorf("list query %q, want %q", listQuery, want)
	}
	b, err := c.WaitBatch(ctx, "b1")
	if err != nil || b.Status != api.BatchCompleted || polls.Load() != 3 {
		t.Errorf("WaitBatch: %+v %v after %d polls", b, err, polls.Load())
	}
	res, err := c.BatchResults(ctx, "b1")
	if err != nil || len(res) != 2 || res[0].Data.Data != "x" || res[1].Error.Message != "canceled with its batch" || res[1].CustomID != "" {
		t.Errorf("results: %+v %v", res, err)
	}
	var ae *APIError
	if _, err := c.CancelBatch(ctx, "b1"); err == nil || !strings.Contains(err.Error(), "batch_completed") {
		t.Errorf("cancel: %v", err)
	} else if !errors.As(err, &ae) || ae.StatusCode != 409 {
		t.Errorf("cancel error %T %v", err, err)
	}
	if _, err := c.GetBatch(ctx, ""); err == nil {
		t.Error("empty id: no error")
	}
}
