package analysis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/engine"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/redact"
	"github.com/framewise/framewise/internal/task"
)

// Fan-out of long videos (issue 12). The job of a task whose engine can
// plan (engine.Planner, the VLM engine) and whose video has at least
// FanoutChunks × K windows (K = Pipeline.ChunkWindows) plans the windows
// once (a checkpoint), then inserts one chunk job per K windows and the
// task's fan-out rows in one transaction, and returns with the task still
// processing. Any worker takes the chunks (RunChunk): each computes and
// checkpoints its windows, then marks its chunk done; the transaction that
// marks the last one inserts the task's job again, the join, which finds
// every window checkpointed and only merges and completes. Every step is
// idempotent: a planning job that runs again finds the fan-out and returns,
// a chunk that runs again skips its checkpointed windows and marks its
// chunk done once, and the join is inserted once.

// DefaultChunkWindows is K, the windows of one chunk job: one chunk fills
// the default model slots of a worker (MaxParallel 4 windows in flight),
// and chunks stay small enough to balance: a 2-hour video (about 130
// windows at 16 frames per call) makes some 33 chunks that free workers
// take one by one, so none is left with a long tail.
const DefaultChunkWindows = 4

// FanoutChunks is the fewest chunks worth a fan-out: a video of fewer
// than FanoutChunks × K windows (16 by default, about 15 minutes of video
// at 16 frames per call) runs in one job, streaming. A fan-out first
// decodes the whole video to plan its windows (cuts), without model calls
// beside it, which only pays when other workers take chunks.
const FanoutChunks = 4

// Fanout inserts and tracks the chunk jobs of a task (the job queue).
type Fanout interface {
	// StartFanout records the chunks (window ranges, inclusive) of a task
	// and inserts their jobs in one transaction; started is false when
	// the task already had a fan-out (nothing is inserted then).
	StartFanout(ctx context.Context, taskID string, chunks [][2]int) (started bool, err error)
	// FanoutState tells whether the task was fanned out, into how many
	// chunks, and how many are done.
	FanoutState(ctx context.Context, taskID string) (exists bool, chunks, done int, err error)
	// FinishChunk marks a chunk done, once however often it is called;
	// the call that marks the last one inserts the task's job (the join).
	FinishChunk(ctx context.Context, taskID string, chunk int) error
}

func (p *Pipeline) chunkWindows() int {
	if p.ChunkWindows == 0 {
		return DefaultChunkWindows
	}
	return p.ChunkWindows
}

// fanOut plans and fans out the analysis of a long video; fanned says the
// job is done for now (chunks inserted or still running). A task whose
// chunks are all done is not fanned: its run is the join.
func (p *Pipeline) fanOut(ctx context.Context, log *slog.Logger, t *task.Task, eng engine.Engine, in engine.Input) (fanned bool, err error) {
	k := p.chunkWindows()
	planner, ok := eng.(engine.Planner)
	if p.Fanout == nil || !ok || k <= 0 {
		return false, nil
	}
	exists, chunks, done, err := p.Fanout.FanoutState(ctx, t.ID)
	if err != nil {
		return false, err
	}
	if exists {
		if done < chunks {
			log.Info("task fanned out; its chunk jobs are still running", "chunks", chunks, "done", done)
			return true, nil
		}
		log.Info("every chunk is done: joining", "chunks", chunks)
		return false, nil
	}
	in.Progress = func(stage string, pct float64) { p.progress(ctx, log, t.ID, stage, 20+pct*0.05) }
	n, err := planner.Plan(ctx, in, FanoutChunks*k)
	if err != nil || n == 0 {
		return false, err
	}
	var ranges [][2]int
	for first := 0; first < n; first += k {
		ranges = append(ranges, [2]int{first, min(n, first+k) - 1})
	}
	started, err := p.Fanout.StartFanout(ctx, t.ID, ranges)
	if err != nil {
		return false, err
	}
	log.Info("task fanned out", "windows", n, "chunks", len(ranges), "chunk_windows", k, "new", started)
	p.progress(ctx, log, t.ID, fmt.Sprintf("model: 0/%d windows in %d chunks", n, len(ranges)), 25)
	return true, nil
}

