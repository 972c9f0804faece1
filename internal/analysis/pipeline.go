// Package analysis is the pipeline that runs one task: source → probe →
// validate → engine → result. It reports back only through the task
// service and keeps checkpoints (the stored source, the probed duration)
// so that a job retried after a crash skips finished work.
package analysis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/framewise/framewise/internal/asset"
	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/diskspace"
	"github.com/framewise/framewise/internal/engine"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/redact"
	"github.com/framewise/framewise/internal/task"
)

// Tasks is what the pipeline needs of the task service.
type Tasks interface {
	Begin(ctx context.Context, id string) (*task.Task, error)
	Progress(ctx context.Context, id, stage string, percent float64) error
	SetSource(ctx context.Context, id, blobKey string, duration *float64) error
	Complete(ctx context.Context, id string, r task.Result, warning string) (*task.Task, error)
	Fail(ctx context.Context, id, message string) (*task.Task, error)
	SaveCheckpoint(ctx context.Context, id, key string, value []byte) error
	Checkpoints(ctx context.Context, id string) (map[string][]byte, error)
}

// Downloader fetches a URL source. Temporary tells whether a failed
// download is worth retrying (server errors, timeouts) or final.
type Downloader interface {
	Download(ctx context.Context, rawURL string, w io.Writer) (int64, error)
	Temporary(err error) bool
}

// Pipeline runs analysis tasks.
type Pipeline struct {
	Tasks      Tasks
	Blobs      task.Blobs
	Downloader Downloader
	Media      *media.Tool
	// Assets looks up the image assets that prompt_v2 and segment
	// definitions name as reference images; nil refuses them.
	Assets task.AssetResolver
	// Engines maps a model name to the engine that serves it.
	Engines map[string]engine.Engine
	// Fanout, when set, lets the analysis of a long video fan out into
	// chunk jobs that any worker takes (fanout.go); nil runs every task in
	// one job.
	Fanout Fanout
	// ChunkWindows is how many windows one chunk job computes (K); 0 takes
	// DefaultChunkWindows, a negative value turns fan-out off. A video fans
	// out when it has at least FanoutChunks × K windows.
	ChunkWindows int
	// JobBound bounds one run of a task by the duration of its video,
	// counted from the start of the run; zero takes media.DefaultJobBound.
	JobBound media.Bound
	Log      *slog.Logger

	copies localCopies // local copies of videos shared by chunk jobs
}

// Run implements queue.Runner.
func (p *Pipeline) Run(ctx context.Context, id string, attempt, maxAttempts int) error {
	t, err := p.Tasks.Begin(ctx, id)
	switch {
	case errors.Is(err, task.ErrNotFound):
		p.Log.Info("task was deleted before it ran; nothing to do", "task_id", id)
		return nil
	case errors.Is(err, task.ErrTransition):
		// Also a task canceled between its two moves to processing, when
		// Begin has no task to return.
		p.Log.Info("task is already final; nothing to do", "task_id", id, "err", err)
		return nil
	case err != nil:
		return err
	}
	log := p.Log.With("task_id", id, "attempt", attempt)
	log.Info("task started")
	// Errors are logged, stored with the job and shown to the client:
	// none of them may carry a URL's credentials (a presigned query).
	return p.settle(ctx, log, id, redact.Error(p.run(ctx, log, t)), attempt, maxAttempts)
}

// settle turns the outcome of one run of a task (or of one chunk of it)
// into the task's state and the job's: nil when the task reached a final
// state, an error to retry the job.
func (p *Pipeline) settle(ctx context.Context, log *slog.Logger, id string, err error, attempt, maxAttempts int) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	var refusal *engine.Refusal
	var final *finalError
	var rule *media.RuleError
	var bound *media.BoundError
	switch {
	case diskspace.Full(err):
		// Not the task's fault, and not its last word: the worker snoozes
		// the job until space returns, without using up an attempt.
		log.Warn("task attempt stopped by a full disk; it will run again later", "err", err)
		return err
	case errors.As(err, &refusal):
		_, ferr := p.Tasks.Fail(ctx, id, redact.Text(refusal.Message))
		return ferr
	case errors.As(err, &rule):
		// The video, not the run, is at fault (e.g. the measuring pass
		// found it decodes shorter than it declares): retrying cannot help.
		_, ferr := p.Tasks.Fail(ctx, id, redact.Text("The video cannot be analyzed: "+rule.Message))
		return ferr
	case errors.As(err, &final):
		_, ferr := p.Tasks.Fail(ctx, id, redact.Text(final.message))
		return ferr
	case errors.As(err, &bound):
		// Another attempt would hit the same bound on the same video.
		log.Warn("task stopped by its time bound", "err", err)
		_, ferr := p.Tasks.Fail(ctx, id, boundMessage(bound))
		return ferr
	case attempt >= maxAttempts:
		log.Error("task failed after its last attempt", "err", err)
		_, ferr := p.Tasks.Fail(ctx, id, fmt.Sprintf("The analysis failed after %d attempts: %s", attempt, userMessage(err)))
		return ferr
	}
	log.Warn("task attempt failed; it will be retried", "err", err)
	return err
}

