package analysis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/engine"
	"github.com/framewise/framewise/internal/redact"
	"github.com/framewise/framewise/internal/task"
)

// Fan-out of long videos (issue 12). The job of a task whose engine can
// plan (engine.Planner, the VLM engine) and whose video has at least
// FanoutChunks × K windows (K = Pipeline.ChunkWindows) plans the windows
// once (a checkpoint that grows as the video is decoded), inserting one
// chunk job per K windows as soon as they are planned, each with its
// fan-out row in one transaction, so model calls start while the rest of
// the video is decoded; the complete plan seals the fan-out with its
// number of chunks, and the job returns with the task still processing.
// Any worker takes the chunks (RunChunk): each computes and checkpoints its
// windows, then marks its chunk done; the transaction that marks the last
// one (or the seal) inserts the task's job again, the join, which finds
// every window checkpointed and only merges and completes. Every step is
// idempotent: a planning job that runs again plans again the same windows
// (or finds the fan-out sealed and returns), a chunk that runs again skips
// its checkpointed windows and marks its chunk done once, and the join is
// inserted once.

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
	// AddChunk records one chunk (windows first through last) of a task
	// and inserts its job in one transaction; a chunk recorded before is
	// left alone (added false). estimate is the expected total of windows,
	// for progress.
	AddChunk(ctx context.Context, taskID string, chunk, first, last, estimate int) (added bool, err error)
	// SealFanout records the number of chunks once the plan is complete;
	// it inserts the join when every chunk is done already.
	SealFanout(ctx context.Context, taskID string, chunks int) error
	// FanoutState tells whether the task was fanned out, into how many
	// chunks (-1 until sealed), and how many are done.
	FanoutState(ctx context.Context, taskID string) (exists bool, chunks, done int, err error)
	// FinishChunk marks a chunk done, once however often it is called;
	// once sealed, the call that marks the last one inserts the task's
	// job (the join).
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
	switch {
	case exists && chunks >= 0 && done < chunks:
		log.Info("task fanned out; its chunk jobs are still running", "chunks", chunks, "done", done)
		return true, nil
	case exists && chunks >= 0:
		log.Info("every chunk is done: joining", "chunks", chunks)
		return false, nil
	case exists:
		// The planning job stopped before its plan was complete: planning
		// again gives the same windows; chunks recorded stay as they are.
		log.Info("the plan of this fanned-out task was not complete; planning again")
	}
	in.Progress = func(stage string, pct float64) { p.progress(ctx, log, p.Tasks, t.ID, stage, 20+pct*0.05) }
	added := 0 // windows passed to chunks so far
	next := 0  // index of the next chunk
	n, err := planner.Plan(ctx, in, FanoutChunks*k, func(planned, estimate int, final bool) error {
		for planned-added >= k || (final && planned > added) {
			last := min(planned, added+k) - 1
			if _, err := p.Fanout.AddChunk(ctx, t.ID, next, added, last, estimate); err != nil {
				return err
			}
			added, next = last+1, next+1
		}
		if final {
			return p.Fanout.SealFanout(ctx, t.ID, next)
		}
		return nil
	})
	if err != nil || n == 0 {
		return false, err
	}
	log.Info("task fanned out", "windows", n, "chunks", next, "chunk_windows", k)
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
	ctx, cancel, bounded := p.bound(ctx, started, dur)
	defer cancel()
	defer func() { err = bounded(err) }()
	start, end := span(t.Spec, dur)
	saved, err := p.Tasks.Checkpoints(ctx, t.ID)
	if err != nil {
		return err
	}
	refs, err := p.references(ctx, t.Spec)
	if err != nil {
		return err
	}
	var counting atomic.Bool
	_, err = eng.Analyze(ctx, engine.Input{
		Spec: t.Spec, VideoPath: path, Info: info, Start: start, End: end,
		Checkpoints: checkpoints{saved: saved, save: func(ctx context.Context, k string, v []byte) error {
			return p.Tasks.SaveCheckpoint(ctx, t.ID, k, v)
		}},
		References: refs,
		Windows:    &[2]int{first, last},
		Progress: func(string, float64) {
			// The task's progress is the share of all its windows
			// checkpointed, whichever worker computed them; counted off
			// the path of the model calls, one count at a time.
			if windows <= 0 || !counting.CompareAndSwap(false, true) {
				return
			}
			go func() {
				defer counting.Store(false)
				cps, err := p.Tasks.Checkpoints(ctx, t.ID)
				if err != nil {
					return
				}
				n := 0
				for k := range cps {
					if strings.HasPrefix(k, "window/") {
						n++
					}
				}
				p.progress(ctx, log, p.Tasks, t.ID, fmt.Sprintf("model: %d/%d windows", n, windows), 25+74*float64(min(n, windows))/float64(windows))
			}()
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
