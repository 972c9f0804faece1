package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// This file holds analyze batches (spec §4.8): up to MaxItems requests
// that share defaults, each an ordinary task that carries its batch's id.
// A batch's status is derived from its items' tasks and three moments the
// store keeps: canceled, expired, and finished (when its last item became
// final).

// Batch statuses, as on the wire. A batch never fails: its items do.
const (
	BatchPending    = "pending"
	BatchProcessing = "processing"
	BatchCanceling  = "canceling"
	BatchCanceled   = "canceled"
	BatchCompleted  = "completed"
	BatchExpired    = "expired"
)

// Batch item statuses, as on the wire.
const (
	ItemQueued     = "queued"
	ItemProcessing = "processing"
	ItemReady      = "ready"
	ItemFailed     = "failed"
	ItemCanceled   = "canceled"
)

// The error messages of the tasks of items that a cancel or an expiry
// kept from running. The task API has no canceled state (Q16): such a
// task is failed with one of these messages, and its batch item is
// canceled.
const (
	CanceledWithBatchMessage = "canceled with its batch"
	ExpiredWithBatchMessage  = "expired with its batch: not started before the batch's expiry"
)

// Batch is one analyze batch as stored, with its item counts as read.
type Batch struct {
	ID         string
	Model      string
	Mode       string
	Total      int
	CreatedAt  time.Time
	ExpiresAt  time.Time
	CanceledAt *time.Time
	ExpiredAt  *time.Time
	// FinishedAt is when the last item became final (ready or failed).
	FinishedAt *time.Time
	Counts     BatchCounts
	// Webhooks is the delivery of the batch's analyze.batch.completed
	// notification to each endpoint of its account, once it ended.
	Webhooks []WebhookStatus
}

// BatchCounts counts a batch's items by item status.
type BatchCounts struct {
	Queued, Processing, Ready, Failed, Canceled int
}

// Add counts one item of status st.
func (c *BatchCounts) Add(st string, n int) {
	switch st {
	case ItemQueued:
		c.Queued += n
	case ItemProcessing:
		c.Processing += n
	case ItemReady:
		c.Ready += n
	case ItemFailed:
		c.Failed += n
	case ItemCanceled:
		c.Canceled += n
	}
}

// Status derives the batch's status. An expired batch stays expired; a
// canceled one is canceling until its running items end.
func (b *Batch) Status() string {
	switch {
	case b.ExpiredAt != nil:
		return BatchExpired
	case b.CanceledAt != nil && b.FinishedAt != nil:
		return BatchCanceled
	case b.CanceledAt != nil:
		return BatchCanceling
	case b.FinishedAt != nil:
		return BatchCompleted
	case b.Counts.Processing+b.Counts.Ready+b.Counts.Failed+b.Counts.Canceled > 0:
		return BatchProcessing
	}
	return BatchPending
}

// ValidBatchStatus reports whether s is a batch status.
func ValidBatchStatus(s string) bool {
	switch s {
	case BatchPending, BatchProcessing, BatchCanceling, BatchCanceled, BatchCompleted, BatchExpired:
		return true
	}
	return false
}

// ItemStatus is the batch item status of a batch's task: queued while the
// task is queued or pending, canceled when a cancel or expiry failed it.
func ItemStatus(status Status, errorMessage string) string {
	switch status {
	case Queued, Pending:
		return ItemQueued
	case Processing:
		return ItemProcessing
	case Ready:
		return ItemReady
	}
	if errorMessage == CanceledWithBatchMessage || errorMessage == ExpiredWithBatchMessage {
		return ItemCanceled
	}
	return ItemFailed
}

// BatchFilter selects a page of batches, newest first. Empty lists match all.
type BatchFilter struct {
	Statuses  []string
	Modes     []string
	Page      int // 1-based
	PageLimit int
}

// BatchStore persists batches. CreateBatch writes the batch, every item's
// task and every item's job in one transaction, or nothing; it refuses
// with a *BusyError when the account has maxActive unfinished batches.
type BatchStore interface {
	CreateBatch(ctx context.Context, b *Batch, items []*Task, maxActive int) error
	GetBatch(ctx context.Context, id string) (*Batch, error)
	ListBatches(ctx context.Context, f BatchFilter) ([]*Batch, int, error)
	// BatchItems returns the batch's tasks in request order.
	BatchItems(ctx context.Context, id string) ([]*Task, error)
	// CancelBatch marks the batch canceled and fails its items not yet
	// started with CanceledWithBatchMessage, in one transaction, unless
	// allow refuses the batch as it is.
	CancelBatch(ctx context.Context, id string, now time.Time, allow func(b *Batch) error) (*Batch, error)
	// DeleteBatch deletes the batch and its tasks unless allow refuses.
	DeleteBatch(ctx context.Context, id string, allow func(b *Batch) error) error
	// ExpireBatches marks the unfinished batches whose expiry passed
	// expired and fails their items not yet started with
	// ExpiredWithBatchMessage; it returns their ids.
	ExpireBatches(ctx context.Context, now time.Time) ([]string, error)
	// PurgeBatches deletes the batches (and their tasks) that finished
	// before before; it returns how many.
	PurgeBatches(ctx context.Context, before time.Time) (int, error)
}

