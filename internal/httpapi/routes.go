// Package httpapi serves the TwelveLabs v1.3 compatible HTTP API. Every
// route is listed in routes; each endpoint is a small function behind one
// adapter that authenticates, decodes, maps errors to the endpoint's wire
// shape and encodes the response.
package httpapi

import (
	"context"
	"github.com/framewise/framewise/internal/metrics"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/internal/asset"
	"github.com/framewise/framewise/internal/diskspace"
	"github.com/framewise/framewise/internal/ratelimit"
	"github.com/framewise/framewise/internal/task"
)

// Tasks is what the API needs of the task service.
type Tasks interface {
	// Create creates a task; with idem set, a repeated key returns the
	// task it created before, with replayed true.
	Create(ctx context.Context, body []byte, idem *task.Idempotency) (t *task.Task, replayed bool, err error)
	Get(ctx context.Context, id string) (*task.Task, error)
	List(ctx context.Context, f task.Filter) ([]*task.Task, int, error)
	Delete(ctx context.Context, id string) error
}

// Server is the HTTP API.
type Server struct {
	tasks     Tasks
	assets    Assets
	keys      [][]byte
	accounts  Accounts // nil: only the keys above, all of the default account
	log       *slog.Logger
	metrics   *metrics.Metrics
	ready     atomic.Bool
	maxBody   int64
	publicURL string
	disk      func() diskspace.Status
	limiter   *ratelimit.Limiter // nil: no rate limit

	unavailable func(error) bool
	ping        func(context.Context) error
	jobsOnly    bool
	now         func() time.Time
	admin       adminRoutes
	webhooks    Webhooks // nil: the webhook admin routes answer 404
	analyzer    Analyzer // nil: POST /v1.3/analyze answers 404
	heartbeat   time.Duration
	mediaSigner *asset.Signer
	mediaBlobs  MediaBlobs
	ui          http.Handler
	batches     Batches // nil: no /v1.3/analyze/batches routes
}

// Options configure a Server.
type Options struct {
	// APIKeys accepted in the x-api-key header, all of the default
	// account. Empty means the open mode: a request without a key of
	// Accounts acts for the default account (the caller makes sure the
	// server listens on loopback).
	APIKeys []string
	// Accounts authenticates the keys of accounts (checked on every
	// request, so a revoke holds at once) and backs the admin routes of
	// accounts and keys; nil leaves both out.
	Accounts Accounts
	// MaxBodyBytes bounds a request body; 0 means 48 MiB, enough for a
	// 30 MB video in base64.
	MaxBodyBytes int64
	Log          *slog.Logger
	// Assets serves /v1.3/assets* and the presigned upload URLs; nil
	// leaves those routes out.
	Assets Assets
	// RateLimit is how many requests per minute each account may send to
	// the API endpoints (not /healthz, not presigned chunk PUTs); 0 means
	// no limit.
	RateLimit int
	// Now is the clock of the rate limit; nil is time.Now.
	Now func() time.Time
	// PublicURL is this server's URL as clients reach it, for presigned
	// upload URLs ("https://fw.example.com"); empty means the request's
	// scheme and Host.
	PublicURL string
	// Metrics is served at /metrics (without a key, like /healthz: it
	// holds counts, never ids, accounts or keys) and receives every
	// request's route, status and duration; nil: no /metrics.
	Metrics *metrics.Metrics
	// Disk measures the free space of the data dir for /readyz; nil
	// leaves the disk out of it.
	Disk func() diskspace.Status
	// AdminKeys authorize the admin routes (admin.go) in x-api-key, and
	// Canceler cancels tasks for them; without keys those routes answer 403.
	AdminKeys []string
	Canceler  TaskCanceler
	// Webhooks manages webhook endpoints for the admin routes
	// (admin_webhooks.go).
	Webhooks Webhooks
	// Unavailable says whether an error means that a part the server
	// needs (the database) is out of reach: such requests get 503 with
	// Retry-After instead of 500. nil: none is.
	Unavailable func(error) bool
	// Ping checks, for /readyz, that the parts the server needs (the
	// database, the object store) answer; nil: nothing to check.
	Ping func(context.Context) error
	// JobsOnly serves /healthz, /readyz and /metrics only: a process of
	// the worker role.
	JobsOnly bool
	// Analyzer runs synchronous analyses (POST /v1.3/analyze); nil leaves
	// the route out. StreamHeartbeat is how long its streams stay silent
	// before an empty line is sent; 0 means 15 s.
	Analyzer        Analyzer
	StreamHeartbeat time.Duration
	// MediaSigner and MediaBlobs serve the media route (media.go): signed,
	// short-lived URLs of a task's stored video for players; either nil
	// leaves it out.
	MediaSigner *asset.Signer
	MediaBlobs  MediaBlobs
	// UI is the web UI (internal/webui): it answers GET / for browsers
	// (requests that accept text/html) and its assets under /ui/; nil
	// leaves GET / to the JSON service description alone.
	UI http.Handler
	// Batches serves /v1.3/analyze/batches*; nil leaves those routes out.
	Batches Batches
}

