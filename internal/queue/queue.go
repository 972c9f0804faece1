// Package queue is the one home of River in framewise: the job kinds, the
// transactional enqueue used by the task and asset stores, thin workers
// that call the analysis pipeline, the asset service and webhook delivery
// (webhook.go) and turn their
// outcome into River's retry policy, and the periodic cleanup of expired
// multipart uploads.
package queue

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/framewise/framewise/internal/metrics"
	"log/slog"
	"sync"
	"time"

	"github.com/framewise/framewise/internal/diskspace"
	"github.com/framewise/framewise/internal/store"
	"github.com/framewise/framewise/internal/webhook"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// AnalyzeArgs is the job that runs one analysis task.
type AnalyzeArgs struct {
	TaskID string `json:"task_id"`
	// BatchID is set on the job of a batch item (batch.go).
	BatchID string `json:"batch_id,omitempty"`
}

// Kind is stable: stored jobs refer to it.
func (AnalyzeArgs) Kind() string { return "framewise.analyze_task" }

// Runner runs the analysis of one task. attempt counts from 1. It returns
// nil when the task reached a final state (ready or failed) or no longer
// exists; a non-nil error asks for the job to be retried later.
type Runner interface {
	Run(ctx context.Context, taskID string, attempt, maxAttempts int) error
}

// ChunkArgs is the job that runs one chunk of a fanned-out task: the
// windows First through Last of its plan, of Windows in all (fanout.go).
type ChunkArgs struct {
	TaskID  string `json:"task_id"`
	Chunk   int    `json:"chunk"`
	First   int    `json:"first"`
	Last    int    `json:"last"`
	Windows int    `json:"windows"`
}

// Kind is stable: stored jobs refer to it.
func (ChunkArgs) Kind() string { return "framewise.analyze_chunk" }

// ChunkRunner runs chunks of fanned-out tasks; a Runner that implements
// it works chunk jobs. RunChunk follows the contract of Runner.Run.
type ChunkRunner interface {
	RunChunk(ctx context.Context, taskID string, chunk, first, last, windows, attempt, maxAttempts int) error
}

// ProcessAssetArgs is the job that processes one uploaded asset: fetch or
// assemble its file, probe it, make it ready or failed.
type ProcessAssetArgs struct {
	AssetID string `json:"asset_id"`
}

// Kind is stable: stored jobs refer to it.
func (ProcessAssetArgs) Kind() string { return "framewise.process_asset" }

// ExpireUploadsArgs is the periodic job that expires multipart upload
// sessions past their expiry and deletes their chunks.
type ExpireUploadsArgs struct{}

// Kind is stable: stored jobs refer to it.
func (ExpireUploadsArgs) Kind() string { return "framewise.expire_uploads" }

// AssetRunner processes assets and cleans up uploads. Process follows the
// contract of Runner.Run.
type AssetRunner interface {
	Process(ctx context.Context, assetID string, attempt, maxAttempts int) error
	ExpireUploads(ctx context.Context) error
}

// DefaultCleanupInterval is how often expired uploads are cleaned up.
const DefaultCleanupInterval = 10 * time.Minute

// MaxAttempts is how often a job runs before its task is failed for good.
const MaxAttempts = 5

// Queue runs analysis jobs on River over the store's database: SQLite's
// writer connection, or PostgreSQL with LISTEN/NOTIFY.
type Queue struct {
	*Enqueuer // inserting through the workers' own client
	client    *river.Client[*sql.Tx]
	db        *sql.DB
	dialect   store.Dialect
	log       *slog.Logger
	running   *runningTasks
	jobs      *liveJobs
	fanouts   *store.Fanouts
	life      lifeOptions
	stop      chan struct{}
	done      chan struct{}
}

// ErrCanceled is the cause of a task run's context when an operator
// canceled the task (Queue.CancelRun).
var ErrCanceled = errors.New("canceled by an operator")