// finalError ends the task as failed with a message for the client.
type finalError struct{ message string }

func (e *finalError) Error() string { return e.message }

func failf(format string, args ...any) error { return &finalError{fmt.Sprintf(format, args...)} }

// boundMessage tells the client which time bound stopped the task.
func boundMessage(b *media.BoundError) string {
	msg := b.Error()
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	return msg + "; the video is far costlier to process than its duration suggests, or the server is overloaded. " +
		"Re-encode it (for example to H.264 at 30 fps) or try again later."
}

func userMessage(err error) string {
	var te *media.ToolError
	if errors.As(err, &te) {
		return "the media tools could not process the video"
	}
	return "internal error"
}

func (p *Pipeline) progress(ctx context.Context, log *slog.Logger, rec recorder, id, stage string, pct float64) {
	log.Info("task progress", "stage", stage, "percent", fmt.Sprintf("%.0f", pct))
	if err := rec.Progress(ctx, id, stage, pct); err != nil {
		log.Warn("could not record progress", "err", err)
	}
}

func (p *Pipeline) run(ctx context.Context, log *slog.Logger, t *task.Task) (err error) {
	started := time.Now()
	eng, ok := p.Engines[t.Spec.Model]
	if !ok {
		return failf("No engine is configured for model %s.", t.Spec.Model)
	}
	src, err := p.source(ctx, log, t, p.Tasks, media.MaxDurationAsync)
	if err != nil {
		return err
	}
	defer src.release()

	// The rest of the run is bounded by the video's duration, counted from
	// the start of the run. Whatever error the work returns when the bound
	// ends it, the bound is what is reported.
	ctx, cancel, bounded := p.bound(ctx, started, src.info.Duration)
	defer cancel()
	defer func() { err = bounded(err) }()

	// 3. Engine.
	saved, err := p.Tasks.Checkpoints(ctx, t.ID)
	if err != nil {
		return err
	}
	if len(saved) > 0 {
		log.Info("resuming from checkpoints", "checkpoints", len(saved))
	}
	in, err := p.input(ctx, log, t, p.Tasks, src)
	if err != nil {
		return err
	}
	in.Checkpoints = checkpoints{saved: saved, save: func(ctx context.Context, k string, v []byte) error {
		return p.Tasks.SaveCheckpoint(ctx, t.ID, k, v)
	}}
	if fanned, err := p.fanOut(ctx, log, t, eng, in); err != nil || fanned {
		return err
	}
	out, err := eng.Analyze(ctx, in)
	if err != nil {
		return err
	}
	if _, err := p.Tasks.Complete(ctx, t.ID, result(out), out.Warning); err != nil {
		return err
	}
	log.Info("task analyzed", "engine", eng.Name(), "took", time.Since(started).Round(time.Millisecond))
	return nil
}

// result is the task result of an engine's output.
func result(out *engine.Output) task.Result {
	res := task.Result{GenerationID: newGenerationID(), Data: out.Data, FinishReason: out.FinishReason,
		OutputTokens: out.OutputTokens, InputTokens: out.InputTokens}
	if res.FinishReason == "" {
		res.FinishReason = "stop"
	}
	return res
}

// recorder is where a run records its progress and its source: the task
// service for a stored task, the log only for a synchronous request
// (sync.go).
type recorder interface {
	Progress(ctx context.Context, id, stage string, percent float64) error
	SetSource(ctx context.Context, id, blobKey string, duration *float64) error
}

// source is a task's video, readable at path, probed and checked.
type source struct {
	path    string
	info    *media.Info
	release func()
}

