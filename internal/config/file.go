package config

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ModelProfile says which engine serves a model name and how to reach it.
type ModelProfile struct {
	// Backend is "builtin" (measure the video, no model) or "openai" (any
	// server of the OpenAI chat-completions protocol).
	Backend string `yaml:"backend"`
	// Name identifies the backend in logs and error messages, e.g. "ollama".
	Name    string `yaml:"name"`
	BaseURL string `yaml:"base_url"`
	Model   string `yaml:"model"`
	APIKey  string `yaml:"api_key"`
	// MaxParallel bounds concurrent calls to this backend.
	MaxParallel int `yaml:"max_parallel"`
	// Timeout bounds one call.
	Timeout time.Duration `yaml:"timeout"`
	// FramesPerCall is the frame budget of one call.
	FramesPerCall int `yaml:"frames_per_call"`
	// FrameWidth is the width in pixels of the frames sent.
	FrameWidth int `yaml:"frame_width"`
	// ContextTokens is the model's context window. 0 (the default) takes
	// what the server reports when probed (vLLM max_model_len, llama.cpp
	// n_ctx, Ollama num_ctx), else 32768. Every call is sized to fit it.
	ContextTokens int `yaml:"context_tokens"`
	MaxRetries    int `yaml:"max_retries"`
}

// ASRProfile is an OpenAI-compatible /audio/transcriptions server.
type ASRProfile struct {
	Name        string        `yaml:"name"`
	BaseURL     string        `yaml:"base_url"`
	Model       string        `yaml:"model"`
	APIKey      string        `yaml:"api_key"`
	MaxParallel int           `yaml:"max_parallel"`
	Timeout     time.Duration `yaml:"timeout"`
}

// withDefaults fills unset profile fields.
func (p ModelProfile) withDefaults() ModelProfile {
	if p.Backend == "" {
		p.Backend = "builtin"
		if p.BaseURL != "" {
			p.Backend = "openai"
		}
	}
	if p.Backend == "openai" {
		if p.Name == "" {
			p.Name = hostOf(p.BaseURL)
		}
		if p.MaxParallel <= 0 {
			p.MaxParallel = 4
		}
		if p.Timeout <= 0 {
			p.Timeout = 5 * time.Minute
		}
		if p.FramesPerCall <= 0 {
			p.FramesPerCall = 16
		}
		if p.FrameWidth <= 0 {
			p.FrameWidth = 512
		}
		if p.MaxRetries <= 0 {
			p.MaxRetries = 4
		}
	}
	return p
}

func (p ModelProfile) validate(name string) error {
	switch p.Backend {
	case "builtin":
		return nil
	case "openai":
		if p.BaseURL == "" || p.Model == "" {
			return fmt.Errorf("model %s: backend openai needs base_url and model", name)
		}
		return nil
	}
	return fmt.Errorf("model %s: backend %q: use builtin or openai", name, p.Backend)
}

func hostOf(u string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	return s
}

// fileConfig is the YAML form of the configuration file. Unset keys keep
// the defaults; environment variables and flags override it.
type fileConfig struct {
	Addr             *string                 `yaml:"addr"`
	DataDir          *string                 `yaml:"data_dir"`
	APIKeys          []string                `yaml:"api_keys"`
	AdminKeys        []string                `yaml:"admin_keys"`
	AllowPrivateURLs *bool                   `yaml:"allow_private_urls"`
	Workers          *int                    `yaml:"workers"`
	SyncConcurrency  *int                    `yaml:"sync_concurrency"`
	StreamHeartbeat  *time.Duration          `yaml:"stream_heartbeat"`
	LogLevel         *string                 `yaml:"log_level"`
	LogFormat        *string                 `yaml:"log_format"`
	MaxVideoBytes    *int64                  `yaml:"max_video_bytes"`
	ShutdownTimeout  *time.Duration          `yaml:"shutdown_timeout"`
	WebhookBackoff   *time.Duration          `yaml:"webhook_backoff"`
	BatchExpiry      *time.Duration          `yaml:"batch_expiry"`
	BatchRetention   *time.Duration          `yaml:"batch_retention"`
	RateLimit        *int                    `yaml:"rate_limit"`
	Quotas           *fileQuotas             `yaml:"quotas"`
	DefaultModel     *string                 `yaml:"default_model"`
	Limits           *fileLimits             `yaml:"limits"`
	Models           map[string]ModelProfile `yaml:"models"`
	ASR              *ASRProfile             `yaml:"asr"`
	MinFreeDisk      *string                 `yaml:"min_free_disk"`
	StorageQuota     *string                 `yaml:"storage_quota"`
	BlobURL          *string                 `yaml:"blob_url"`
	DatabaseURL      *string                 `yaml:"database_url"`
	Migrate          *bool                   `yaml:"migrate"`
	Role             *string                 `yaml:"role"`
}