// runningTasks are the analysis jobs running in this process, by task id,
// with the function that cancels each.
// A fanned-out task may have several chunk jobs running in one process.
type runningTasks struct {
	mu   sync.Mutex
	runs map[string]map[*runningTask]bool
}

type runningTask struct{ cancel context.CancelCauseFunc }

func (r *runningTasks) add(id string, cancel context.CancelCauseFunc) (remove func()) {
	rt := &runningTask{cancel: cancel}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runs[id] == nil {
		r.runs[id] = map[*runningTask]bool{}
	}
	r.runs[id][rt] = true
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.runs[id], rt)
		if len(r.runs[id]) == 0 {
			delete(r.runs, id)
		}
	}
}

func (r *runningTasks) cancel(id string) bool {
	r.mu.Lock()
	var rts []*runningTask
	for rt := range r.runs[id] {
		rts = append(rts, rt)
	}
	r.mu.Unlock()
	for _, rt := range rts {
		rt.cancel(ErrCanceled)
	}
	return len(rts) > 0
}

// Options configure a Queue.
type Options struct {
	Workers int // jobs run at once in this process; 0 means insert only
	Log     *slog.Logger
	// Metrics receives each job's duration and outcome; nil: none.
	Metrics *metrics.Metrics
	// Assets, when set, works asset jobs and the periodic upload cleanup.
	Assets AssetRunner
	// CleanupInterval is the period of the upload cleanup; 0 means
	// DefaultCleanupInterval.
	CleanupInterval time.Duration
	// Webhooks, when set, works webhook deliveries; WebhookBackoff is the
	// wait after a first failed attempt (0: webhook.DefaultBackoff).
	Webhooks       WebhookDeliverer
	WebhookBackoff time.Duration
	// Batches, when set, is swept every BatchSweepInterval (0:
	// DefaultBatchSweepInterval): batches past their expiry expire,
	// finished ones past their retention are deleted (batch.go).
	Batches            BatchSweeper
	BatchSweepInterval time.Duration
	// Heartbeat and DeadAfter tune the rescue of jobs whose process died
	// (see Queue.Start); 0 means DefaultHeartbeat and DefaultDeadAfter.
	Heartbeat, DeadAfter time.Duration
}

// driver is River's driver for the store's database.
func driver(db *store.DB) riverdriver.Driver[*sql.Tx] {
	if db.Dialect == store.Postgres {
		return riverdatabasesql.NewWithPgxListener(db.Writer.DB, db.PgxPool())
	}
	return riversqlite.New(db.Writer.DB)
}

// Migrate applies River's migrations to the store's database.
func Migrate(ctx context.Context, db *store.DB, log *slog.Logger) error {
	migrator, err := rivermigrate.New(driver(db), &rivermigrate.Config{Logger: quiet(log)})
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("queue: migrate: %w", err)
	}
	return nil
}

// ready makes River's tables ready: on SQLite it migrates them (one
// process owns the file); on PostgreSQL they must be migrated already
// (Migrate, by `framewise migrate` or serve --migrate), and an error
// wrapping store.ErrNotMigrated says when not.
func ready(ctx context.Context, db *store.DB, log *slog.Logger) error {
	if db.Dialect == store.SQLite {
		return Migrate(ctx, db, log)
	}
	migrator, err := rivermigrate.New(driver(db), &rivermigrate.Config{Logger: quiet(log)})
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	res, err := migrator.Validate(ctx, nil)
	if err != nil {
		return fmt.Errorf("queue: check migrations: %w", err)
	}
	if !res.OK {
		return fmt.Errorf("%w: the job queue's tables: %v: run `framewise migrate`, or serve with --migrate", store.ErrNotMigrated, res.Messages)
	}
	return nil
}

