package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// Dialect names the database behind a DB.
type Dialect string

// The two databases framewise runs on.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// The store's SQL is written once, with ? placeholders, for both
// databases. Pool and Tx rewrite them to $1, $2, … (rebind) on the way
// out: PostgreSQL takes only those, and SQLite takes them too, so both get
// the same text.

// Pool is a connection pool whose queries are written with ?.
type Pool struct {
	*sql.DB
	// lockWrites: each transaction first takes the PostgreSQL advisory
	// lock writeLock, so that the store's read-then-write transactions
	// (quotas, an asset and the tasks that use it, upload sessions) keep
	// the one-at-a-time order SQLite gives them. The job queue's own
	// transactions do not take it.
	lockWrites bool
}

// ExecContext runs query with ? placeholders.
func (p Pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.DB.ExecContext(ctx, rebind(query), args...)
}

// QueryContext runs query with ? placeholders.
func (p Pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return p.DB.QueryContext(ctx, rebind(query), args...)
}

// QueryRowContext runs query with ? placeholders.
func (p Pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return p.DB.QueryRowContext(ctx, rebind(query), args...)
}

// PrepareContext prepares query with ? placeholders.
func (p Pool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return p.DB.PrepareContext(ctx, rebind(query))
}

// BeginTx starts a transaction whose queries are written with ?.
func (p Pool) BeginTx(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	tx, err := p.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	if p.lockWrites {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, writeLock); err != nil {
			tx.Rollback()
			return nil, err
		}
	}
	return &Tx{tx}, nil
}

// Tx is a transaction whose queries are written with ?. Its *sql.Tx is
// what the job queue inserts into, so that a row and its job commit
// together.
type Tx struct{ *sql.Tx }

// ExecContext runs query with ? placeholders.
func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, rebind(query), args...)
}

// QueryContext runs query with ? placeholders.
func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, rebind(query), args...)
}

// QueryRowContext runs query with ? placeholders.
func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, rebind(query), args...)
}

// rebind numbers the ? placeholders of query: $1, $2, … It leaves quoted
// strings and identifiers alone.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// sqlBool is a flag as the INTEGER 0 or 1 that both databases store
// (PostgreSQL does not turn a bool parameter into an integer by itself).
func sqlBool(b bool) int {
	if b {
		return 1
	}
	return 0
}
