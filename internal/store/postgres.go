package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// Advisory lock keys (PostgreSQL): one for migrations, one that store
// transactions take so that writes keep the one-at-a-time order they have
// on SQLite (see Pool.BeginTx).
const (
	migrateLock int64 = 0x6677_6d69_6772 // "fwmigr"
	writeLock   int64 = 0x6677_7772_6974 // "fwwrit"
)

// DefaultPostgresConns is the size of a process's PostgreSQL pool unless
// the URL names pool_max_conns.
const DefaultPostgresConns = 10

// OpenPostgres connects to the PostgreSQL database at rawURL (a pgx
// connection string; pool_max_conns sets the pool's size). migrate says
// whether to apply missing migrations (framewise migrate, or serve
// --migrate); when false, a database that lacks some is an error wrapping
// ErrNotMigrated, so that many processes starting at once never race to
// change the schema.
func OpenPostgres(ctx context.Context, rawURL string, migrate bool) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", redactErr(err, rawURL))
	}
	if u, err := url.Parse(rawURL); err == nil && !u.Query().Has("pool_max_conns") {
		cfg.MaxConns = DefaultPostgresConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", redactErr(err, rawURL))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s: %w", Redact(rawURL), redactErr(err, rawURL))
	}
	sqlDB := stdlib.OpenDBFromPool(pool)
	p := Pool{DB: sqlDB, lockWrites: true}
	db := &DB{Dialect: Postgres, Writer: p, Reader: p, pgx: pool}
	if migrate {
		err = db.Migrate(ctx)
	} else {
		var pending []string
		if pending, err = db.Pending(ctx); err == nil && len(pending) > 0 {
			err = fmt.Errorf("%w: %d migrations to apply (first %s): run `framewise migrate`, or serve with --migrate", ErrNotMigrated, len(pending), pending[0])
		}
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// PgxPool is the PostgreSQL pool behind the database (nil on SQLite), for
// the job queue's LISTEN/NOTIFY.
func (db *DB) PgxPool() *pgxpool.Pool { return db.pgx }

// Redact returns a database URL without its password.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable database url)"
	}
	return u.Redacted()
}

// redactErr keeps a password in the URL out of an error's text.
func redactErr(err error, rawURL string) error {
	u, perr := url.Parse(rawURL)
	if perr != nil || u.User == nil {
		return err
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
	}
	return err
}

// Unavailable says whether err means the database could not be reached or
// went away (a restart, a network cut, too many connections), as opposed
// to a query's own failure or any other part's error (a full disk is not
// this): callers answer 503 and retry later.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P01-57P03: the server is
		// shutting down or starting; 53300: too many connections.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "53300"
	}
	var ce *pgconn.ConnectError
	var oe *net.OpError
	return errors.As(err, &ce) || errors.As(err, &oe) || errors.Is(err, driver.ErrBadConn) ||
		strings.Contains(err.Error(), "conn closed")
}
