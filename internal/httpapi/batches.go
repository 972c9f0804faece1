package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/internal/apiconv"
	"github.com/framewise/framewise/internal/task"
)

// Batches is what the API needs of the batch service (task.Service).
type Batches interface {
	CreateBatch(ctx context.Context, body []byte) (*task.Batch, []*task.Task, error)
	GetBatch(ctx context.Context, id string) (*task.Batch, error)
	ListBatches(ctx context.Context, f task.BatchFilter) ([]*task.Batch, int, error)
	CancelBatch(ctx context.Context, id string) (*task.Batch, error)
	DeleteBatch(ctx context.Context, id string) error
	BatchResults(ctx context.Context, id string) (*task.Batch, []*task.Task, error)
}

func (s *Server) createBatch(r *http.Request) (int, any, error) {
	body, err := readBody(r, s.maxBody)
	if err != nil {
		return 0, nil, err
	}
	b, items, err := s.batches.CreateBatch(r.Context(), body)
	if err != nil {
		return busyAnswer(nested, err)
	}
	ab := apiconv.Batch(b)
	out := api.CreateBatchResponse{BatchID: b.ID, Status: b.Status(), TotalItems: b.Total,
		CreatedAt: ab.CreatedAt, ExpiresAt: ab.ExpiresAt, Items: make([]api.CreatedItem, len(items))}
	for i, t := range items {
		out.Items[i] = api.CreatedItem{TaskID: t.ID, CustomID: t.Spec.CustomID}
	}
	return http.StatusCreated, out, nil
}

func (s *Server) listBatches(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	var f task.BatchFilter
	var err error
	if f.Page, f.PageLimit, err = pageParams(q); err != nil {
		return 0, nil, err
	}
	for _, st := range q["status"] {
		if !task.ValidBatchStatus(st) {
			return 0, nil, errorf(http.StatusBadRequest, api.CodeParameterInvalid,
				"The status parameter is invalid: %q. Use pending, processing, canceling, canceled, completed or expired (repeat the parameter for several).", st)
		}
		f.Statuses = append(f.Statuses, st)
	}
	for _, m := range q["analysis_mode"] {
		if m != task.ModeGeneral && m != task.ModeTimeBasedMetadata {
			return 0, nil, errorf(http.StatusBadRequest, api.CodeParameterInvalid,
				"The analysis_mode parameter is invalid: %q. Use general or time_based_metadata.", m)
		}
		f.Modes = append(f.Modes, m)
	}
	batches, total, err := s.batches.ListBatches(r.Context(), f)
	if err != nil {
		return 0, nil, err
	}
	out := api.BatchList{Data: make([]api.Batch, 0, len(batches)), PageInfo: pageInfo(f.Page, f.PageLimit, total)}
	for _, b := range batches {
		out.Data = append(out.Data, apiconv.Batch(b))
	}
	return http.StatusOK, out, nil
}

func (s *Server) getBatch(r *http.Request) (int, any, error) {
	b, err := s.batches.GetBatch(r.Context(), r.PathValue("batch_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, apiconv.Batch(b), nil
}

func (s *Server) cancelBatch(r *http.Request) (int, any, error) {
	b, err := s.batches.CancelBatch(r.Context(), r.PathValue("batch_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, apiconv.Batch(b), nil
}

func (s *Server) deleteBatch(r *http.Request) (int, any, error) {
	if err := s.batches.DeleteBatch(r.Context(), r.PathValue("batch_id")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// batchResults answers the batch's items as JSON Lines, one line per
// item in request order, whatever their status: while the batch runs
// the lines of items not final yet say queued or processing.
func (s *Server) batchResults(r *http.Request) (int, any, error) {
	_, items, err := s.batches.BatchResults(r.Context(), r.PathValue("batch_id"))
	if err != nil {
		return 0, nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, t := range items {
		if err := enc.Encode(apiconv.BatchResult(t)); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, rawBody{contentType: "application/x-ndjson", data: buf.Bytes()}, nil
}