// New returns a queue whose workers call runner. On SQLite it migrates
// River's tables first (one process owns the file); on PostgreSQL they
// must be migrated already (Migrate, by `framewise migrate` or serve
// --migrate), and an error wrapping store.ErrNotMigrated says when not.
func New(ctx context.Context, db *store.DB, runner Runner, opts Options) (*Queue, error) {
	drv := driver(db)
	if err := ready(ctx, db, opts.Log); err != nil {
		return nil, err
	}
	cfg := &river.Config{
		Logger:            quiet(opts.Log),
		MaxAttempts:       MaxAttempts,
		FetchCooldown:     50 * time.Millisecond,
		FetchPollInterval: 200 * time.Millisecond,
		// SQLite has no notifier; PostgreSQL wakes workers by NOTIFY and
		// polls as a fallback.
		PollOnly: db.Dialect == store.SQLite,
		// A 2-hour video may take long; the job's own context bounds it.
		JobTimeout: -1,
		// Jobs whose process died are rescued within seconds by the
		// heartbeat (Start); River's own rescue stays as a backstop for
		// what that leaves (a job that used up its attempts that way).
		RescueStuckJobsAfter: time.Hour,
	}
	running := &runningTasks{runs: map[string]map[*runningTask]bool{}}
	jobs := &liveJobs{ids: map[int64]int{}}
	if opts.Workers > 0 {
		cfg.Middleware = []rivertype.Middleware{jobMetrics(opts.Metrics), jobs.middleware()}
		workers := river.NewWorkers()
		river.AddWorker(workers, &analyzeWorker{runner: runner, log: opts.Log, running: running})
		if cr, ok := runner.(ChunkRunner); ok {
			river.AddWorker(workers, &chunkWorker{runner: cr, log: opts.Log, running: running})
		}
		if opts.Assets != nil {
			river.AddWorker(workers, &assetWorker{runner: opts.Assets, log: opts.Log})
			river.AddWorker(workers, &expireWorker{runner: opts.Assets})
			every := opts.CleanupInterval
			if every <= 0 {
				every = DefaultCleanupInterval
			}
			cfg.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(every),
				func() (river.JobArgs, *river.InsertOpts) {
					return ExpireUploadsArgs{}, &river.InsertOpts{MaxAttempts: 1}
				}, &river.PeriodicJobOpts{ID: ExpireUploadsArgs{}.Kind(), RunOnStart: true})}
		}
		if opts.Webhooks != nil {
			river.AddWorker(workers, &webhookWorker{deliverer: opts.Webhooks, backoff: cmp.Or(opts.WebhookBackoff, webhook.DefaultBackoff)})
		}
		if opts.Batches != nil {
			river.AddWorker(workers, &batchSweepWorker{sweeper: opts.Batches})
			cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(cmp.Or(opts.BatchSweepInterval, DefaultBatchSweepInterval)),
				func() (river.JobArgs, *river.InsertOpts) {
					return SweepBatchesArgs{}, &river.InsertOpts{MaxAttempts: 1}
				}, &river.PeriodicJobOpts{ID: SweepBatchesArgs{}.Kind(), RunOnStart: true}))
		}
		cfg.Workers = workers
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: opts.Workers},
			BatchQueue: {MaxWorkers: BatchWorkers(opts.Workers)}}
	}
	client, err := river.NewClient(drv, cfg)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return &Queue{Enqueuer: &Enqueuer{client: client}, client: client, db: db.Writer.DB, dialect: db.Dialect, log: opts.Log, running: running, jobs: jobs, fanouts: store.NewFanouts(db),
		life: lifeOptions{heartbeat: cmp.Or(opts.Heartbeat, DefaultHeartbeat), deadAfter: cmp.Or(opts.DeadAfter, DefaultDeadAfter)}}, nil
}

