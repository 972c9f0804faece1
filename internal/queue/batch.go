package queue

import (
	"context"
	"database/sql"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Batch items run on a River queue of their own, BatchQueue, worked by at
// most BatchWorkers(workers) jobs at once in each process, while single
// tasks keep all the workers of the default queue: however many items a
// batch has queued, another account's task finds a free worker of the
// default queue (fair share, docs/api.md). The process then runs up to
// workers + BatchWorkers(workers) analyses at once.

// BatchQueue is the River queue of batch items' jobs.
const BatchQueue = "batch"

// BatchWorkers is how many batch items a process with workers analysis
// workers runs at once: half of them, at least one.
func BatchWorkers(workers int) int { return max(1, workers/2) }

// EnqueueBatch inserts the jobs of a batch's items on BatchQueue inside
// tx, the transaction that writes the batch and its tasks.
func (e *Enqueuer) EnqueueBatch(ctx context.Context, tx *sql.Tx, batchID string, taskIDs []string) error {
	params := make([]river.InsertManyParams, len(taskIDs))
	for i, id := range taskIDs {
		params[i] = river.InsertManyParams{Args: AnalyzeArgs{TaskID: id, BatchID: batchID}, InsertOpts: &river.InsertOpts{Queue: BatchQueue}}
	}
	_, err := e.client.InsertManyTx(ctx, tx, params)
	return err
}

// CancelBatchJobs cancels the jobs of a batch's items that wait to run
// (running ones finish). It implements task.BatchJobs.
func (q *Queue) CancelBatchJobs(ctx context.Context, batchID string) error {
	return q.cancelWhere(ctx, "batch", "batch_id", batchID, []string{AnalyzeArgs{}.Kind()},
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable, rivertype.JobStateScheduled)
}

// SweepBatchesArgs is the periodic job that expires and purges batches.
type SweepBatchesArgs struct{}

// Kind is stable: stored jobs refer to it.
func (SweepBatchesArgs) Kind() string { return "framewise.sweep_batches" }

// BatchSweeper expires and purges batches (task.Service.SweepBatches).
type BatchSweeper interface {
	SweepBatches(ctx context.Context) error
}

// DefaultBatchSweepInterval is how often batches are swept.
const DefaultBatchSweepInterval = time.Minute

type batchSweepWorker struct {
	river.WorkerDefaults[SweepBatchesArgs]
	sweeper BatchSweeper
}

func (w *batchSweepWorker) Work(ctx context.Context, _ *river.Job[SweepBatchesArgs]) error {
	return w.sweeper.SweepBatches(ctx)
}
