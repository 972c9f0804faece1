// Package app is the composition root: it builds every concrete part of a
// framewise server in order, starts the roles, and stops them in reverse.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/framewise/framewise/internal/analysis"
	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/config"
	"github.com/framewise/framewise/internal/connlimit"
	"github.com/framewise/framewise/internal/diskspace"
	"github.com/framewise/framewise/internal/engine"
	"github.com/framewise/framewise/internal/engine/builtin"
	"github.com/framewise/framewise/internal/engine/vlm"
	"github.com/framewise/framewise/internal/fetch"
	"github.com/framewise/framewise/internal/httpapi"
	"github.com/framewise/framewise/internal/inference"
	"github.com/framewise/framewise/internal/inference/openai"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/metrics"
	"github.com/framewise/framewise/internal/netguard"
	"github.com/framewise/framewise/internal/queue"
	"github.com/framewise/framewise/internal/store"
	"github.com/framewise/framewise/internal/task"
	"github.com/framewise/framewise/internal/webhook"
)

// Serve runs the server until ctx is done, then shuts down gracefully:
// stop accepting requests, let running jobs finish (or snooze them after
// cfg.ShutdownTimeout), close the database last. listening, when not nil,
// is called with the address once the server takes work.
func Serve(ctx context.Context, cfg config.Config, log *slog.Logger, listening func(addr string)) (err error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.Close()) }()

	// Media files: under the data dir, or where --blob-url says.
	blobStore, err := blob.Open(ctx, cfg.BlobURL, cfg.DataDir)
	if err != nil {
		return err
	}
	blobs, quota, err := withQuota(ctx, blobStore, cfg.StorageQuota, log)
	if err != nil {
		return err
	}
	// One registry for the process, served at /metrics.
	mx := metrics.New()
	tool, err := media.New(media.Config{Metrics: mx})
	if err != nil {
		return err
	}
	guard := netguard.Guard{AllowPrivate: cfg.AllowPrivateURLs}
	downloader := fetchDownloader{&fetch.Fetcher{Client: guard.HTTPClient(0), MaxBytes: cfg.MaxVideoBytes}}

	limits := task.DefaultLimits()
	limits.DefaultModel = cfg.DefaultModel
	limits.MaxSegmentDefinitions = cfg.MaxSegmentDefinitions
	limits.MaxEnumValues = cfg.MaxEnumValues
	limits.MaxTokensP15 = cfg.MaxTokensP15
	limits.MaxConcurrentCreates = cfg.MaxConcurrentCreates
	limits.CreateQueueWait = cfg.CreateQueueWait
	limits.MeasureOnly = map[string]bool{}
	for _, name := range []string{task.Pegasus12, task.Pegasus15} {
		limits.MeasureOnly[name] = cfg.Models[name].Backend != "openai"
	}

	// Rows and their jobs commit together: the stores insert jobs through
	// the enqueuer in their transactions; the queue that works them is
	// built last, from the pipeline.
	enq, err := queue.NewEnqueuer(ctx, db, log)
	if err != nil {
		return err
	}
	tasks := store.NewTasks(db, enq.Enqueue)
	tasks.SetBatchEnqueuer(enq.EnqueueBatch)
	hooks := store.NewWebhooks(db, enq.EnqueueWebhook)
	tasks.OnTerminal(hooks.TaskEnded)
	tasks.OnBatchEnded(hooks.BatchEnded)
	webhooks := webhook.New(hooks, guard, log)
	tasks.SetQuotas(store.Quotas{ActiveTasks: cfg.QuotaActiveTasks, VideoPerDay: time.Duration(cfg.QuotaVideoHours * float64(time.Hour))})
	svc := task.NewService(tasks, blobs, analysis.Checker{Media: tool}, limits, log)
	signer, err := newSigner(ctx, cfg, db)
	if err != nil {
		return err
	}
	assets, err := newAssets(cfg, db, blobs, quota, tool, guard.HTTPClient(0),
		enq.EnqueueAsset, signer, log)
	if err != nil {
		return err
	}
	svc.UseAssets(assetResolver{assets})
	batchLimits := task.DefaultBatchLimits()
	batchLimits.Expiry, batchLimits.Retention = cfg.BatchExpiry, cfg.BatchRetention
	svc.UseBatches(tasks, batchLimits)

	facts := map[config.ModelProfile]*backendFacts{}
	engines, backends, err := buildEngines(cfg, tool, facts, mx, log)
	if err != nil {
		return err
	}
	pipeline := &analysis.Pipeline{Tasks: svc, Blobs: blobs, Downloader: downloader, Media: tool, Assets: assetResolver{assets}, Engines: engines, Log: log}

	// Synchronous analyses (POST /analyze) run in the request, on FFmpeg
	// slots and model clients of their own, so that neither they nor the
	// queued tasks can take all of the other's.
	syncTool, err := media.New(media.Config{Metrics: mx, MaxHeavy: cfg.SyncConcurrency})
	if err != nil {
		return err
	}
	syncEngines, _, err := buildEngines(cfg, syncTool, facts, mx, log.With("sync", true))
	if err != nil {
		return err
	}
	syncRuns := analysis.NewSync(svc, &analysis.Pipeline{Blobs: blobs, Downloader: downloader, Media: syncTool,
		Assets: assetResolver{assets}, Engines: syncEngines, Log: log}, cfg.SyncConcurrency)

	// An API process only enqueues; its jobs run on the workers.
	workers := cfg.Workers
	if cfg.Role == config.RoleAPI {
		workers = 0
	}
	q, err := queue.New(ctx, db, pipeline, queue.Options{Workers: workers, Log: log, Assets: assets, Metrics: mx,
		Webhooks: webhooks, WebhookBackoff: cfg.WebhookBackoff, Batches: svc, BatchSweepInterval: batchSweepInterval(cfg)})
	if err != nil {
		return err
	}
	svc.SetRunCanceler(q)
	svc.SetBatchJobs(q)
	// Long videos fan out into chunk jobs that any worker takes.
	pipeline.Fanout = q

	// A reserve file lets deletes commit on a full disk; the monitor warns
	// of low space and refills the reserve once space returns.
	reserve := diskspace.NewReserve(filepath.Join(cfg.DataDir, "disk-reserve"), diskspace.ReserveSize, log)
	disk := diskspace.NewMonitor(cfg.DataDir, diskspace.Threshold{Bytes: cfg.MinFreeDisk.Bytes, Percent: cfg.MinFreeDisk.Percent}, reserve, log)
	disk.Check()
	go disk.Run(ctx, diskCheckInterval)

	api := httpapi.New(reservingTasks{svc, reserve}, httpapi.Options{APIKeys: cfg.APIKeys, Log: log, Assets: reservingAssets{assets, reserve},
		PublicURL: cfg.PublicURL, RateLimit: cfg.RateLimit, Disk: disk.Check, AdminKeys: cfg.AdminKeys, Canceler: svc,
		Accounts: store.NewAccounts(db), Metrics: mx, Webhooks: webhooks, Batches: svc,
		Unavailable: store.Unavailable, Ping: readiness(db, blobStore), JobsOnly: cfg.Role == config.RoleWorker,
		Analyzer: syncAnalyzer{syncRuns}, StreamHeartbeat: cfg.StreamHeartbeat,
		MediaSigner: signer, MediaBlobs: mediaBlobs(blobStore), UI: webUI(cfg, blobStore)})
	mx.Gauges(func(ctx context.Context) (metrics.State, error) {
		byStatus, err := tasks.CountByStatus(ctx)
		if err != nil {
			return metrics.State{}, err
		}
		n, oldest, err := q.Waiting(ctx)
		return metrics.State{Tasks: byStatus, QueuedJobs: n, OldestQueuedAge: oldest}, err
	})
	ln, err := listenLimited(cfg.Addr, log)
	if err != nil {
		return err
	}
	// Timeouts: headers must arrive within 10 s; a body must keep arriving
	// at 64 KiB per 10 s and a response must be taken at 64 KiB per 10 s
	// (httpapi.IOLimits: ReadTimeout and WriteTimeout would bound the whole
	// request, cutting large uploads on slow links and long handlers); a
	// keep-alive connection idle for 60 s is closed, and an idle one is
	// closed sooner when a connection cap is reached (connlimit).
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ConnState:         ln.ConnState,
		ConnContext:       ln.ConnContext,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if workers > 0 {
		if err := q.Start(context.WithoutCancel(ctx)); err != nil {
			ln.Close()
			return fmt.Errorf("start queue: %w", err)
		}
	} else {
		log.Info("no workers in this process (--workers 0 or --role api): tasks are queued but not run here")
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	api.SetReady(true)
	addr := ln.Addr().String()
	if len(cfg.APIKeys) == 0 {
		log.Warn("no API key configured: the API is open to every local process", "addr", addr)
	}
	log.Info("framewise is listening", "url", "http://"+addr, "api", "http://"+addr+"/v1.3", "role", cfg.Role, "data_dir", cfg.DataDir, "workers", workers,
		"rate_limit_per_minute", cfg.RateLimit)
	if listening != nil {
		listening(addr)
	}
	// Probe each model server in the background and log what is wrong with
	// it (as `framewise models check` prints): a server that is down or
	// starts later never delays or fails startup, and the engines use what
	// the probe found.
	for _, b := range backends {
		go b.probeAndLog(ctx, log)
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	}
	log.Info("shutting down: no new requests; running jobs may finish", "timeout", cfg.ShutdownTimeout)
	api.SetReady(false)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	herr := srv.Shutdown(sctx)
	var qerr error
	if workers > 0 {
		qerr = q.Stop(sctx)
	}
	log.Info("stopped")
	return errors.Join(herr, qerr)
}

