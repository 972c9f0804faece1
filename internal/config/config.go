// Package config holds the one Config of a framewise server: flags take
// precedence over FRAMEWISE_* environment variables, which take precedence
// over defaults. It is validated once and passed by value.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the server configuration.
type Config struct {
	Addr    string
	DataDir string
	// DatabaseURL is a postgres:// URL; empty means SQLite in DataDir.
	// Migrate applies missing migrations at start (PostgreSQL; SQLite
	// always does).
	DatabaseURL string
	Migrate     bool
	// Role is what this process does: RoleAll (API and workers),
	// RoleAPI (validate and enqueue, no analysis) or RoleWorker (jobs
	// only, with /healthz, /readyz and /metrics on Addr).
	Role    string
	APIKeys []string
	// AdminKeys authorize the admin routes (/admin/v1/…: accounts, keys,
	// canceling a task); none turns those routes off.
	AdminKeys        []string
	AllowPrivateURLs bool
	Workers          int
	LogLevel         string
	LogFormat        string
	MaxVideoBytes    int64
	ShutdownTimeout  time.Duration
	// WebhookBackoff is the wait after a first failed webhook delivery
	// attempt; it doubles after each further one.
	WebhookBackoff time.Duration
	// BatchExpiry is how long a batch's items may wait to start: the items
	// not started by then are canceled and the batch expires.
	// BatchRetention is how long a finished batch and its results are
	// kept before a periodic job deletes them.
	BatchExpiry, BatchRetention time.Duration
	// RateLimit is the requests per minute each account may send to the
	// API endpoints; 0 means no limit.
	RateLimit int
	// QuotaActiveTasks bounds each account's tasks queued, pending or
	// processing at once, and QuotaVideoHours the hours of video each
	// account's tasks analyze in any 24 hours; 0 is no bound.
	QuotaActiveTasks int
	QuotaVideoHours  float64
	// MaxConcurrentCreates bounds the creates that decode and probe a
	// base64 video at once (0: max(2, CPUs)); CreateQueueWait is how long
	// a create waits for a slot before 429 (0: 5 s; negative: no wait).
	MaxConcurrentCreates int
	CreateQueueWait      time.Duration
	// SyncConcurrency bounds the synchronous analyses (POST /analyze)
	// running at once, apart from the workers of queued tasks: one more is
	// answered 429 with Retry-After.
	SyncConcurrency int
	// StreamHeartbeat is how long an analysis stream stays silent before
	// an empty line is sent, for proxies that close idle connections.
	StreamHeartbeat time.Duration

	// PublicURL is the server's URL as clients reach it, used in
	// presigned upload URLs; empty means the Host of each request.
	PublicURL string

	// Request limits (spec §9: seed values by default).
	DefaultModel          string
	MaxSegmentDefinitions int
	MaxEnumValues         int
	MaxTokensP15          int

	// ConfigFile is the YAML file the configuration was read from, if any.
	ConfigFile string
	// Models maps pegasus1.2 and pegasus1.5 to the profile serving them.
	Models map[string]ModelProfile
	// ASR, when set, transcribes speech for the model engine.
	ASR *ASRProfile
	// MinFreeDisk is the free space in the data dir below which the
	// server warns and /readyz is degraded; StorageQuota bounds the bytes
	// of stored media (0: none). See disk.go.
	MinFreeDisk  DiskSize
	StorageQuota int64
	// BlobURL is where media files are stored (--blob-url, see blob.go);
	// empty is <DataDir>/blobs.
	BlobURL string
	// UI serves the web UI at / (to browsers) and /ui/; on by default
	// (--ui=false, FRAMEWISE_UI=false turn it off).
	UI bool
}

// Roles of a process (--role).
const (
	RoleAll    = "all"
	RoleAPI    = "api"
	RoleWorker = "worker"
)

// Default returns the defaults.
func Default() Config {
	return Config{
		Addr:                  "127.0.0.1:8700",
		DataDir:               "./framewise-data",
		Workers:               2,
		SyncConcurrency:       2,
		StreamHeartbeat:       15 * time.Second,
		Role:                  RoleAll,
		LogLevel:              "info",
		LogFormat:             "text",
		MaxVideoBytes:         4 << 30,
		ShutdownTimeout:       30 * time.Second,
		WebhookBackoff:        time.Minute,
		BatchExpiry:           24 * time.Hour,
		BatchRetention:        30 * 24 * time.Hour,
		DefaultModel:          "pegasus1.2",
		MaxSegmentDefinitions: 10,
		MaxEnumValues:         50,
		MaxTokensP15:          65536,
		Models:                map[string]ModelProfile{},
		MinFreeDisk:           DiskSize{Bytes: 1 << 30},
		UI:                    true,
	}
}

