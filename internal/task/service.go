package task

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"
)

// Store persists tasks. Create writes the task row and enqueues its job in
// one transaction. Update applies change to the current row inside a
// transaction and writes it back; change returns ErrTransition (or another
// error) to leave the row as it was.
type Store interface {
	Create(ctx context.Context, t *Task) error
	Get(ctx context.Context, id string) (*Task, error)
	List(ctx context.Context, f Filter) ([]*Task, int, error)
	Update(ctx context.Context, id string, change func(t *Task) error) (*Task, error)
	// Delete removes the task unless allow returns an error, which is returned.
	Delete(ctx context.Context, id string, allow func(t *Task) error) (*Task, error)
	// Checkpoints keep finished pieces of a running task's work by key.
	SaveCheckpoint(ctx context.Context, id, key string, value []byte) error
	Checkpoints(ctx context.Context, id string) (map[string][]byte, error)
	DropCheckpoints(ctx context.Context, id string) error
	// ChargeVideo counts the video of a synchronous analysis against its
	// account's video quota (a *BusyError when over it).
	ChargeVideo(ctx context.Context, t *Task) error
	KeyStore
}

// Filter selects a page of tasks, newest first. Empty fields match all.
type Filter struct {
	Status       Status
	VideoURL     string
	AssetID      string
	VideoID      string
	AnalysisMode string
	Page         int // 1-based
	PageLimit    int
}

// Blobs stores source videos.
type Blobs interface {
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	LocalPath(ctx context.Context, key string) (path string, release func(), err error)
	Delete(ctx context.Context, key string) error
}

// VideoChecker probes a video file and checks it against the input
// requirements. It returns the duration in seconds, or a *VideoError when
// the video fails a requirement.
type VideoChecker interface {
	Check(ctx context.Context, path string) (duration float64, err error)
}

// RunCanceler stops the job of a task wherever it runs, or keeps a job not
// yet started from running.
type RunCanceler interface {
	CancelRun(ctx context.Context, taskID string) error
}

// CanceledMessage is the error message of a task canceled by an operator.
// The v1.3 status enum has no canceled state (docs/decisions.md, Q16), so
// such a task is failed.
const CanceledMessage = "The task was canceled by an operator."

// Service owns every change of task state.
type Service struct {
	runs    RunCanceler // nil: runs are not stopped, only the task's state changes
	store   Store
	blobs   Blobs
	checker VideoChecker
	assets  AssetResolver // nil: asset sources are unknown assets
	limits  Limits
	admit   *admission
	log     *slog.Logger

	batches     BatchStore // nil: no batches
	batchLimits BatchLimits
	batchJobs   BatchJobs // nil: a canceled batch's jobs find their tasks final
	now         func() time.Time
}

// NewService returns a Service.
func NewService(store Store, blobs Blobs, checker VideoChecker, limits Limits, log *slog.Logger) *Service {
	return &Service{store: store, blobs: blobs, checker: checker, limits: limits, admit: newAdmission(limits), log: log,
		now: func() time.Time { return time.Now().UTC() }}
}

// NewID returns a new 24-character lowercase hex id whose first 8
// characters are the creation time in seconds, like upstream ids.
func NewID(now time.Time) string {
	var b [12]byte
	s := uint32(now.Unix())
	b[0], b[1], b[2], b[3] = byte(s>>24), byte(s>>16), byte(s>>8), byte(s)
	_, _ = rand.Read(b[4:])
	return hex.EncodeToString(b[:])
}

// SourceKey is the blob key of a task's stored source video.
func SourceKey(id string) string { return "tasks/" + id + "/source" }

