package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/framewise/framewise/internal/app"
	"github.com/framewise/framewise/internal/config"
	"github.com/framewise/framewise/internal/redact"
	"github.com/framewise/framewise/internal/store"
)

// runServe runs the server until ctx is done.
func runServe(ctx context.Context, args []string, env Env) error {
	cfg, err := config.ParseServe(args, env.Getenv, env.Stderr)
	if err != nil {
		return err
	}
	log, err := serverLog(cfg, env)
	if err != nil {
		return err
	}
	return app.Serve(ctx, cfg, log, nil)
}

// runMigrate applies the database migrations and exits: run it once
// before starting (or upgrading) many processes on one PostgreSQL.
func runMigrate(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	url := fs.String("database-url", env.Getenv("FRAMEWISE_DATABASE_URL"), "postgres:// URL of the database, or a SQLite file path (env FRAMEWISE_DATABASE_URL)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *url == "" {
		return usageError{"migrate: --database-url (or FRAMEWISE_DATABASE_URL) is required"}
	}
	log, err := serverLog(config.Default(), env)
	if err != nil {
		return err
	}
	if err := app.Migrate(ctx, *url, log); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "migrated:", store.Redact(*url))
	return nil
}

// serverLog is the logger of the server's commands: cfg's level and
// format, on stderr, with URLs redacted.
func serverLog(cfg config.Config, env Env) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel))); err != nil {
		return nil, usageError{"--log-level: use debug, info, warn or error"}
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(env.Stderr, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(env.Stderr, opts)
	}
	// Every record, River's and net/http's too, is logged with URLs
	// redacted (no query, fragment or user:password@).
	return slog.New(redact.Handler(h)), nil
}