// New returns the API server. It answers /healthz with 503 until SetReady.
func New(tasks Tasks, opts Options) *Server {
	s := &Server{tasks: tasks, assets: opts.Assets, accounts: opts.Accounts, log: opts.Log, maxBody: opts.MaxBodyBytes,
		publicURL: strings.TrimRight(opts.PublicURL, "/")}
	s.now, s.disk, s.metrics = opts.Now, opts.Disk, opts.Metrics
	if s.now == nil {
		s.now = time.Now
	}
	if opts.RateLimit > 0 {
		s.limiter = ratelimit.New(opts.RateLimit, time.Minute, s.now)
	}
	if s.maxBody <= 0 {
		s.maxBody = 48 << 20
	}
	for _, k := range opts.APIKeys {
		s.keys = append(s.keys, []byte(k))
	}
	s.admin = newAdminRoutes(opts.AdminKeys, opts.Canceler)
	s.webhooks, s.analyzer, s.heartbeat = opts.Webhooks, opts.Analyzer, opts.StreamHeartbeat
	if s.heartbeat <= 0 {
		s.heartbeat = defaultHeartbeat
	}
	s.batches = opts.Batches
	s.unavailable, s.ping, s.jobsOnly = opts.Unavailable, opts.Ping, opts.JobsOnly
	s.mediaSigner, s.mediaBlobs, s.ui = opts.MediaSigner, opts.MediaBlobs, opts.UI
	return s
}

// SetReady marks the server as able to take work.
func (s *Server) SetReady(v bool) { s.ready.Store(v) }

