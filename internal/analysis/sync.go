package analysis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/framewise/framewise/internal/engine"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/redact"
	"github.com/framewise/framewise/internal/task"
)

// SyncPreparer validates a POST /analyze body into a task that is not
// stored (task.Service.PrepareSync) and deletes what it stored for it.
type SyncPreparer interface {
	PrepareSync(ctx context.Context, body []byte) (*task.Task, bool, error)
	ChargeSync(ctx context.Context, t *task.Task) error
	Discard(t *task.Task)
}

// Sync runs POST /analyze requests while the client waits: the same
// source, probe and engine steps as a task's job, in the request, with no
// row, no job, no checkpoints and no retries. Its own Pipeline (own FFmpeg
// slots, own model clients) and its own bound on concurrent requests keep
// synchronous and queued work from starving each other.
type Sync struct {
	Prepare  SyncPreparer
	Pipeline *Pipeline
	slots    chan struct{}
}

// NewSync returns a Sync that runs at most concurrency requests at once.
func NewSync(prep SyncPreparer, p *Pipeline, concurrency int) *Sync {
	return &Sync{Prepare: prep, Pipeline: p, slots: make(chan struct{}, max(1, concurrency))}
}

// SyncRun is one admitted, validated synchronous request whose video is
// readable. Close it when done.
type SyncRun struct {
	stream bool
	gen    string
	s      *Sync
	t      *task.Task
	src    *source
	eng    engine.Engine
	start  time.Time
	closed bool
}

// Begin admits a request (a *SyncBusyError at once when every slot is
// taken), validates it and makes its video readable and checked: every
// error it returns is the client's answer before any event is sent
// (*task.ValidationError, *task.BusyError), or an operational failure.
func (s *Sync) Begin(ctx context.Context, body []byte) (_ *SyncRun, err error) {
	select {
	case s.slots <- struct{}{}:
	default:
		return nil, task.SyncBusy(cap(s.slots))
	}
	r := &SyncRun{s: s, start: time.Now(), gen: newGenerationID()}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	t, stream, err := s.Prepare.PrepareSync(ctx, body)
	if err != nil {
		return nil, err
	}
	r.t, r.stream = t, stream
	p := s.Pipeline
	eng, ok := p.Engines[t.Spec.Model]
	if !ok {
		return nil, &task.ValidationError{Status: 400, Code: "parameter_invalid", Param: "model_name",
			Message: fmt.Sprintf("No engine is configured for model %s.", t.Spec.Model)}
	}
	r.eng = eng
	log := p.Log.With("request", t.ID)
	log.Info("synchronous analysis started", "source", t.Spec.Source.Type, "model", t.Spec.Model, "stream", stream)
	r.src, err = p.source(ctx, log, t, syncRecord{t}, task.MaxSyncDuration)
	var final *finalError
	switch {
	case errors.As(err, &final):
		return nil, &task.ValidationError{Status: 400, Code: "video_invalid", Param: "video", Message: redact.Text(final.message)}
	case err != nil:
		return nil, redact.Error(err)
	}
	// Its video counts against the account's quota like a task's.
	if err := s.Prepare.ChargeSync(ctx, t); err != nil {
		return nil, err
	}
	return r, nil
}

// Streamed is the request's stream parameter.
func (r *SyncRun) Streamed() bool { return r.stream }

// GenerationID identifies the answer, from before it starts.
func (r *SyncRun) GenerationID() string { return r.gen }

// Analyze runs the engine. With stream set (a streamed request) it
// receives the answer's text as it is produced. A failure of the analysis
// is a *task.AnalysisError; a canceled ctx (the client went away) stops the
// engine and its model calls, and is returned as is.
func (r *SyncRun) Analyze(ctx context.Context, stream func(text string)) (*task.Result, string, error) {
	p := r.s.Pipeline
	log := p.Log.With("request", r.t.ID)
	ctx, cancel, bounded := p.bound(ctx, r.start, r.src.info.Duration)
	defer cancel()
	in, err := p.input(ctx, log, r.t, syncRecord{r.t}, r.src)
	if err == nil {
		in.Stream = stream
		var out *engine.Output
		if out, err = r.eng.Analyze(ctx, in); err == nil {
			res := result(out)
			res.GenerationID = r.gen
			log.Info("synchronous analysis done", "engine", r.eng.Name(), "took", time.Since(r.start).Round(time.Millisecond),
				"finish_reason", res.FinishReason)
			return &res, out.Warning, nil
		}
	}
	err = redact.Error(bounded(err))
	if ctx.Err() != nil && context.Cause(ctx) == context.Canceled {
		log.Info("synchronous analysis stopped: the client went away", "took", time.Since(r.start).Round(time.Millisecond))
		return nil, "", err
	}
	var refusal *engine.Refusal
	var final *finalError
	var rule *media.RuleError
	var bound *media.BoundError
	failed := func(status int, code, msg string) error {
		log.Warn("synchronous analysis failed", "status", status, "err", err)
		return &task.AnalysisError{Status: status, Code: code, Message: redact.Text(msg)}
	}
	switch {
	case errors.As(err, &bound):
		return nil, "", failed(504, "analysis_timeout", boundMessage(bound))
	case errors.As(err, &rule):
		return nil, "", failed(400, "video_invalid", "The video cannot be analyzed: "+rule.Message)
	case errors.As(err, &refusal):
		return nil, "", failed(502, "analysis_failed", refusal.Message)
	case errors.As(err, &final):
		return nil, "", failed(502, "analysis_failed", final.message)
	}
	log.Error("synchronous analysis failed", "err", err)
	return nil, "", &task.AnalysisError{Status: 500, Code: "internal_error", Message: "The analysis failed: " + userMessage(err) + "."}
}

// Close releases the request's video and its slot.
func (r *SyncRun) Close() {
	if r.closed {
		return
	}
	r.closed = true
	if r.src != nil {
		r.src.release()
	}
	if r.t != nil {
		r.s.Prepare.Discard(r.t)
	}
	<-r.s.slots
}

// syncRecord records a synchronous run: its progress goes to the log only
// (nobody can poll it), its source is kept on the task value.
type syncRecord struct{ t *task.Task }

func (syncRecord) Progress(context.Context, string, string, float64) error { return nil }

func (s syncRecord) SetSource(_ context.Context, _, key string, duration *float64) error {
	if key != "" {
		s.t.BlobKey = key
	}
	if duration != nil {
		s.t.Duration = duration
	}
	return nil
}
