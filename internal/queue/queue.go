// Package queue is the one home of River in framewise: the job kinds, the
// transactional enqueue used by the task store, and thin workers that call
// the analysis pipeline and turn its outcome into River's retry policy.
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// AnalyzeArgs is the job that runs one analysis task.
type AnalyzeArgs struct {
	TaskID string `json:"task_id"`
}

// Kind is stable: stored jobs refer to it.
func (AnalyzeArgs) Kind() string { return "framewise.analyze_task" }

// Runner runs the analysis of one task. attempt counts from 1. It returns
// nil when the task reached a final state (ready or failed) or no longer
// exists; a non-nil error asks for the job to be retried later.
type Runner interface {
	Run(ctx context.Context, taskID string, attempt, maxAttempts int) error
}

// MaxAttempts is how often a job runs before its task is failed for good.
const MaxAttempts = 5

// Queue runs analysis jobs on River over the SQLite writer connection.
type Queue struct {
	client *river.Client[*sql.Tx]
	db     *sql.DB
	log    *slog.Logger
}

// Options configure a Queue.
type Options struct {
	Workers int // jobs run at once in this process; 0 means insert only
	Log     *slog.Logger
}

// New migrates River's tables and returns a queue whose workers call runner.
func New(ctx context.Context, db *sql.DB, runner Runner, opts Options) (*Queue, error) {
	driver := riversqlite.New(db)
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: quiet(opts.Log)})
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("queue: migrate: %w", err)
	}
	cfg := &river.Config{
		Logger:            quiet(opts.Log),
		MaxAttempts:       MaxAttempts,
		FetchCooldown:     50 * time.Millisecond,
		FetchPollInterval: 200 * time.Millisecond,
		PollOnly:          true,
		// A 2-hour video may take long; the job's own context bounds it.
		JobTimeout: -1,
		// A single process owns the SQLite file; jobs that were running when
		// it died are made available again at start (RecoverRunning).
		RescueStuckJobsAfter: 24 * time.Hour,
	}
	if opts.Workers > 0 {
		workers := river.NewWorkers()
		river.AddWorker(workers, &analyzeWorker{runner: runner, log: opts.Log})
		cfg.Workers = workers
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: opts.Workers}}
	}
	client, err := river.NewClient(driver, cfg)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return &Queue{client: client, db: db, log: opts.Log}, nil
}

// quiet keeps River's own logs at warning level and above.
func quiet(l *slog.Logger) *slog.Logger {
	return slog.New(levelHandler{slog.LevelWarn, l.Handler()})
}

type levelHandler struct {
	min slog.Level
	slog.Handler
}

func (h levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

// Enqueue inserts the job of a task inside tx, the transaction that writes
// the task row.
func (q *Queue) Enqueue(ctx context.Context, tx *sql.Tx, taskID string) error {
	_, err := q.client.InsertTx(ctx, tx, AnalyzeArgs{TaskID: taskID}, nil)
	return err
}

// RecoverRunning makes jobs that were running when the previous process
// died available again. Call it before Start, only when this process is the
// sole worker of the database (the embedded SQLite mode).
func (q *Queue) RecoverRunning(ctx context.Context) (int64, error) {
	res, err := q.db.ExecContext(ctx, `UPDATE river_job SET state = 'available' WHERE state = 'running'`)
	if err != nil {
		return 0, fmt.Errorf("queue: recover running jobs: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// Start starts working jobs.
func (q *Queue) Start(ctx context.Context) error { return q.client.Start(ctx) }

// Stop lets running jobs finish until ctx is done, then cancels them; a
// cancelled job snoozes and runs again at the next start.
func (q *Queue) Stop(ctx context.Context) error {
	err := q.client.Stop(ctx)
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return q.client.StopAndCancel(cctx)
	}
	return err
}

type analyzeWorker struct {
	river.WorkerDefaults[AnalyzeArgs]
	runner Runner
	log    *slog.Logger
}

func (w *analyzeWorker) Work(ctx context.Context, job *river.Job[AnalyzeArgs]) error {
	err := w.runner.Run(ctx, job.Args.TaskID, job.Attempt, job.MaxAttempts)
	if err != nil && ctx.Err() != nil {
		// Shutting down: not a failure of the task, run it again soon.
		w.log.Info("task interrupted by shutdown; it resumes at the next start", "task_id", job.Args.TaskID)
		return river.JobSnooze(time.Second)
	}
	return err
}
