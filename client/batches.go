package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/framewise/framewise/api"
)

const batchesPath = "/analyze/batches"

// CreateBatch creates a batch of analyses (POST /analyze/batches): up to
// 1,000 requests, each naming an asset, sharing req.Defaults. Every item
// becomes an ordinary task; the answer lists their ids. The batch is
// created whole or not at all: an invalid item refuses it with an
// *APIError naming the item. CreateBatch is not retried (a retry could
// create a second batch).
func (c *Client) CreateBatch(ctx context.Context, req *api.CreateBatchRequest, opts ...CallOption) (*api.CreateBatchResponse, error) {
	if req == nil {
		return nil, errors.New("framewise: CreateBatch: nil request")
	}
	r, err := jsonRequest("CreateBatch", http.MethodPost, batchesPath, req, opts)
	if err != nil {
		return nil, err
	}
	var out api.CreateBatchResponse
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetBatch returns a batch with its item counts (GET /analyze/batches/{id}).
// An unknown id gives an error matching ErrNotFound.
func (c *Client) GetBatch(ctx context.Context, id string, opts ...CallOption) (*api.Batch, error) {
	return c.batchCall(ctx, http.MethodGet, id, "", opts)
}

// CancelBatch cancels a batch (POST /analyze/batches/{id}/cancel): items
// not started never run, running ones finish. It returns the batch as it
// is then (canceling or canceled). A batch completed, canceled or expired
// gives an error matching ErrConflict (code batch_completed,
// batch_canceled or batch_expired).
func (c *Client) CancelBatch(ctx context.Context, id string, opts ...CallOption) (*api.Batch, error) {
	return c.batchCall(ctx, http.MethodPost, id, "/cancel", opts)
}

func (c *Client) batchCall(ctx context.Context, method, id, suffix string, opts []CallOption) (*api.Batch, error) {
	if id == "" {
		return nil, errors.New("framewise: empty batch id")
	}
	var out api.Batch
	r := &request{method: method, path: batchesPath + "/" + url.PathEscape(id) + suffix, call: callOptions(opts)}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteBatch deletes a completed, canceled or expired batch with its
// items' tasks (DELETE /analyze/batches/{id}); another batch gives an
// error matching ErrConflict (code batch_not_terminal).
func (c *Client) DeleteBatch(ctx context.Context, id string, opts ...CallOption) error {
	if id == "" {
		return errors.New("framewise: DeleteBatch: empty batch id")
	}
	return c.do(ctx, &request{method: http.MethodDelete, path: batchesPath + "/" + url.PathEscape(id), call: callOptions(opts)}, nil)
}

// BatchListOptions selects a page of batches. Zero values are left out.
// Statuses and Modes each match any of their values.
type BatchListOptions struct {
	Page      int      // 1-based
	PageLimit int      // at most 50
	Statuses  []string // api.Batch* values
	Modes     []string // api.ModeGeneral, api.ModeTimeBasedMetadata
}

func (o BatchListOptions) query() url.Values {
	q := url.Values{}
	if o.Page > 0 {
		q.Set("page", strconv.Itoa(o.Page))
	}
	if o.PageLimit > 0 {
		q.Set("page_limit", strconv.Itoa(o.PageLimit))
	}
	q["status"] = o.Statuses
	q["analysis_mode"] = o.Modes
	return q
}

// ListBatches returns one page of batches, newest first (GET /analyze/batches).
func (c *Client) ListBatches(ctx context.Context, opts BatchListOptions, callOpts ...CallOption) (*api.BatchList, error) {
	var out api.BatchList
	if err := c.do(ctx, &request{method: http.MethodGet, path: batchesPath, query: opts.query(), call: callOptions(callOpts)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Batches iterates over every batch that matches opts, page after page,
// like Tasks.
func (c *Client) Batches(ctx context.Context, opts BatchListOptions) iter.Seq2[api.Batch, error] {
	return pages(opts.Page, "batches", func(page int) ([]api.Batch, api.PageInfo, error) {
		o := opts
		o.Page = page
		list, err := c.ListBatches(ctx, o)
		if err != nil {
			return nil, api.PageInfo{}, err
		}
		return list.Data, list.PageInfo, nil
	})
}

// BatchResults returns one result per item of a batch, in request order
// (GET /analyze/batches/{id}/results, JSON Lines). While the batch runs,
// items not final yet have status queued or processing and no data.
func (c *Client) BatchResults(ctx context.Context, id string, opts ...CallOption) ([]api.BatchResult, error) {
	if id == "" {
		return nil, errors.New("framewise: BatchResults: empty batch id")
	}
	cc := callOptions(opts)
	if cc.raw == nil { // WithRawResponse gets the JSON Lines as sent
		cc.raw = new(json.RawMessage)
	}
	if err := c.do(ctx, &request{method: http.MethodGet, path: batchesPath + "/" + url.PathEscape(id) + "/results", call: cc}, nil); err != nil {
		return nil, err
	}
	var out []api.BatchResult
	err := eachLine(bytes.NewReader(*cc.raw), maxBodyBytes, func(line []byte) (bool, error) {
		var r api.BatchResult
		if err := json.Unmarshal(line, &r); err != nil {
			return false, fmt.Errorf("framewise: batch %s results: line %d: %w", id, len(out)+1, err)
		}
		out = append(out, r)
		return true, nil
	})
	return out, err
}

// batchDone reports whether a batch status is final.
func batchDone(status string) bool {
	switch status {
	case api.BatchCompleted, api.BatchCanceled, api.BatchExpired:
		return true
	}
	return false
}

// WaitBatch polls GetBatch until the batch is completed, canceled or
// expired, on the schedule of Wait (its WaitOptions apply, but OnUpdate,
// which takes tasks, is not called). It returns the final batch; when
// the context ends or GetBatch fails, the last batch seen (possibly nil)
// and that error. Items that failed do not make WaitBatch fail: read them
// in the batch's counts and BatchResults.
func (c *Client) WaitBatch(ctx context.Context, id string, opts ...WaitOption) (*api.Batch, error) {
	return poll(ctx, c, opts, func() (*api.Batch, error) { return c.GetBatch(ctx, id) },
		func(b *api.Batch) bool { return batchDone(b.Status) })
}