// source makes t's video readable and checks it: stored at create (base64)
// or by an earlier attempt, else downloaded; then probed and checked
// against the input requirements, at most maxDuration long, and against t's
// time window.
func (p *Pipeline) source(ctx context.Context, log *slog.Logger, t *task.Task, rec recorder, maxDuration float64) (_ *source, err error) {
	download := func() (string, error) {
		p.progress(ctx, log, rec, t.ID, "downloading", 0)
		key := task.SourceKey(t.ID)
		if err := p.download(ctx, t.Spec.Source.URL, key); err != nil {
			return "", err
		}
		return key, rec.SetSource(ctx, t.ID, key, nil)
	}
	key := t.BlobKey
	if key == "" {
		if t.Spec.Source.Type != task.SourceURL {
			return nil, failf("The video source %s is not available.", t.Spec.Source.Type)
		}
		if key, err = download(); err != nil {
			return nil, err
		}
	}
	path, release, err := p.Blobs.LocalPath(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		switch t.Spec.Source.Type {
		case task.SourceAssetID:
			return nil, failf("The video asset %s was deleted before the task could read it.", t.Spec.Source.AssetID)
		case task.SourceURL:
			// An earlier attempt stored it where this process cannot read
			// it (another worker's own disk): fetch it again.
			log.Warn("the video stored by an earlier attempt is not in this worker's storage; downloading it again", "key", key)
			if key, err = download(); err == nil {
				path, release, err = p.Blobs.LocalPath(ctx, key)
			}
		default:
			return nil, failf("The uploaded video is not in this worker's storage. Processes that share work must share media storage: " +
				"run them with the same --blob-url (an S3-compatible object store).")
		}
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			release()
		}
	}()

	// Probe and check the input requirements.
	p.progress(ctx, log, rec, t.ID, "probing", 10)
	info, rule, err := probeAndCheck(ctx, p.Media, path, maxDuration)
	if err != nil {
		return nil, err
	}
	if rule != nil {
		return nil, failf("The video cannot be analyzed: %s", rule.Message)
	}
	dur := info.Duration
	if err := rec.SetSource(ctx, t.ID, "", &dur); err != nil {
		return nil, err
	}
	if ve := task.CheckWindow(t.Spec, dur); ve != nil {
		return nil, failf("%s", ve.Message)
	}
	return &source{path: path, info: info, release: release}, nil
}

// input is the engine input of t's run over src, without checkpoints.
func (p *Pipeline) input(ctx context.Context, log *slog.Logger, t *task.Task, rec recorder, src *source) (engine.Input, error) {
	start, end := span(t.Spec, src.info.Duration)
	p.progress(ctx, log, rec, t.ID, "analyzing", 20)
	refs, err := p.references(ctx, t.Spec)
	if err != nil {
		return engine.Input{}, err
	}
	return engine.Input{
		Spec: t.Spec, VideoPath: src.path, Info: src.info, Start: start, End: end,
		References: refs,
		Progress: func(stage string, pct float64) {
			p.progress(ctx, log, rec, t.ID, stage, 20+pct*0.79)
		},
	}, nil
}

func (p *Pipeline) download(ctx context.Context, url, key string) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := p.Downloader.Download(ctx, url, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	_, perr := p.Blobs.Put(ctx, key, pr)
	pr.CloseWithError(perr)
	derr := <-done
	if diskspace.Full(perr) {
		// The download broke off because the disk is full, not because
		// of the URL: retried later (the worker snoozes the job).
		return perr
	}
	if derr != nil {
		if p.Downloader.Temporary(derr) {
			return fmt.Errorf("download %s: %w", redact.URL(url), redact.Error(derr))
		}
		return failf("The video URL could not be fetched: %s", redact.Text(derr.Error()))
	}
	return perr
}

func newGenerationID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "gen_" + hex.EncodeToString(b[:])
}

// Checker probes a file and checks it against the input requirements; it
// implements task.VideoChecker for videos sent inline at create.
type Checker struct{ Media *media.Tool }

// Check implements task.VideoChecker.
func (c Checker) Check(ctx context.Context, path string) (float64, error) {
	info, rule, err := probeAndCheck(ctx, c.Media, path, media.MaxDurationAsync)
	if err != nil {
		return 0, err
	}
	if rule != nil {
		return 0, &task.VideoError{Rule: rule.Rule, Message: "The video cannot be analyzed: " + rule.Message}
	}
	return info.Duration, nil
}