// Create validates a create request body, stores the task and enqueues its
// job. A base64 video is decoded, stored and checked against the input
// requirements before anything is persisted; one that fails is a
// *ValidationError.
//
// With idem set, a request whose key was used in the last IdempotencyTTL
// creates nothing: it returns the task that key created, with replayed
// true, or a 422 *ValidationError when its body differs. Requests that fail
// do not use up their key.
func (s *Service) Create(ctx context.Context, body []byte, idem *Idempotency) (t *Task, replayed bool, err error) {
	if idem != nil {
		rec, err := s.store.LookupKey(ctx, idem.Scope, idem.Key, s.now().Add(-IdempotencyTTL))
		if err != nil {
			return nil, false, err
		}
		if rec != nil {
			t, err := replay(rec, idem.Key, body)
			return t, err == nil, err
		}
	}
	// A base64 video is validated in place and decoded as it is stored,
	// so that a create holds no more than its body in memory.
	inStart, inEnd, inline := findInlineVideo(body)
	decodeBody := body
	if inline {
		decodeBody = withPlaceholder(body, inStart, inEnd)
	}
	spec, err := DecodeCreate(decodeBody, s.limits)
	if err != nil {
		return nil, false, err
	}
	now := s.now()
	t = &Task{ID: NewID(now), Spec: *spec, Status: Queued, CreatedAt: now, UpdatedAt: now}

	if err := s.resolveAssets(ctx, t); err != nil {
		return nil, false, err
	}
	if spec.Source.Type == SourceBase64 {
		var src io.Reader = bytes.NewReader(spec.Source.Data)
		t.Spec.Source.Data, spec.Source.Data = nil, nil
		if inline {
			r, verr := inlinePayload(body[inStart:inEnd], "video.base64_string", s.limits.MaxBase64Bytes)
			if verr != nil {
				return nil, false, verr
			}
			src = r
		}
		ctx, release, err := s.Admit(ctx)
		if err != nil {
			return nil, false, err
		}
		err = s.storeBase64(ctx, t, src)
		release()
		if err != nil {
			return nil, false, err
		}
	}
	var rec *KeyRecord
	if idem != nil {
		rec, err = s.store.CreateWithKey(ctx, t, idem.Scope, idem.Key, bodyHash(body), now.Add(-IdempotencyTTL))
	} else {
		err = s.store.Create(ctx, t)
	}
	if err != nil || rec != nil {
		err = assetGone(&t.Spec, err)
		if t.BlobKey != "" {
			_ = s.blobs.Delete(ctx, "tasks/"+t.ID)
		}
		if err != nil {
			return nil, false, err
		}
		// A request with the same key won the race to the store.
		t, err := replay(rec, idem.Key, body)
		return t, err == nil, err
	}
	s.log.Info("task created", "task_id", t.ID, "source", t.Spec.Source.Type, "mode", t.Spec.Mode, "model", t.Spec.Model)
	return t, false, nil
}

// storeBase64 stores the decoded video src of t, probes it and checks
// it against the input requirements and t's time window. A probe that
// fails for a reason other than the video (timeout, killed: the machine is
// overloaded) is a *BusyError, not an internal error.
func (s *Service) storeBase64(ctx context.Context, t *Task, src io.Reader) error {
	if err := s.putBase64(ctx, t, src); err != nil {
		return err
	}
	key := t.BlobKey
	t.BlobKey = ""
	dur, err := s.checkBlob(ctx, key)
	if err != nil {
		_ = s.blobs.Delete(ctx, "tasks/"+t.ID)
		var ve *VideoError
		switch {
		case errors.As(err, &ve):
			return &ValidationError{Status: 400, Code: "video_invalid", Param: "video.base64_string", Message: ve.Message}
		case ctx.Err() != nil, errors.Is(err, fs.ErrNotExist):
			return err
		default:
			s.log.Warn("probe of a base64 video failed; answered server_busy", "task_id", t.ID, "err", err)
			return probeBusy(err)
		}
	}
	if err := CheckWindow(t.Spec, dur); err != nil {
		_ = s.blobs.Delete(ctx, "tasks/"+t.ID)
		return &ValidationError{Status: 400, Code: "parameter_invalid", Param: err.Rule, Message: err.Message}
	}
	t.BlobKey = key
	t.Duration = &dur
	return nil
}

// putBase64 stores the decoded video src of t as its source (t.BlobKey),
// unchecked.
func (s *Service) putBase64(ctx context.Context, t *Task, src io.Reader) error {
	key := SourceKey(t.ID)
	dr := &decodeErrReader{r: src}
	if _, err := s.blobs.Put(ctx, key, dr); err != nil {
		_ = s.blobs.Delete(ctx, "tasks/"+t.ID)
		if dr.err != nil {
			return Invalid("video.base64_string", "The video.base64_string parameter is not usable: it is not valid base64. Send the file encoded as standard base64.")
		}
		return fmt.Errorf("store base64 video: %w", err)
	}
	t.BlobKey = key
	return nil
}