// RunChunk runs one chunk of a fanned-out task: the windows first through
// last of the plan's windows (implements queue.ChunkRunner). It follows
// the contract of Run: nil when the chunk is done or the task final, an
// error to retry; a chunk that fails for good fails the task.
func (p *Pipeline) RunChunk(ctx context.Context, id string, chunk, first, last, windows, attempt, maxAttempts int) error {
	t, err := p.Tasks.Begin(ctx, id)
	switch {
	case errors.Is(err, task.ErrNotFound), errors.Is(err, task.ErrTransition):
		p.Log.Info("chunk of a task that is gone or final; nothing to do", "task_id", id, "chunk", chunk)
		return nil
	case err != nil:
		return err
	}
	log := p.Log.With("task_id", id, "chunk", chunk, "attempt", attempt)
	log.Info("chunk started", "first", first, "last", last)
	return p.settle(ctx, log, id, redact.Error(p.runChunk(ctx, log, t, chunk, first, last, windows)), attempt, maxAttempts)
}

func (p *Pipeline) runChunk(ctx context.Context, log *slog.Logger, t *task.Task, chunk, first, last, windows int) (err error) {
	started := time.Now()
	eng, ok := p.Engines[t.Spec.Model]
	if !ok {
		return failf("No engine is configured for model %s.", t.Spec.Model)
	}
	if t.BlobKey == "" {
		return fmt.Errorf("chunk %d: the task has no stored video", chunk)
	}
	path, release, err := p.copies.get(ctx, t.BlobKey, p.Blobs.LocalPath)
	if errors.Is(err, blob.ErrNotFound) {
		return failf("The video is not in this worker's storage. Processes that share work must share media storage: " +
			"run them with the same --blob-url (an S3-compatible object store).")
	}
	if err != nil {
		return err
	}
	defer release()
	info, err := p.Media.Probe(ctx, path)
	if err != nil {
		return err
	}
	dur := info.Duration
	jb := p.JobBound
	if jb == (media.Bound{}) {
		jb = media.DefaultJobBound()
	}
	limit := jb.For(dur)
	ctx, cancel := context.WithDeadlineCause(ctx, started.Add(limit), &media.BoundError{What: "the analysis", Limit: limit, Video: dur})
	defer cancel()
	defer func() {
		var b *media.BoundError
		if cause := context.Cause(ctx); err != nil && errors.As(cause, &b) && !errors.As(err, &b) {
			err = fmt.Errorf("%w (%w)", cause, err)
		}
	}()
	start, end := 0.0, dur
	if t.Spec.StartTime != nil {
		start = *t.Spec.StartTime
	}
	if t.Spec.EndTime != nil {
		end = *t.Spec.EndTime
	}
	saved, err := p.Tasks.Checkpoints(ctx, t.ID)
	if err != nil {
		return err
	}
	refs, err := p.references(ctx, t.Spec)
	if err != nil {
		return err
	}
	_, err = eng.Analyze(ctx, engine.Input{
		Spec: t.Spec, VideoPath: path, Info: info, Start: start, End: end,
		Checkpoints: checkpoints{saved: saved, save: func(ctx context.Context, k string, v []byte) error {
			return p.Tasks.SaveCheckpoint(ctx, t.ID, k, v)
		}},
		References: refs,
		Windows:    &[2]int{first, last},
		Progress: func(string, float64) {
			// The task's progress is the share of all its windows
			// checkpointed, whichever worker computed them.
			cps, err := p.Tasks.Checkpoints(ctx, t.ID)
			if err != nil || windows <= 0 {
				return
			}
			n := 0
			for k := range cps {
				if strings.HasPrefix(k, "window/") {
					n++
				}
			}
			p.progress(ctx, log, t.ID, fmt.Sprintf("model: %d/%d windows", n, windows), 25+74*float64(min(n, windows))/float64(windows))
		},
	})
	if err != nil {
		return err
	}
	if err := p.Fanout.FinishChunk(ctx, t.ID, chunk); err != nil {
		return err
	}
	log.Info("chunk done", "windows", last-first+1, "took", time.Since(started).Round(time.Millisecond))
	return nil
}