// listenLimited listens on addr with the connection caps of connlimit
// (FRAMEWISE_MAX_CONNS, FRAMEWISE_MAX_CONNS_PER_ADDR), fitted under the
// open-file limit, which it first raises to the hard limit.
func listenLimited(addr string, log *slog.Logger) (*connlimit.Listener, error) {
	ccfg, err := connlimit.FromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	nofile, err := connlimit.FileLimit()
	if err != nil {
		nofile = 1024
		log.Warn("could not read the open-file limit; assuming 1024", "err", err)
	}
	ccfg, lowered := ccfg.Fit(nofile, connlimit.DefaultReserve)
	if lowered {
		log.Warn("connection cap lowered to fit the open-file limit; raise the limit (ulimit -n, systemd LimitNOFILE=) to allow more",
			"max_conns", ccfg.MaxConns, "open_file_limit", nofile)
	}
	ccfg.Log = log
	inner, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	ln := connlimit.NewListener(inner, ccfg)
	c := ln.Config()
	log.Info("connection limits", "max_conns", c.MaxConns, "max_conns_per_addr", c.MaxConnsPerAddr,
		"overflow", c.Overflow, "open_file_limit", nofile)
	return ln, nil
}

// fetchDownloader adapts fetch to analysis.Downloader.
type fetchDownloader struct{ f *fetch.Fetcher }