// CancelRun stops the analysis job of a task: at once when it runs in this
// process, and through River (JobCancel) wherever it is, so that a queued
// job never runs and a job running in another process has its context
// canceled when that process next polls for cancellations (every few
// seconds with the SQLite driver, which has no notifier). It implements
// task.RunCanceler.
func (q *Queue) CancelRun(ctx context.Context, taskID string) error {
	if q.running.cancel(taskID) {
		q.log.Info("task run canceled in this process", "task_id", taskID)
	}
	return q.cancelJobs(ctx, taskID)
}

// cancelJobs cancels the jobs of a task through River: its analysis job
// and, when it fanned out, its chunk jobs.
func (q *Queue) cancelJobs(ctx context.Context, taskID string) error {
	return q.cancelWhere(ctx, "task", "task_id", taskID, []string{AnalyzeArgs{}.Kind(), ChunkArgs{}.Kind()},
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
		rivertype.JobStateRunning, rivertype.JobStateScheduled)
}

// cancelWhere cancels through River the jobs of kinds in states whose
// args have key = value (what names the key in errors).
func (q *Queue) cancelWhere(ctx context.Context, what, key, value string, kinds []string, states ...rivertype.JobState) error {
	// River stores args as JSONB on both databases, each with its own
	// operators.
	where := "json_extract(args, '$." + key + "') = @value"
	if q.dialect == store.Postgres {
		where = "args->>'" + key + "' = @value"
	}
	jobs, err := q.client.JobList(ctx, river.NewJobListParams().Kinds(kinds...).States(states...).
		Where(where, river.NamedArgs{"value": value}).First(10000))
	if err != nil {
		return fmt.Errorf("queue: find the jobs of %s %s: %w", what, value, err)
	}
	for _, j := range jobs.Jobs {
		if _, err := q.client.JobCancel(ctx, j.ID); err != nil {
			return fmt.Errorf("queue: cancel job %d of %s %s: %w", j.ID, what, value, err)
		}
	}
	return nil
}

// jobMetrics records each job's duration and outcome.
func jobMetrics(m *metrics.Metrics) rivertype.Middleware {
	return river.WorkerMiddlewareFunc(func(ctx context.Context, job *rivertype.JobRow, doInner func(ctx context.Context) error) error {
		start := time.Now()
		err := doInner(ctx)
		outcome := "done"
		var cancel *river.JobCancelError
		var snooze *river.JobSnoozeError
		switch {
		case errors.As(err, &cancel):
			outcome = "canceled"
		case errors.As(err, &snooze):
			outcome = "snoozed"
		case err != nil && job.Attempt >= job.MaxAttempts:
			outcome = "failed"
		case err != nil:
			outcome = "retry"
		}
		m.Job(job.Kind, outcome, time.Since(start))
		return err
	})
}

// Waiting counts the jobs waiting to run (available, or scheduled to run
// or retry later) and the age of the oldest available one.
func (q *Queue) Waiting(ctx context.Context) (n int, oldest time.Duration, err error) {
	if q.dialect == store.Postgres {
		var secs sql.NullFloat64
		err = q.db.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM river_job WHERE state IN ('available', 'scheduled', 'retryable')),
			(SELECT extract(epoch FROM now() - min(scheduled_at)) FROM river_job WHERE state = 'available')`).Scan(&n, &secs)
		return n, max(0, time.Duration(secs.Float64*float64(time.Second))), err
	}
	var first sql.NullString
	err = q.db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM river_job WHERE state IN ('available', 'scheduled', 'retryable')),
		(SELECT min(scheduled_at) FROM river_job WHERE state = 'available')`).Scan(&n, &first)
	if err != nil || !first.Valid {
		return n, 0, err
	}
	// River's SQLite driver stores times as UTC text.
	at, perr := time.Parse("2006-01-02 15:04:05.999999999", first.String)
	if perr != nil {
		return n, 0, nil
	}
	return n, max(0, time.Since(at)), nil
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