// decodeErrReader remembers a read error of the base64 decoder, to tell
// a video that is not base64 from a store that failed.
type decodeErrReader struct {
	r   io.Reader
	err error
}

func (d *decodeErrReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		d.err = err
	}
	return n, err
}

func (s *Service) checkBlob(ctx context.Context, key string) (float64, error) {
	path, release, err := s.blobs.LocalPath(ctx, key)
	if err != nil {
		return 0, err
	}
	defer release()
	return s.checker.Check(ctx, path)
}

// CheckWindow checks start_time, end_time and time ranges against the
// probed duration (V27, V41). Rule holds the parameter name.
func CheckWindow(spec Spec, duration float64) *VideoError {
	if spec.StartTime != nil && *spec.StartTime >= duration {
		return &VideoError{Rule: "start_time", Message: fmt.Sprintf("start_time %.3g s must be less than the video duration of %.3f s.", *spec.StartTime, duration)}
	}
	if spec.EndTime != nil && *spec.EndTime > duration+0.001 {
		return &VideoError{Rule: "end_time", Message: fmt.Sprintf("end_time %.3g s must not exceed the video duration of %.3f s.", *spec.EndTime, duration)}
	}
	start, end := 0.0, duration
	if spec.StartTime != nil {
		start = *spec.StartTime
	}
	if spec.EndTime != nil {
		end = *spec.EndTime
	}
	if end-start < 4 {
		return &VideoError{Rule: "end_time", Message: fmt.Sprintf("The analysis window from %.3f s to %.3f s is shorter than the minimum of 4 s.", start, end)}
	}
	if rf := spec.ResponseFormat; rf != nil {
		for i, d := range rf.SegmentDefinitions {
			for j, r := range d.TimeRanges {
				if r.EndTime > duration+0.001 {
					return &VideoError{Rule: fmt.Sprintf("response_format.segment_definitions[%d].time_ranges[%d].end_time", i, j),
						Message: fmt.Sprintf("time range %.3f–%.3f s of segment definition %q ends after the video duration of %.3f s.", r.StartTime, r.EndTime, d.ID, duration)}
				}
			}
		}
	}
	return nil
}

// Get returns a task by id.
func (s *Service) Get(ctx context.Context, id string) (*Task, error) { return s.store.Get(ctx, id) }

// List returns one page of tasks and the total number that match.
func (s *Service) List(ctx context.Context, f Filter) ([]*Task, int, error) {
	return s.store.List(ctx, f)
}