// Handler returns the root handler with every route.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.metrics != nil {
		mux.Handle("GET /metrics", s.metrics.Handler())
	}
	if s.jobsOnly {
		mux.Handle("/", s.endpoint(flat, func(r *http.Request) (int, any, error) {
			return 0, nil, errorf(http.StatusNotFound, api.CodeNotFound,
				"This framewise process runs jobs only (--role worker); send API requests to a process of the api or all role.")
		}))
		return s.middleware(mux)
	}
	// The root says where things are, without a key, so that a browser or
	// curl pointed at the server learns more than 401.
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if s.ui != nil && acceptsHTML(r) {
			s.ui.ServeHTTP(w, r)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{
			"service": "framewise", "api": "/v1.3", "openapi": "/v1.3/openapi.json", "health": "/healthz",
			"docs": "https://github.com/framewise/framewise#readme"})
	})
	// The OpenAPI document of this API; like /healthz it needs no key.
	mux.HandleFunc("GET /v1.3/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(api.OpenAPI)
	})

	if s.analyzer != nil {
		mux.Handle("POST /v1.3/analyze", s.endpoint(flat, s.analyze))
	}
	mux.Handle("POST /v1.3/analyze/tasks", s.endpoint(nested, s.createTask))
	mux.Handle("GET /v1.3/analyze/tasks", s.endpoint(flat, s.listTasks))
	mux.Handle("GET /v1.3/analyze/tasks/{task_id}", s.endpoint(nested, s.getTask))
	mux.Handle("DELETE /v1.3/analyze/tasks/{task_id}", s.endpoint(nested, s.deleteTask))
	if s.mediaSigner != nil && s.mediaBlobs != nil {
		mux.Handle("POST /v1.3/analyze/tasks/{task_id}/media", s.endpoint(nested, s.createMediaURL))
		// Signed media URLs: the signature authorizes them, not x-api-key.
		mux.HandleFunc("GET /media/tasks/{task_id}", s.serveMedia)
	}
	if s.ui != nil {
		mux.Handle(uiPattern, s.ui)
	}

	if s.batches != nil {
		mux.Handle("POST /v1.3/analyze/batches", s.endpoint(nested, s.createBatch))
		mux.Handle("GET /v1.3/analyze/batches", s.endpoint(nested, s.listBatches))
		mux.Handle("GET /v1.3/analyze/batches/{batch_id}", s.endpoint(nested, s.getBatch))
		mux.Handle("DELETE /v1.3/analyze/batches/{batch_id}", s.endpoint(nested, s.deleteBatch))
		mux.Handle("POST /v1.3/analyze/batches/{batch_id}/cancel", s.endpoint(nested, s.cancelBatch))
		mux.Handle("GET /v1.3/analyze/batches/{batch_id}/results", s.endpoint(nested, s.batchResults))
	}

	if s.assets != nil {
		mux.Handle("POST /v1.3/assets", s.endpoint(flat, s.createAsset))
		mux.Handle("GET /v1.3/assets", s.endpoint(flat, s.listAssets))
		mux.Handle("GET /v1.3/assets/{asset_id}", s.endpoint(flat, s.getAsset))
		mux.Handle("DELETE /v1.3/assets/{asset_id}", s.endpoint(flat, s.deleteAsset))
		mux.Handle("POST /v1.3/assets/multipart-uploads", s.endpoint(flat, s.createUpload))
		mux.Handle("GET /v1.3/assets/multipart-uploads", s.endpoint(flat, s.listUploads))
		mux.Handle("GET /v1.3/assets/multipart-uploads/{upload_id}", s.endpoint(flat, s.getUpload))
		mux.Handle("POST /v1.3/assets/multipart-uploads/{upload_id}", s.endpoint(flat, s.reportChunks))
		mux.Handle("DELETE /v1.3/assets/multipart-uploads/{upload_id}", s.endpoint(flat, s.abortUpload))
		mux.Handle("POST /v1.3/assets/multipart-uploads/{upload_id}/presigned-urls", s.endpoint(flat, s.presignedURLs))
		// Presigned chunk URLs: the signature authorizes them, not x-api-key.
		mux.HandleFunc("PUT /uploads/{upload_id}/{chunk_index}", s.putChunk)
		mux.HandleFunc("OPTIONS /uploads/{upload_id}/{chunk_index}", s.uploadPreflight)
	}

	// Operators' routes (admin.go): admin keys, not API keys.
	mux.Handle("POST /admin/v1/tasks/{task_id}/cancel", s.adminEndpoint(s.cancelTask))
	if s.accounts != nil {
		mux.Handle("POST /admin/v1/accounts", s.adminEndpoint(s.createAccount))
		mux.Handle("GET /admin/v1/accounts", s.adminEndpoint(s.listAccounts))
		mux.Handle("DELETE /admin/v1/accounts/{name}", s.adminEndpoint(s.deleteAccount))
		mux.Handle("POST /admin/v1/accounts/{name}/keys", s.adminEndpoint(s.createKey))
		mux.Handle("GET /admin/v1/accounts/{name}/keys", s.adminEndpoint(s.listKeys))
		mux.Handle("DELETE /admin/v1/keys/{key_id}", s.adminEndpoint(s.revokeKey))
	}
	mux.Handle("POST /admin/v1/webhooks", s.adminWebhooks(s.createWebhook))
	mux.Handle("GET /admin/v1/webhooks", s.adminWebhooks(s.listWebhooks))
	mux.Handle("GET /admin/v1/webhooks/{webhook_id}", s.adminWebhooks(s.getWebhook))
	mux.Handle("DELETE /admin/v1/webhooks/{webhook_id}", s.adminWebhooks(s.deleteWebhook))
	mux.Handle("POST /admin/v1/webhooks/{webhook_id}/test", s.adminWebhooks(s.testWebhook))
	mux.Handle("POST /admin/v1/tasks/{task_id}/webhooks/redeliver", s.adminWebhooks(s.redeliverWebhooks))

	mux.Handle("/", s.endpoint(flat, s.noRoute))
	return s.middleware(mux)
}

// knownPaths answer 405 rather than 404 for a method they do not have.
var knownPaths = []string{"/", "/v1.3/analyze", "/v1.3/analyze/tasks", "/v1.3/analyze/tasks/{task_id}", "/healthz", "/readyz", "/metrics", "/v1.3/openapi.json",
	"/v1.3/assets", "/v1.3/assets/{asset_id}", "/v1.3/assets/multipart-uploads", "/v1.3/assets/multipart-uploads/{upload_id}",
	"/v1.3/assets/multipart-uploads/{upload_id}/presigned-urls", "/uploads/{upload_id}/{chunk_index}",
	"/admin/v1/tasks/{task_id}/cancel", "/admin/v1/accounts", "/admin/v1/accounts/{name}", "/admin/v1/accounts/{name}/keys",
	"/admin/v1/keys/{key_id}", "/admin/v1/webhooks", "/admin/v1/webhooks/{webhook_id}",
	"/admin/v1/webhooks/{webhook_id}/test", "/admin/v1/tasks/{task_id}/webhooks/redeliver",
	"/v1.3/analyze/tasks/{task_id}/media", "/media/tasks/{task_id}",
	"/v1.3/analyze/batches", "/v1.3/analyze/batches/{batch_id}", "/v1.3/analyze/batches/{batch_id}/cancel", "/v1.3/analyze/batches/{batch_id}/results"}