type fileQuotas struct {
	ActiveTasks *int     `yaml:"active_tasks"`
	VideoHours  *float64 `yaml:"video_hours_per_day"`
}

type fileLimits struct {
	SegmentDefinitions *int `yaml:"segment_definitions"`
	EnumValues         *int `yaml:"enum_values"`
	MaxTokens          *int `yaml:"max_tokens"`
}

// loadFile applies a YAML configuration file. ${VAR} in it is replaced by
// the environment variable VAR, so keys need not be written in the file.
func (c *Config) loadFile(path string, getenv func(string) string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	expanded := os.Expand(string(raw), getenv)
	var f fileConfig
	dec := yaml.NewDecoder(bytes.NewReader([]byte(expanded)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && err.Error() != "EOF" {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&c.Addr, f.Addr)
	set(&c.DataDir, f.DataDir)
	set(&c.LogLevel, f.LogLevel)
	set(&c.LogFormat, f.LogFormat)
	set(&c.DefaultModel, f.DefaultModel)
	set(&c.BlobURL, f.BlobURL)
	set(&c.DatabaseURL, f.DatabaseURL)
	set(&c.Role, f.Role)
	if f.Migrate != nil {
		c.Migrate = *f.Migrate
	}
	if len(f.APIKeys) > 0 {
		c.APIKeys = f.APIKeys
	}
	if len(f.AdminKeys) > 0 {
		c.AdminKeys = f.AdminKeys
	}
	if f.AllowPrivateURLs != nil {
		c.AllowPrivateURLs = *f.AllowPrivateURLs
	}
	if f.Workers != nil {
		c.Workers = *f.Workers
	}
	if f.SyncConcurrency != nil {
		c.SyncConcurrency = *f.SyncConcurrency
	}
	if f.StreamHeartbeat != nil {
		c.StreamHeartbeat = *f.StreamHeartbeat
	}
	if f.MaxVideoBytes != nil {
		c.MaxVideoBytes = *f.MaxVideoBytes
	}
	if f.ShutdownTimeout != nil {
		c.ShutdownTimeout = *f.ShutdownTimeout
	}
	if f.WebhookBackoff != nil {
		c.WebhookBackoff = *f.WebhookBackoff
	}
	if f.BatchExpiry != nil {
		c.BatchExpiry = *f.BatchExpiry
	}
	if f.BatchRetention != nil {
		c.BatchRetention = *f.BatchRetention
	}
	if q := f.Quotas; q != nil && q.ActiveTasks != nil {
		c.QuotaActiveTasks = *q.ActiveTasks
	}
	if q := f.Quotas; q != nil && q.VideoHours != nil {
		c.QuotaVideoHours = *q.VideoHours
	}
	if f.RateLimit != nil {
		c.RateLimit = *f.RateLimit
	}
	if f.MinFreeDisk != nil {
		if err := c.MinFreeDisk.Set(*f.MinFreeDisk); err != nil {
			return fmt.Errorf("config file %s: min_free_disk %w", path, err)
		}
	}
	if f.StorageQuota != nil {
		if err := (&quotaFlag{&c.StorageQuota}).Set(*f.StorageQuota); err != nil {
			return fmt.Errorf("config file %s: storage_quota %w", path, err)
		}
	}
	if l := f.Limits; l != nil {
		if l.SegmentDefinitions != nil {
			c.MaxSegmentDefinitions = *l.SegmentDefinitions
		}
		if l.EnumValues != nil {
			c.MaxEnumValues = *l.EnumValues
		}
		if l.MaxTokens != nil {
			c.MaxTokensP15 = *l.MaxTokens
		}
	}
	for name, p := range f.Models {
		if name != "pegasus1.2" && name != "pegasus1.5" {
			return fmt.Errorf("config file %s: models: unknown model name %q (use pegasus1.2 or pegasus1.5)", path, name)
		}
		c.Models[name] = p
	}
	if f.ASR != nil {
		c.ASR = f.ASR
	}
	return nil
}

// configPath finds --config in args (before flags are parsed, since the
// file's values sit below the flags), else FRAMEWISE_CONFIG.
func configPath(args []string, getenv func(string) string) string {
	for i, a := range args {
		for _, name := range []string{"-config", "--config"} {
			if a == name && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, name+"="); ok {
				return v
			}
		}
	}
	return getenv("FRAMEWISE_CONFIG")
}