type stringList struct{ v *[]string }

func (s stringList) String() string { return "" }
func (s stringList) Set(v string) error {
	*s.v = append(*s.v, v)
	return nil
}

// ParseServe parses the flags of "framewise serve" over the environment.
func ParseServe(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	c := Default()
	if c.ConfigFile = configPath(args, getenv); c.ConfigFile != "" {
		if err := c.loadFile(c.ConfigFile, getenv); err != nil {
			return c, err
		}
	}
	if err := c.fromEnv(getenv); err != nil {
		return c, err
	}
	var vlm ModelProfile
	asr := ASRProfile{}
	vlm.BaseURL, vlm.Model, vlm.APIKey, vlm.Name = getenv("FRAMEWISE_VLM_URL"), getenv("FRAMEWISE_VLM_MODEL"), getenv("FRAMEWISE_VLM_API_KEY"), getenv("FRAMEWISE_VLM_NAME")
	asr.BaseURL, asr.Model, asr.APIKey = getenv("FRAMEWISE_ASR_URL"), getenv("FRAMEWISE_ASR_MODEL"), getenv("FRAMEWISE_ASR_API_KEY")
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var keys, adminKeys []string
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address (env FRAMEWISE_ADDR)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "folder for the database and media files (env FRAMEWISE_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "postgres://user@host:5432/db to keep state in PostgreSQL; default: SQLite in the data dir (env FRAMEWISE_DATABASE_URL)")
	fs.BoolVar(&c.Migrate, "migrate", c.Migrate, "apply missing database migrations at start (PostgreSQL; else run `framewise migrate` first) (env FRAMEWISE_MIGRATE)")
	fs.StringVar(&c.Role, "role", c.Role, "all, api (answers the API, runs no jobs) or worker (runs jobs; serves only /healthz, /readyz and /metrics) (env FRAMEWISE_ROLE)")
	fs.Var(stringList{&keys}, "api-key", "accepted x-api-key value, of the default account; repeatable (env FRAMEWISE_API_KEYS, comma-separated)")
	fs.Var(stringList{&adminKeys}, "admin-key", "x-api-key value of the admin routes (/admin/v1: accounts, keys, canceling a task); repeatable; none turns them off (env FRAMEWISE_ADMIN_KEY, or FRAMEWISE_ADMIN_KEYS comma-separated)")
	fs.BoolVar(&c.AllowPrivateURLs, "allow-private-urls", c.AllowPrivateURLs, "let video URLs reach loopback and private addresses (env FRAMEWISE_ALLOW_PRIVATE_URLS)")
	fs.IntVar(&c.Workers, "workers", c.Workers, "analysis jobs run at once (env FRAMEWISE_WORKERS)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (env FRAMEWISE_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json (env FRAMEWISE_LOG_FORMAT)")
	fs.IntVar(&c.RateLimit, "rate-limit", c.RateLimit, "requests per minute each account may send; 0 is no limit (env FRAMEWISE_RATE_LIMIT)")
	fs.IntVar(&c.QuotaActiveTasks, "quota-active-tasks", c.QuotaActiveTasks, "tasks each account may have queued, pending or processing at once; 0 is no quota (env FRAMEWISE_QUOTA_ACTIVE_TASKS)")
	fs.Float64Var(&c.QuotaVideoHours, "quota-video-hours", c.QuotaVideoHours, "hours of video each account's tasks may analyze in any 24 hours; 0 is no quota (env FRAMEWISE_QUOTA_VIDEO_HOURS)")
	fs.IntVar(&c.SyncConcurrency, "sync-concurrency", c.SyncConcurrency, "synchronous analyses (POST /v1.3/analyze) at once, apart from the workers; one more gets 429 (env FRAMEWISE_SYNC_CONCURRENCY)")
	fs.DurationVar(&c.StreamHeartbeat, "stream-heartbeat", c.StreamHeartbeat, "silence after which an analysis stream (POST /v1.3/analyze) sends an empty line, for proxies that close idle connections (env FRAMEWISE_STREAM_HEARTBEAT)")
	fs.IntVar(&c.MaxConcurrentCreates, "max-concurrent-creates", c.MaxConcurrentCreates, "creates that decode and probe a base64 video at once; 0 is max(2, CPUs) (env FRAMEWISE_MAX_CONCURRENT_CREATES)")
	fs.DurationVar(&c.CreateQueueWait, "create-queue-wait", c.CreateQueueWait, "how long such a create waits for a slot before 429 with Retry-After; 0 is 5s, negative answers at once (env FRAMEWISE_CREATE_QUEUE_WAIT)")
	fs.Int64Var(&c.MaxVideoBytes, "max-video-bytes", c.MaxVideoBytes, "largest video fetched from a URL (env FRAMEWISE_MAX_VIDEO_BYTES)")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "URL clients reach this server at, for presigned upload URLs, e.g. https://fw.example.com (env FRAMEWISE_PUBLIC_URL; default: each request's Host)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long running jobs may finish at shutdown before they are snoozed")
	fs.DurationVar(&c.BatchExpiry, "batch-expiry", c.BatchExpiry, "a batch's items not started this long after its creation are canceled (env FRAMEWISE_BATCH_EXPIRY)")
	fs.DurationVar(&c.BatchRetention, "batch-retention", c.BatchRetention, "a finished batch and its results are deleted this long after it finished (env FRAMEWISE_BATCH_RETENTION)")
	fs.DurationVar(&c.WebhookBackoff, "webhook-backoff", c.WebhookBackoff, "wait after a failed webhook delivery attempt, doubling after each (8 attempts)")
	fs.StringVar(&c.DefaultModel, "default-model", c.DefaultModel, "model used when a request has no model_name (env FRAMEWISE_DEFAULT_MODEL)")
	fs.IntVar(&c.MaxSegmentDefinitions, "limit-segment-definitions", c.MaxSegmentDefinitions, "most segment definitions per request (upstream now allows 20)")
	fs.IntVar(&c.MaxEnumValues, "limit-enum-values", c.MaxEnumValues, "most enum values per field (upstream now allows 100)")
	fs.IntVar(&c.MaxTokensP15, "limit-max-tokens", c.MaxTokensP15, "largest max_tokens for pegasus1.5 (upstream now allows 98304)")
	c.diskFlags(fs)
	c.blobFlags(fs)
	fs.BoolVar(&c.UI, "ui", c.UI, "serve the web UI at / (to browsers) and /ui/ (env FRAMEWISE_UI)")
	var ignoredConfig string
	fs.StringVar(&ignoredConfig, "config", c.ConfigFile, "YAML configuration file; flags and env override it (env FRAMEWISE_CONFIG)")
	fs.StringVar(&vlm.BaseURL, "vlm-url", vlm.BaseURL, "OpenAI-compatible base URL of a vision-language model serving both model names, e.g. http://127.0.0.1:11434/v1 (env FRAMEWISE_VLM_URL)")
	fs.StringVar(&vlm.Model, "vlm-model", vlm.Model, "model name at that server, e.g. qwen2.5vl:7b (env FRAMEWISE_VLM_MODEL)")
	fs.StringVar(&vlm.APIKey, "vlm-api-key", vlm.APIKey, "API key of that server (env FRAMEWISE_VLM_API_KEY)")
	fs.StringVar(&vlm.Name, "vlm-name", vlm.Name, "a name for that backend in logs and errors (env FRAMEWISE_VLM_NAME)")
	fs.IntVar(&vlm.MaxParallel, "vlm-max-parallel", 0, "most concurrent calls to that server (default 4)")
	fs.IntVar(&vlm.ContextTokens, "vlm-context-tokens", 0, "that model's context window in tokens (default: what the server reports, else 32768); every call is sized to fit it")
	fs.StringVar(&asr.BaseURL, "asr-url", asr.BaseURL, "OpenAI-compatible base URL of a speech-to-text server (env FRAMEWISE_ASR_URL)")
	fs.StringVar(&asr.Model, "asr-model", asr.Model, "speech model name, e.g. whisper-1 (env FRAMEWISE_ASR_MODEL)")
	fs.StringVar(&asr.APIKey, "asr-api-key", asr.APIKey, "API key of the speech server (env FRAMEWISE_ASR_API_KEY)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if vlm.BaseURL != "" || vlm.Model != "" {
		vlm.Backend = "openai"
		for _, m := range []string{"pegasus1.2", "pegasus1.5"} {
			c.Models[m] = vlm
		}
	}
	if asr.BaseURL != "" {
		c.ASR = &asr
	}
	for _, m := range []string{"pegasus1.2", "pegasus1.5"} {
		c.Models[m] = c.Models[m].withDefaults()
	}
	if c.ASR != nil {
		if c.ASR.Name == "" {
			c.ASR.Name = hostOf(c.ASR.BaseURL)
		}
		if c.ASR.MaxParallel <= 0 {
			c.ASR.MaxParallel = 2
		}
		if c.ASR.Timeout <= 0 {
			c.ASR.Timeout = 5 * time.Minute
		}
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if len(keys) > 0 {
		c.APIKeys = keys
	}
	if len(adminKeys) > 0 {
		c.AdminKeys = adminKeys
	}
	return c, c.Validate()
}

