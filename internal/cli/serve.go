package cli

import (
	"context"
	"log/slog"
	"strings"

	"github.com/framewise/framewise/internal/app"
	"github.com/framewise/framewise/internal/config"
	"github.com/framewise/framewise/internal/redact"
)

// runServe runs the server until ctx is done.
func runServe(ctx context.Context, args []string, env Env) error {
	cfg, err := config.ParseServe(args, env.Getenv, env.Stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel))); err != nil {
		return usageError{"--log-level: use debug, info, warn or error"}
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(env.Stderr, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(env.Stderr, opts)
	}
	// Every record, River's and net/http's too, is logged with URLs
	// redacted (no query, fragment or user:password@).
	return app.Serve(ctx, cfg, slog.New(redact.Handler(h)), nil)
}
