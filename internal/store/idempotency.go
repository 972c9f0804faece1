package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/framewise/framewise/internal/account"
	"github.com/framewise/framewise/internal/task"
)

// LookupKey returns the idempotency record of scope and key created at or
// after since, or nil.
func (s *Tasks) LookupKey(ctx context.Context, scope, key string, since time.Time) (*task.KeyRecord, error) {
	return lookupKey(ctx, s.db.Reader, scope, key, since)
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func lookupKey(ctx context.Context, q queryer, scope, key string, since time.Time) (*task.KeyRecord, error) {
	var rec task.KeyRecord
	var created int64
	err := q.QueryRowContext(ctx, `SELECT task_id, body_sha256, created_at FROM idempotency_keys
		WHERE scope = ? AND key = ? AND created_at >= ? AND `+ownedBy, scope, key, since.UnixMicro(), owner(ctx)).Scan(&rec.TaskID, &rec.BodySHA256, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up idempotency key: %w", err)
	}
	rec.CreatedAt = time.UnixMicro(created).UTC()
	return &rec, nil
}

// CreateWithKey inserts the task, its job and the idempotency record (the
// task's id and creation time, the body's hash) in one transaction, after
// dropping records older than since. When an unexpired record of scope and
// key exists, it writes nothing and returns it.
func (s *Tasks) CreateWithKey(ctx context.Context, t *task.Task, scope, key, bodySHA256 string, since time.Time) (*task.KeyRecord, error) {
	var existing *task.KeyRecord
	err := s.create(ctx, t, func(tx *Tx) (bool, error) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`, since.UnixMicro()); err != nil {
			return false, fmt.Errorf("expire idempotency keys: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (scope, key, task_id, body_sha256, created_at, account_id)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (scope, key) DO NOTHING`, scope, key, t.ID, bodySHA256, t.CreatedAt.UnixMicro(), account.Owner(ctx))
		if err != nil {
			return false, fmt.Errorf("store idempotency key: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err == nil, err
		}
		existing, err = lookupKey(ctx, tx, scope, key, since)
		if err == nil && existing == nil {
			err = errors.New("store idempotency key: conflicting record vanished")
		}
		return false, err
	})
	return existing, err
}