func (c *Config) fromEnv(getenv func(string) string) error {
	str := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	str("FRAMEWISE_ADDR", &c.Addr)
	str("FRAMEWISE_DATA_DIR", &c.DataDir)
	str("FRAMEWISE_DATABASE_URL", &c.DatabaseURL)
	str("FRAMEWISE_ROLE", &c.Role)
	str("FRAMEWISE_LOG_LEVEL", &c.LogLevel)
	str("FRAMEWISE_LOG_FORMAT", &c.LogFormat)
	str("FRAMEWISE_DEFAULT_MODEL", &c.DefaultModel)
	str("FRAMEWISE_PUBLIC_URL", &c.PublicURL)
	if v := getenv("FRAMEWISE_API_KEYS"); v != "" {
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				c.APIKeys = append(c.APIKeys, k)
			}
		}
	}
	// FRAMEWISE_ADMIN_KEY holds one key (as the CLI reads it), and
	// FRAMEWISE_ADMIN_KEYS a comma-separated list; both are accepted.
	if v := strings.TrimSpace(getenv("FRAMEWISE_ADMIN_KEY")); v != "" {
		c.AdminKeys = append(c.AdminKeys, v)
	}
	if v := getenv("FRAMEWISE_ADMIN_KEYS"); v != "" {
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" && !slices.Contains(c.AdminKeys, k) {
				c.AdminKeys = append(c.AdminKeys, k)
			}
		}
	}
	var errs []error
	if v := getenv("FRAMEWISE_ALLOW_PRIVATE_URLS"); v != "" {
		b, err := strconv.ParseBool(v)
		errs = append(errs, wrapEnv("FRAMEWISE_ALLOW_PRIVATE_URLS", err))
		c.AllowPrivateURLs = b
	}
	if v := getenv("FRAMEWISE_UI"); v != "" {
		b, err := strconv.ParseBool(v)
		errs = append(errs, wrapEnv("FRAMEWISE_UI", err))
		c.UI = b
	}
	if v := getenv("FRAMEWISE_MIGRATE"); v != "" {
		b, err := strconv.ParseBool(v)
		errs = append(errs, wrapEnv("FRAMEWISE_MIGRATE", err))
		c.Migrate = b
	}
	if v := getenv("FRAMEWISE_WORKERS"); v != "" {
		n, err := strconv.Atoi(v)
		errs = append(errs, wrapEnv("FRAMEWISE_WORKERS", err))
		c.Workers = n
	}
	if v := getenv("FRAMEWISE_RATE_LIMIT"); v != "" {
		n, err := strconv.Atoi(v)
		errs = append(errs, wrapEnv("FRAMEWISE_RATE_LIMIT", err))
		c.RateLimit = n
	}
	if v := getenv("FRAMEWISE_QUOTA_ACTIVE_TASKS"); v != "" {
		n, err := strconv.Atoi(v)
		errs = append(errs, wrapEnv("FRAMEWISE_QUOTA_ACTIVE_TASKS", err))
		c.QuotaActiveTasks = n
	}
	if v := getenv("FRAMEWISE_QUOTA_VIDEO_HOURS"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		errs = append(errs, wrapEnv("FRAMEWISE_QUOTA_VIDEO_HOURS", err))
		c.QuotaVideoHours = f
	}
	if v := getenv("FRAMEWISE_SYNC_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		errs = append(errs, wrapEnv("FRAMEWISE_SYNC_CONCURRENCY", err))
		c.SyncConcurrency = n
	}
	if v := getenv("FRAMEWISE_STREAM_HEARTBEAT"); v != "" {
		d, err := time.ParseDuration(v)
		errs = append(errs, wrapEnv("FRAMEWISE_STREAM_HEARTBEAT", err))
		c.StreamHeartbeat = d
	}
	if v := getenv("FRAMEWISE_MAX_CONCURRENT_CREATES"); v != "" {
		n, err := strconv.Atoi(v)
		errs = append(errs, wrapEnv("FRAMEWISE_MAX_CONCURRENT_CREATES", err))
		c.MaxConcurrentCreates = n
	}
	for name, d := range map[string]*time.Duration{"FRAMEWISE_BATCH_EXPIRY": &c.BatchExpiry, "FRAMEWISE_BATCH_RETENTION": &c.BatchRetention} {
		if v := getenv(name); v != "" {
			var err error
			*d, err = time.ParseDuration(v)
			errs = append(errs, wrapEnv(name, err))
		}
	}
	if v := getenv("FRAMEWISE_CREATE_QUEUE_WAIT"); v != "" {
		d, err := time.ParseDuration(v)
		errs = append(errs, wrapEnv("FRAMEWISE_CREATE_QUEUE_WAIT", err))
		c.CreateQueueWait = d
	}
	if v := getenv("FRAMEWISE_MAX_VIDEO_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		errs = append(errs, wrapEnv("FRAMEWISE_MAX_VIDEO_BYTES", err))
		c.MaxVideoBytes = n
	}
	errs = append(errs, c.diskEnv(getenv))
	c.blobEnv(getenv)
	return errors.Join(errs...)
}

