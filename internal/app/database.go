package app

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/framewise/framewise/internal/asset"
	"github.com/framewise/framewise/internal/config"
	"github.com/framewise/framewise/internal/queue"
	"github.com/framewise/framewise/internal/store"
)

// openDatabase opens the configured database: SQLite in the data dir
// (migrated at every start: one process owns it), or PostgreSQL
// (migrated only with --migrate, so that many processes starting at once
// never race to change the schema).
func openDatabase(ctx context.Context, cfg config.Config, log *slog.Logger) (*store.DB, error) {
	if cfg.DatabaseURL == "" {
		return store.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "framewise.db"))
	}
	db, err := store.OpenPostgres(ctx, cfg.DatabaseURL, cfg.Migrate)
	if err != nil {
		return nil, err
	}
	if cfg.Migrate {
		if err := queue.Migrate(ctx, db, log); err != nil {
			db.Close()
			return nil, err
		}
	}
	log.Info("database: PostgreSQL", "url", store.Redact(cfg.DatabaseURL), "migrated_at_start", cfg.Migrate)
	return db, nil
}

// Migrate applies the migrations of framewise and of its job queue to the
// database at url (framewise migrate).
func Migrate(ctx context.Context, url string, log *slog.Logger) error {
	db, err := store.Open(ctx, url, true)
	if err != nil {
		return err
	}
	defer db.Close()
	return queue.Migrate(ctx, db, log)
}

// uploadSecret is the key that signs presigned upload URLs: on PostgreSQL
// one for all processes, kept in the database; on SQLite the file
// <data dir>/secret (created 0600 on first start).
func uploadSecret(ctx context.Context, cfg config.Config, db *store.DB) ([]byte, error) {
	if db.Dialect == store.Postgres {
		return db.Secret(ctx, "upload_signing_key", 32)
	}
	return asset.LoadSecret(filepath.Join(cfg.DataDir, "secret"))
}