func (d fetchDownloader) Download(ctx context.Context, rawURL string, w io.Writer) (int64, error) {
	n, _, err := d.f.Fetch(ctx, rawURL, w)
	return n, err
}

func (d fetchDownloader) Temporary(err error) bool { return fetch.IsTemporary(err) }

// buildEngines builds the engine of each model name from its profile, and
// says at start which engine serves which name.
//
// Each call makes its own model clients (with their own bound on parallel
// calls); facts holds one probe per model server, shared by the calls, and
// the backends returned are those this call added to it.
func buildEngines(cfg config.Config, tool *media.Tool, facts map[config.ModelProfile]*backendFacts, mx *metrics.Metrics, log *slog.Logger) (map[string]engine.Engine, []*backendFacts, error) {
	var asr inference.Transcriber
	if a := cfg.ASR; a != nil {
		c, err := openai.New(openai.Config{BaseURL: a.BaseURL, Model: a.Model, APIKey: a.APIKey, Name: a.Name,
			MaxParallel: a.MaxParallel, Timeout: a.Timeout, Metrics: mx})
		if err != nil {
			return nil, nil, fmt.Errorf("asr: %w", err)
		}
		asr = c
		log.Info("speech recognition", "backend", a.Name, "url", a.BaseURL, "model", a.Model)
	}
	engines := map[string]engine.Engine{}
	// One probe per model server, however many model names it serves.
	var backends []*backendFacts
	for _, name := range []string{task.Pegasus12, task.Pegasus15} {
		p := cfg.Models[name]
		if p.Backend != "openai" {
			engines[name] = builtin.Engine{Media: tool}
			log.Info("model engine", "model_name", name, "engine", "builtin",
				"note", "no vision-language model configured: answers are measurements of the video, not interpretations")
			continue
		}
		oc := openai.Config{BaseURL: p.BaseURL, Model: p.Model, APIKey: p.APIKey, Name: p.Name,
			MaxParallel: p.MaxParallel, Timeout: p.Timeout, MaxRetries: p.MaxRetries, Metrics: mx}
		c, err := openai.New(oc)
		if err != nil {
			return nil, nil, fmt.Errorf("model %s: %w", name, err)
		}
		f := facts[p]
		if f == nil {
			prober, err := openai.NewProber(oc)
			if err != nil {
				return nil, nil, fmt.Errorf("model %s: %w", name, err)
			}
			f = &backendFacts{prober: prober, opts: openai.ProbeOptions{FramesPerCall: p.FramesPerCall, FrameWidth: p.FrameWidth,
				ContextTokens: p.ContextTokens, FrameTokens: vlm.FrameTokens(p.FrameWidth), Timeout: min(20*time.Second, p.Timeout)}}
			facts[p] = f
			backends = append(backends, f)
			f.modelNames = append(f.modelNames, name)
		} else if !slices.Contains(f.modelNames, name) {
			f.modelNames = append(f.modelNames, name)
		}
		engines[name] = vlm.New(vlm.Config{Name: p.Name, Chat: c, ASR: asr, Media: tool,
			FramesPerCall: p.FramesPerCall, FrameWidth: p.FrameWidth, ContextTokens: p.ContextTokens, Limits: f.Limits,
			MaxParallel: p.MaxParallel, Log: log})
		log.Info("model engine", "model_name", name, "engine", "vlm", "backend", p.Name, "url", p.BaseURL, "model", p.Model,
			"frames_per_call", p.FramesPerCall, "max_parallel", p.MaxParallel, "asr", asr != nil)
	}
	return engines, backends, nil
}

// readiness checks what /readyz reports: the database answers, and the
// object store when media live in one.
func readiness(db *store.DB, blobs blob.Store) func(context.Context) error {
	pinger, _ := blobs.(interface{ Ping(context.Context) error })
	return func(ctx context.Context) error {
		if err := db.Reader.PingContext(ctx); err != nil {
			return fmt.Errorf("database: %w", err)
		}
		if pinger != nil {
			return pinger.Ping(ctx)
		}
		return nil
	}
}

// syncAnalyzer adapts analysis.Sync to httpapi.Analyzer.
type syncAnalyzer struct{ s *analysis.Sync }

func (a syncAnalyzer) Begin(ctx context.Context, body []byte) (httpapi.AnalyzeRun, error) {
	r, err := a.s.Begin(ctx, body)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// batchSweepInterval is how often batches are expired and purged: every
// minute, or a quarter of a shorter expiry or retention (at least every
// second), so that short ones are applied on time.
func batchSweepInterval(cfg config.Config) time.Duration {
	return max(time.Second, min(queue.DefaultBatchSweepInterval, cfg.BatchExpiry/4, cfg.BatchRetention/4))
}