func wrapEnv(name string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Validate checks the configuration as a whole.
func (c Config) Validate() error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", c.Addr, err)
	}
	if len(c.APIKeys) == 0 && !IsLoopback(host) {
		return fmt.Errorf("refusing to listen on %s without an API key: set --api-key or FRAMEWISE_API_KEYS, or listen on 127.0.0.1", c.Addr)
	}
	if c.Workers < 0 {
		return errors.New("--workers must be 0 or more")
	}
	switch c.Role {
	case RoleAll, RoleAPI:
	case RoleWorker:
		if c.Workers == 0 {
			return errors.New("--role worker needs --workers 1 or more")
		}
	default:
		return fmt.Errorf("--role %q: use all, api or worker", c.Role)
	}
	if c.Role != RoleAll && c.DatabaseURL == "" {
		return fmt.Errorf("--role %s needs --database-url: processes share work through PostgreSQL (SQLite is one process's)", c.Role)
	}
	if c.Role != RoleAll && c.BlobURL == "" {
		return fmt.Errorf("--role %s needs --blob-url: processes share media through an object store (s3://bucket?endpoint=…) or a shared folder (file:///mnt/shared); each process's data dir is its own", c.Role)
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return errors.New("--database-url must be a postgres:// or postgresql:// URL (SQLite is the default, in the data dir)")
	}
	if err := validateBlobURL(c.BlobURL); err != nil {
		return err
	}
	if c.StreamHeartbeat < 100*time.Millisecond {
		return errors.New("--stream-heartbeat must be at least 100ms")
	}
	if c.SyncConcurrency < 1 {
		return errors.New("--sync-concurrency must be 1 or more")
	}
	if c.MaxConcurrentCreates < 0 {
		return errors.New("--max-concurrent-creates must be 0 (the default) or more")
	}
	if c.RateLimit < 0 {
		return errors.New("--rate-limit must be 0 (no limit) or more")
	}
	if c.BatchExpiry <= 0 || c.BatchRetention <= 0 {
		return errors.New("--batch-expiry and --batch-retention must be positive, e.g. 24h and 720h")
	}
	if c.WebhookBackoff <= 0 {
		return errors.New("--webhook-backoff must be positive, e.g. 1m")
	}
	if c.QuotaActiveTasks < 0 || c.QuotaVideoHours < 0 || math.IsNaN(c.QuotaVideoHours) || math.IsInf(c.QuotaVideoHours, 0) {
		return errors.New("--quota-active-tasks and --quota-video-hours must be 0 (no quota) or more")
	}
	if c.DefaultModel != "pegasus1.2" && c.DefaultModel != "pegasus1.5" {
		return fmt.Errorf("--default-model %q: use pegasus1.2 or pegasus1.5", c.DefaultModel)
	}
	if c.MaxSegmentDefinitions < 1 || c.MaxEnumValues < 1 || c.MaxTokensP15 < 2048 {
		return errors.New("limits must be positive, and --limit-max-tokens at least 2048")
	}
	for name, p := range c.Models {
		if err := p.validate(name); err != nil {
			return err
		}
	}
	if c.ASR != nil && (c.ASR.BaseURL == "" || c.ASR.Model == "") {
		return errors.New("asr: needs base_url and model")
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			return fmt.Errorf("--public-url %q: want an http(s) URL such as https://fw.example.com", c.PublicURL)
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("--log-format %q: use text or json", c.LogFormat)
	}
	return nil
}

// IsLoopback reports whether host is a loopback name or address. An empty
// host (listen on every interface) is not.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