// probeAndCheck probes path and checks V47–V51. A video that fails a
// requirement is returned as rule; err is an operational failure.
func probeAndCheck(ctx context.Context, m *media.Tool, path string, maxDuration float64) (info *media.Info, rule *media.RuleError, err error) {
	// A playlist would make FFmpeg open the files it names; it is refused
	// before FFmpeg runs, also behind ID3v2 tags.
	if rule, err = asset.CheckPlaylist(path); rule != nil || err != nil {
		return nil, rule, err
	}
	info, err = m.Probe(ctx, path)
	if errors.As(err, &rule) {
		return nil, rule, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if rule = media.CheckAnalyzable(info, maxDuration); rule != nil {
		return info, rule, nil
	}
	err = m.DecodeCheckProbed(ctx, path, info)
	if errors.As(err, &rule) {
		return info, rule, nil
	}
	return info, nil, err
}

// checkpoints adapts the task service to engine.Checkpoints.
type checkpoints struct {
	saved map[string][]byte
	save  func(ctx context.Context, key string, value []byte) error
}

func (c checkpoints) Load(key string) ([]byte, bool) {
	v, ok := c.saved[key]
	return v, ok
}

func (c checkpoints) Save(ctx context.Context, key string, value []byte) error {
	return c.save(ctx, key, value)
}

// maxReferenceBytes bounds one reference image fetched by URL.
const maxReferenceBytes = 32 << 20

// references loads the reference images of prompt_v2 and of segment
// definitions by name: base64 data as sent, URLs through the guarded
// downloader, image assets from the blob store.
func (p *Pipeline) references(ctx context.Context, spec task.Spec) (map[string][]byte, error) {
	var sources []task.MediaSource
	if spec.PromptV2 != nil {
		sources = append(sources, spec.PromptV2.MediaSources...)
	}
	if rf := spec.ResponseFormat; rf != nil {
		for _, d := range rf.SegmentDefinitions {
			sources = append(sources, d.MediaSources...)
		}
	}
	refs := map[string][]byte{}
	for _, m := range sources {
		switch {
		case m.Base64 != "":
			b, err := task.DecodeBase64(m.Base64)
			if err != nil {
				return nil, failf("Reference image %q is not valid base64.", m.Name)
			}
			refs[m.Name] = b
		case m.URL != "":
			var buf limitedBuffer
			buf.max = maxReferenceBytes
			if _, err := p.Downloader.Download(ctx, m.URL, &buf); err != nil {
				switch {
				case buf.over:
					return nil, failf("Reference image %q is larger than %d MB.", m.Name, maxReferenceBytes>>20)
				case p.Downloader.Temporary(err):
					return nil, fmt.Errorf("reference image %q from %s: %w", m.Name, redact.URL(m.URL), redact.Error(err))
				}
				return nil, failf("Reference image %q could not be fetched: %s", m.Name, redact.Text(err.Error()))
			}
			refs[m.Name] = buf.b
		case m.AssetID != "":
			b, err := p.assetImage(ctx, m)
			if err != nil {
				return nil, err
			}
			refs[m.Name] = b
		}
	}
	return refs, nil
}

// assetImage reads the file of a reference image asset. The asset was
// ready and an image when the task was created, and cannot be deleted
// while the task is queued or processing; it is checked again here.
func (p *Pipeline) assetImage(ctx context.Context, m task.MediaSource) ([]byte, error) {
	gone := failf("Reference image %q: asset %s was deleted before the task could read it.", m.Name, m.AssetID)
	if p.Assets == nil {
		return nil, gone
	}
	a, err := p.Assets.ResolveAsset(ctx, m.AssetID)
	if errors.Is(err, task.ErrAssetNotFound) {
		return nil, gone
	}
	if err != nil {
		return nil, err
	}
	if a.Status != "ready" || a.Type != "image" {
		return nil, failf("Reference image %q: asset %s is not a ready image asset (status %s, type %s).", m.Name, m.AssetID, a.Status, a.Type)
	}
	path, release, err := p.Blobs.LocalPath(ctx, a.BlobKey)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, gone
	}
	if err != nil {
		return nil, err
	}
	defer release()
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxReferenceBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxReferenceBytes {
		return nil, failf("Reference image %q: asset %s is larger than %d MB.", m.Name, m.AssetID, maxReferenceBytes>>20)
	}
	return b, nil
}

// limitedBuffer collects at most max bytes; over tells that more came.
type limitedBuffer struct {
	b    []byte
	max  int
	over bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(l.b)+len(p) > l.max {
		l.over = true
		return 0, fmt.Errorf("reference image larger than %d bytes", l.max)
	}
	l.b = append(l.b, p...)
	return len(p), nil
}

// bound bounds the rest of a run (a task's, or a chunk's) by the video's
// duration (JobBound), counted from started. bounded turns the error of
// work that the bound ended into one that names the bound.
func (p *Pipeline) bound(ctx context.Context, started time.Time, dur float64) (_ context.Context, cancel context.CancelFunc, bounded func(error) error) {
	jb := p.JobBound
	if jb == (media.Bound{}) {
		jb = media.DefaultJobBound()
	}
	limit := jb.For(dur)
	ctx, cancel = context.WithDeadlineCause(ctx, started.Add(limit), &media.BoundError{What: "the analysis", Limit: limit, Video: dur})
	return ctx, cancel, func(err error) error {
		var b *media.BoundError
		if cause := context.Cause(ctx); err != nil && errors.As(cause, &b) && !errors.As(err, &b) {
			return fmt.Errorf("%w (%w)", cause, err)
		}
		return err
	}
}

// span is the part of the video a task asks for: start_time to end_time,
// or the whole of it.
func span(s task.Spec, dur float64) (start, end float64) {
	start, end = 0, dur
	if s.StartTime != nil {
		start = *s.StartTime
	}
	if s.EndTime != nil {
		end = *s.EndTime
	}
	return start, end
}