// BatchJobs cancels the waiting jobs of a batch's items (the queue).
type BatchJobs interface {
	CancelBatchJobs(ctx context.Context, batchID string) error
}

// ErrBatchNotFound: no batch with that id.
var ErrBatchNotFound = errors.New("batch not found")

// BatchLimits bound batches (spec §4.8).
type BatchLimits struct {
	MaxItems        int           // requests per batch
	MaxContentHours float64       // sum of the items' video durations
	MaxActive       int           // unfinished batches per account
	Expiry          time.Duration // items not started by then are canceled
	Retention       time.Duration // a finished batch and its results are kept this long
}

// DefaultBatchLimits returns the limits of spec §4.8.
func DefaultBatchLimits() BatchLimits {
	return BatchLimits{MaxItems: 1000, MaxContentHours: 2000, MaxActive: 5, Expiry: 24 * time.Hour, Retention: 30 * 24 * time.Hour}
}

// UseBatches enables batches, stored in st.
func (s *Service) UseBatches(st BatchStore, lim BatchLimits) { s.batches, s.batchLimits = st, lim }

// SetBatchJobs sets what cancels the jobs of a canceled or expired
// batch's items (the queue, built after the service).
func (s *Service) SetBatchJobs(j BatchJobs) { s.batchJobs = j }

// batchItemKeys are the keys a batch request item may have; batchDefaultKeys
// those of defaults.
var (
	batchDefaultKeys = []string{"prompt", "response_format", "temperature", "max_tokens",
		"min_segment_duration", "max_segment_duration", "start_time", "end_time"}
	batchItemKeys = append([]string{"video", "custom_id"}, batchDefaultKeys...)
)

// CreateBatch validates a create-batch body, then stores the batch with
// every item's task and job. Each item is its defaults overlaid with its
// own fields, checked by the same validation as a create-task request
// (DecodeCreate); the first invalid item refuses the whole batch, naming
// it. Unknown assets are 404, assets not ready 409 (spec §4.8).
func (s *Service) CreateBatch(ctx context.Context, body []byte) (*Batch, []*Task, error) {
	if s.batches == nil {
		return nil, nil, ErrBatchNotFound
	}
	lim := s.batchLimits
	top, verr := parseCreateBody(body)
	if verr != nil {
		return nil, nil, verr
	}
	if verr := top.allowOnly("model_name", "analysis_mode", "defaults", "requests"); verr != nil {
		return nil, nil, verr
	}
	for _, k := range []string{"model_name", "analysis_mode"} {
		if !top.has(k) {
			return nil, nil, Missing(k)
		}
	}
	defaults := map[string]json.RawMessage{}
	if d, ok, verr := top.object("defaults"); verr != nil {
		return nil, nil, verr
	} else if ok {
		if verr := d.allowOnly(batchDefaultKeys...); verr != nil {
			return nil, nil, verr
		}
		defaults = d.fields
	}
	reqs, ok, verr := top.array("requests")
	if verr != nil {
		return nil, nil, verr
	}
	if !ok || len(reqs) == 0 {
		return nil, nil, &ValidationError{Status: 400, Code: "parameter_not_provided", Param: "requests",
			Message: fmt.Sprintf("The requests parameter is required: send 1 to %d request items.", lim.MaxItems)}
	}
	if len(reqs) > lim.MaxItems {
		return nil, nil, Invalid("requests", "The requests parameter has %d items, more than the %d a batch may have. Split it into several batches.", len(reqs), lim.MaxItems)
	}
	now := s.now()
	b := &Batch{ID: NewID(now), Total: len(reqs), CreatedAt: now, ExpiresAt: now.Add(lim.Expiry)}
	items := make([]*Task, 0, len(reqs))
	seen := map[string]int{}
	var seconds float64
	for i, raw := range reqs {
		t, err := s.batchItem(ctx, top, defaults, raw, i, now)
		if err != nil {
			return nil, nil, err
		}
		if id := t.Spec.CustomID; id != "" {
			if j, dup := seen[id]; dup {
				return nil, nil, Invalid(fmt.Sprintf("requests[%d].custom_id", i),
					"requests[%d] has custom_id %q, already used by requests[%d]: custom_id must be unique within a batch.", i, id, j)
			}
			seen[id] = i
		}
		seconds += itemSeconds(t)
		items = append(items, t)
	}
	if hours := seconds / 3600; hours > lim.MaxContentHours {
		return nil, nil, Invalid("requests", "The batch's videos last %.1f hours in all, more than the %g content hours a batch may have. Split it into several batches.", hours, lim.MaxContentHours)
	}
	b.Model, b.Mode = items[0].Spec.Model, items[0].Spec.Mode
	if err := s.batches.CreateBatch(ctx, b, items, lim.MaxActive); err != nil {
		var gone *AssetGoneError
		if errors.As(err, &gone) {
			return nil, nil, &ValidationError{Status: 404, Code: "resource_not_exist", Param: "requests",
				Message: fmt.Sprintf("Asset with id %s does not exist (it was deleted while the batch was created).", gone.ID)}
		}
		return nil, nil, err
	}
	b.Counts.Queued = len(items)
	s.log.Info("batch created", "batch_id", b.ID, "items", len(items), "mode", b.Mode, "model", b.Model)
	return b, items, nil
}