// Start starts working jobs, and the heartbeat that keeps this process's
// running jobs its own while it lives and rescues those of processes that
// died (life.go).
func (q *Queue) Start(ctx context.Context) error {
	if err := q.client.Start(ctx); err != nil {
		return err
	}
	q.stop, q.done = make(chan struct{}), make(chan struct{})
	go q.heartbeat(ctx)
	return nil
}

// Stop lets running jobs finish until ctx is done, then cancels them; a
// cancelled job snoozes and runs again at the next start.
func (q *Queue) Stop(ctx context.Context) error {
	defer q.stopHeartbeat()
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
	runner  Runner
	log     *slog.Logger
	running *runningTasks
}

func (w *analyzeWorker) Work(ctx context.Context, job *river.Job[AnalyzeArgs]) error {
	return runTask(ctx, w.running, w.log, job.Args.TaskID, func(ctx context.Context) error {
		return w.runner.Run(ctx, job.Args.TaskID, job.Attempt, job.MaxAttempts)
	})
}

type chunkWorker struct {
	river.WorkerDefaults[ChunkArgs]
	runner  ChunkRunner
	log     *slog.Logger
	running *runningTasks
}

func (w *chunkWorker) Work(ctx context.Context, job *river.Job[ChunkArgs]) error {
	a := job.Args
	return runTask(ctx, w.running, w.log, a.TaskID, func(ctx context.Context) error {
		return w.runner.RunChunk(ctx, a.TaskID, a.Chunk, a.First, a.Last, a.Windows, job.Attempt, job.MaxAttempts)
	})
}

// runTask runs one job of a task (its analysis or a chunk of it) and maps
// cancellation and shutdown to River's outcomes.
func runTask(ctx context.Context, running *runningTasks, log *slog.Logger, taskID string, run func(ctx context.Context) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer running.add(taskID, cancel)()
	// Jobs finish what the API accepted: their writes count against the
	// storage quota but are not refused by it.
	err := run(diskspace.WithoutQuota(ctx))
	if cause := context.Cause(ctx); ctx.Err() != nil &&
		(errors.Is(cause, ErrCanceled) || errors.Is(cause, river.ErrJobCancelledRemotely)) {
		// The task was failed by whoever canceled it; the job ends for good.
		log.Info("task run stopped: canceled by an operator", "task_id", taskID)
		return river.JobCancel(cause)
	}
	if err != nil && ctx.Err() != nil {
		// Shutting down: not a failure of the task, run it again soon.
		log.Info("task interrupted by shutdown; it resumes at the next start", "task_id", taskID)
		return river.JobSnooze(time.Second)
	}
	return snoozeIfDiskFull(err)
}

// DiskFullSnooze is how long a job stopped by a full disk waits before it
// runs again. A snooze does not use up one of the job's attempts, so a
// full disk never fails a task or an asset for good.
const DiskFullSnooze = 30 * time.Second

func snoozeIfDiskFull(err error) error {
	if diskspace.Full(err) {
		return river.JobSnooze(DiskFullSnooze)
	}
	return err
}

type assetWorker struct {
	river.WorkerDefaults[ProcessAssetArgs]
	runner AssetRunner
	log    *slog.Logger
}

func (w *assetWorker) Work(ctx context.Context, job *river.Job[ProcessAssetArgs]) error {
	err := w.runner.Process(diskspace.WithoutQuota(ctx), job.Args.AssetID, job.Attempt, job.MaxAttempts)
	if err != nil && ctx.Err() != nil {
		w.log.Info("asset processing interrupted by shutdown; it resumes at the next start", "asset_id", job.Args.AssetID)
		return river.JobSnooze(time.Second)
	}
	return snoozeIfDiskFull(err)
}

type expireWorker struct {
	river.WorkerDefaults[ExpireUploadsArgs]
	runner AssetRunner
}

func (w *expireWorker) Work(ctx context.Context, _ *river.Job[ExpireUploadsArgs]) error {
	return w.runner.ExpireUploads(ctx)
}