// Delete removes a task that is not processing, and its stored files. A
// queued or pending task that is deleted never runs: its job finds no task.
func (s *Service) Delete(ctx context.Context, id string) error {
	t, err := s.store.Delete(ctx, id, func(t *Task) error {
		if t.Status == Processing {
			return ErrProcessing
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.blobs.Delete(ctx, "tasks/"+t.ID); err != nil {
		s.log.Warn("task deleted but its files were not", "task_id", t.ID, "err", err)
	}
	s.log.Info("task deleted", "task_id", id, "status", t.Status)
	return nil
}

// SetRunCanceler sets what Cancel uses to stop a task's job. The queue is
// built after the service (it runs the pipeline, which reports to the
// service), so it is set once both exist, before the server starts.
func (s *Service) SetRunCanceler(c RunCanceler) { s.runs = c }

// Cancel ends a queued, pending or processing task as failed with
// CanceledMessage, then stops its job: a job not yet started never runs, a
// running one has its context canceled, which kills its FFmpeg processes
// and model calls. It returns the failed task; ErrFinished when the task is
// already ready or failed, ErrNotFound when there is none. The task is
// failed even when stopping the job fails: that error is logged, and the
// job finds the task final when it next reports.
func (s *Service) Cancel(ctx context.Context, id string) (*Task, error) {
	t, err := s.Fail(ctx, id, CanceledMessage)
	if errors.Is(err, ErrTransition) {
		return nil, fmt.Errorf("%w (%w)", ErrFinished, err)
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("task canceled by an operator", "task_id", id)
	if s.runs != nil {
		if err := s.runs.CancelRun(ctx, id); err != nil {
			s.log.Warn("task canceled, but its job could not be stopped", "task_id", id, "err", err)
		}
	}
	return t, nil
}

// move changes the status of a task if the lifecycle allows it.
func (s *Service) move(ctx context.Context, id string, next Status, change func(t *Task)) (*Task, error) {
	return s.store.Update(ctx, id, func(t *Task) error {
		if !t.Status.CanMoveTo(next) {
			return fmt.Errorf("%w: %s → %s", ErrTransition, t.Status, next)
		}
		t.Status = next
		t.UpdatedAt = s.now()
		if change != nil {
			change(t)
		}
		return nil
	})
}

// Begin is called by the worker when it picks up a task's job. It moves the
// task through pending to processing and returns it. A task already
// processing (its previous run crashed) is returned as it is, so the run
// resumes. It returns ErrNotFound when the task was deleted and
// ErrTransition when it is already terminal.
func (s *Service) Begin(ctx context.Context, id string) (*Task, error) {
	t, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if t.Status.Terminal() {
		return t, fmt.Errorf("%w: task is already %s", ErrTransition, t.Status)
	}
	if t.Status == Queued {
		if t, err = s.move(ctx, id, Pending, func(t *Task) { t.Stage = "starting" }); err != nil {
			return nil, err
		}
	}
	return s.move(ctx, id, Processing, nil)
}

// Progress records the stage and percent of a running task.
func (s *Service) Progress(ctx context.Context, id, stage string, percent float64) error {
	_, err := s.store.Update(ctx, id, func(t *Task) error {
		if t.Status != Processing {
			return fmt.Errorf("%w: progress on a %s task", ErrTransition, t.Status)
		}
		t.Stage, t.Percent = stage, percent
		t.UpdatedAt = s.now()
		return nil
	})
	return err
}

// SetSource records the stored copy of the source video and its duration.
func (s *Service) SetSource(ctx context.Context, id, blobKey string, duration *float64) error {
	_, err := s.store.Update(ctx, id, func(t *Task) error {
		if t.Status != Processing {
			return fmt.Errorf("%w: source on a %s task", ErrTransition, t.Status)
		}
		if blobKey != "" {
			t.BlobKey = blobKey
		}
		if duration != nil {
			t.Duration = duration
		}
		return nil
	})
	return err
}

// Complete stores the result of a processing task and makes it ready.
// warning, when not empty, is the truncation notice of a result whose
// FinishReason is "length". Completing twice is refused, so a retried job
// never duplicates a result.
func (s *Service) Complete(ctx context.Context, id string, r Result, warning string) (*Task, error) {
	t, err := s.move(ctx, id, Ready, func(t *Task) {
		now := s.now()
		t.CompletedAt = &now
		t.Result = &r
		t.ErrorMessage = warning
		t.Stage, t.Percent = "done", 100
	})
	if err == nil {
		if derr := s.store.DropCheckpoints(ctx, id); derr != nil {
			s.log.Warn("could not drop checkpoints", "task_id", id, "err", derr)
		}
		s.log.Info("task ready", "task_id", id, "output_tokens", r.OutputTokens, "took", t.CompletedAt.Sub(t.CreatedAt).Round(time.Millisecond))
	}
	return t, err
}

// Fail ends a task as failed with a message for the client.
func (s *Service) Fail(ctx context.Context, id, message string) (*Task, error) {
	t, err := s.move(ctx, id, Failed, func(t *Task) {
		now := s.now()
		t.CompletedAt = &now
		t.ErrorMessage = message
		t.Stage = "failed"
	})
	if err == nil {
		s.log.Info("task failed", "task_id", id, "reason", message)
	}
	return t, err
}

// SaveCheckpoint keeps one finished piece of a running task's work, so that
// a retried job need not repeat it.
func (s *Service) SaveCheckpoint(ctx context.Context, id, key string, value []byte) error {
	return s.store.SaveCheckpoint(ctx, id, key, value)
}

// Checkpoints returns the finished pieces of a task's work by key.
func (s *Service) Checkpoints(ctx context.Context, id string) (map[string][]byte, error) {
	return s.store.Checkpoints(ctx, id)
}