// batchItem builds and checks the task of request item i: its defaults
// overlaid with its own fields, the batch's model_name and analysis_mode.
func (s *Service) batchItem(ctx context.Context, top *jsonObject, defaults map[string]json.RawMessage, raw json.RawMessage, i int, now time.Time) (*Task, error) {
	path := fmt.Sprintf("requests[%d]", i)
	item, verr := newObject(raw, path)
	if verr != nil {
		return nil, verr
	}
	if verr := item.allowOnly(batchItemKeys...); verr != nil {
		return nil, verr
	}
	video, ok, verr := item.object("video")
	if verr != nil {
		return nil, verr
	}
	if !ok {
		return nil, &ValidationError{Status: 400, Code: "parameter_not_provided", Param: path + ".video",
			Message: fmt.Sprintf(`The %s.video parameter is required: send {"type":"asset_id","asset_id":…}.`, path)}
	}
	if typ, _, _ := video.str("type"); typ != SourceAssetID {
		return nil, Invalid(path+".video.type", `The %s.video.type parameter must be "asset_id": batch items analyze uploaded assets (POST /v1.3/assets), but %q was given.`, path, typ)
	}
	merged := map[string]json.RawMessage{"model_name": top.fields["model_name"], "analysis_mode": top.fields["analysis_mode"]}
	for k, v := range defaults {
		merged[k] = v
	}
	for k, v := range item.fields {
		if !isNull(v) {
			merged[k] = v
		}
	}
	// A batch prompt is {input_text, media_sources?}: the task's prompt
	// text, or its prompt_v2 when it names media sources.
	if p, ok := merged["prompt"]; ok && !isNull(p) {
		delete(merged, "prompt")
		var bp struct {
			InputText    json.RawMessage `json:"input_text"`
			MediaSources json.RawMessage `json:"media_sources"`
		}
		if json.Unmarshal(p, &bp) == nil && len(bp.MediaSources) == 0 && len(bp.InputText) > 0 {
			merged["prompt"] = bp.InputText
		} else {
			merged["prompt_v2"] = p
		}
	}
	body, err := json.Marshal(merged)
	if err != nil {
		return nil, err
	}
	spec, err := DecodeCreate(body, s.limits)
	if err != nil {
		return nil, itemError(err, path, item)
	}
	t := &Task{ID: NewID(now), Spec: *spec, Status: Queued, CreatedAt: now, UpdatedAt: now}
	if err := s.resolveAssets(ctx, t); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			switch ve.Code {
			case "resource_not_exist":
				ve.Status = 404
			case "asset_not_ready":
				ve.Status = 409
			}
		}
		return nil, itemError(err, path, item)
	}
	return t, nil
}

// itemError names the request item in a validation error of its task.
func itemError(err error, path string, item *jsonObject) error {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	out := *ve
	rename := strings.NewReplacer("prompt_v2", "prompt")
	who := path
	if id, ok, _ := item.str("custom_id"); ok {
		who = fmt.Sprintf("%s (custom_id %q)", path, id)
	}
	if out.Param != "" {
		out.Param = path + "." + rename.Replace(out.Param)
	}
	out.Message = who + ": " + rename.Replace(out.Message)
	return &out
}

// itemSeconds is the length of video a task analyzes.
func itemSeconds(t *Task) float64 {
	if t.Duration == nil {
		return 0
	}
	end := *t.Duration
	if t.Spec.EndTime != nil {
		end = min(end, *t.Spec.EndTime)
	}
	start := 0.0
	if t.Spec.StartTime != nil {
		start = *t.Spec.StartTime
	}
	return max(0, end-start)
}

// GetBatch returns a batch with its item counts.
func (s *Service) GetBatch(ctx context.Context, id string) (*Batch, error) {
	if s.batches == nil {
		return nil, ErrBatchNotFound
	}
	return s.batches.GetBatch(ctx, id)
}

// ListBatches returns one page of batches and the number that match.
func (s *Service) ListBatches(ctx context.Context, f BatchFilter) ([]*Batch, int, error) {
	if s.batches == nil {
		return nil, 0, nil
	}
	return s.batches.ListBatches(ctx, f)
}

// BatchResults returns a batch and its items' tasks in request order.
func (s *Service) BatchResults(ctx context.Context, id string) (*Batch, []*Task, error) {
	b, err := s.GetBatch(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	items, err := s.batches.BatchItems(ctx, id)
	return b, items, err
}

// batchConflict is the 409 of a batch in a state that refuses a change.
func batchConflict(code, format string, args ...any) *ValidationError {
	return &ValidationError{Status: 409, Code: code, Message: fmt.Sprintf(format, args...)}
}

// CancelBatch cancels a pending or processing batch: its items not yet
// started are canceled (their tasks fail with CanceledWithBatchMessage
// and their jobs are canceled, so they never run); running items finish.
// A batch already completed, canceled (or canceling) or expired is a 409.
func (s *Service) CancelBatch(ctx context.Context, id string) (*Batch, error) {
	if s.batches == nil {
		return nil, ErrBatchNotFound
	}
	b, err := s.batches.CancelBatch(ctx, id, s.now(), func(b *Batch) error {
		switch st := b.Status(); st {
		case BatchCompleted:
			return batchConflict("batch_completed", "Batch %s is completed: there is nothing left to cancel.", b.ID)
		case BatchCanceled, BatchCanceling:
			return batchConflict("batch_canceled", "Batch %s is already %s.", b.ID, st)
		case BatchExpired:
			return batchConflict("batch_expired", "Batch %s expired: its items not started were canceled then.", b.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("batch canceled", "batch_id", id, "canceled_items", b.Counts.Canceled, "running_items", b.Counts.Processing)
	s.cancelBatchJobs(ctx, id)
	return b, nil
}

func (s *Service) cancelBatchJobs(ctx context.Context, id string) {
	if s.batchJobs == nil {
		return
	}
	// The items' tasks are failed already: a job that escapes this finds
	// its task final and ends without running.
	if err := s.batchJobs.CancelBatchJobs(ctx, id); err != nil {
		s.log.Warn("batch canceled, but the jobs of its items could not all be canceled", "batch_id", id, "err", err)
	}
}

// DeleteBatch deletes a completed, canceled or expired batch with its
// items' tasks and results; any other is a 409 batch_not_terminal.
func (s *Service) DeleteBatch(ctx context.Context, id string) error {
	if s.batches == nil {
		return ErrBatchNotFound
	}
	err := s.batches.DeleteBatch(ctx, id, func(b *Batch) error {
		switch st := b.Status(); {
		case st != BatchCompleted && st != BatchCanceled && st != BatchExpired:
			return batchConflict("batch_not_terminal", "Batch %s is %s: cancel it (POST /v1.3/analyze/batches/%s/cancel) and wait until it is canceled, or wait until it is completed, then delete it.", b.ID, st, b.ID)
		case b.Counts.Processing > 0:
			return batchConflict("batch_not_terminal", "Batch %s still has %d items processing; delete it once they end.", b.ID, b.Counts.Processing)
		}
		return nil
	})
	if err == nil {
		s.log.Info("batch deleted", "batch_id", id)
	}
	return err
}

// SweepBatches expires the batches whose expiry passed (their items not
// started are canceled, and their jobs) and deletes the batches finished
// longer than the retention ago. The queue runs it periodically.
func (s *Service) SweepBatches(ctx context.Context) error {
	if s.batches == nil {
		return nil
	}
	now := s.now()
	ids, err := s.batches.ExpireBatches(ctx, now)
	if err != nil {
		return err
	}
	for _, id := range ids {
		s.log.Info("batch expired", "batch_id", id)
		s.cancelBatchJobs(ctx, id)
	}
	n, err := s.batches.PurgeBatches(ctx, now.Add(-s.batchLimits.Retention))
	if n > 0 {
		s.log.Info("finished batches past their retention deleted", "batches", n)
	}
	return err
}
