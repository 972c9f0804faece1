package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/framewise/framewise/internal/account"
	"github.com/framewise/framewise/internal/task"
)

// BatchEnqueuer inserts the jobs of a new batch's items inside the
// transaction that writes the batch and its tasks.
type BatchEnqueuer func(ctx context.Context, tx *sql.Tx, batchID string, taskIDs []string) error

// SetBatchEnqueuer sets how the jobs of batch items are inserted; call it
// before use. Without one, batch items get no jobs.
func (s *Tasks) SetBatchEnqueuer(e BatchEnqueuer) { s.batchEnqueue = e }

// activeBatchesRetry is the Retry-After of a batch refused because its
// account has too many unfinished batches: a short poll.
const activeBatchesRetry = 60

const batchColumns = `id, model, mode, total_items, created_at, expires_at, canceled_at, expired_at, finished_at`

func scanBatch(s interface{ Scan(...any) error }) (*task.Batch, error) {
	var b task.Batch
	var created, expires int64
	var canceled, expired, finished sql.NullInt64
	if err := s.Scan(&b.ID, &b.Model, &b.Mode, &b.Total, &created, &expires, &canceled, &expired, &finished); err != nil {
		return nil, err
	}
	b.CreatedAt, b.ExpiresAt = time.UnixMicro(created).UTC(), time.UnixMicro(expires).UTC()
	b.CanceledAt, b.ExpiredAt, b.FinishedAt = microTime(canceled), microTime(expired), microTime(finished)
	return &b, nil
}

func microTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMicro(v.Int64).UTC()
	return &t
}

// CreateBatch writes the batch, its items' tasks and their jobs in one
// transaction. It implements task.BatchStore.
func (s *Tasks) CreateBatch(ctx context.Context, b *task.Batch, items []*task.Task, maxActive int) error {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create batch: %w", err)
	}
	defer tx.Rollback()
	owner := account.Owner(ctx)
	if maxActive > 0 {
		var active int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM batches WHERE account_id = ? AND finished_at IS NULL`, owner).Scan(&active); err != nil {
			return fmt.Errorf("create batch: %w", err)
		}
		if active >= maxActive {
			return &task.BusyError{Status: 429, Code: "too_many_requests", RetryAfter: activeBatchesRetry,
				Message: fmt.Sprintf("Your account has %d batches not finished, the most it may have at once. Retry after %d seconds, or once one of them is completed or canceled.", active, activeBatchesRetry)}
		}
	}
	// The video quota counts the whole batch at once; each item's
	// duration is recorded as its task's.
	if limit := s.quotas.VideoPerDay.Seconds(); limit > 0 {
		var total float64
		for _, t := range items {
			if t.Duration != nil {
				total += *t.Duration
			}
		}
		if err := s.checkVideoQuota(ctx, tx, owner, &task.Task{CreatedAt: b.CreatedAt, Duration: &total}, limit); err != nil {
			return err
		}
	}
	// The assets must still exist (see Tasks.create): checked once each.
	checked := map[string]bool{}
	for _, t := range items {
		for _, ref := range t.Spec.AssetRefs() {
			if checked[ref.ID] {
				continue
			}
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM assets WHERE id = ? AND account_id = ?`, ref.ID, owner).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return &task.AssetGoneError{ID: ref.ID}
			}
			if err != nil {
				return fmt.Errorf("create batch: check asset %s: %w", ref.ID, err)
			}
			checked[ref.ID] = true
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO batches (id, account_id, model, mode, total_items, created_at, expires_at) VALUES (?,?,?,?,?,?,?)`,
		b.ID, owner, b.Model, b.Mode, b.Total, b.CreatedAt.UnixMicro(), b.ExpiresAt.UnixMicro()); err != nil {
		return fmt.Errorf("create batch: %w", err)
	}
	ids := make([]string, len(items))
	for i, t := range items {
		args, err := taskArgs(t)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO tasks (`+taskColumns+`, account_id, batch_id, batch_pos) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			append(args, owner, b.ID, i)...); err != nil {
			return fmt.Errorf("create batch: item %d: %w", i, err)
		}
		if t.Duration != nil {
			if err := recordUsage(ctx, tx, t.ID, owner, *t.Duration, b.CreatedAt); err != nil {
				return err
			}
		}
		ids[i] = t.ID
	}
	if s.batchEnqueue != nil {
		if err := s.batchEnqueue(ctx, tx.Tx, b.ID, ids); err != nil {
			return fmt.Errorf("enqueue batch %s: %w", b.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create batch: %w", err)
	}
	return nil
}

// rowsQueryer is a pool or a transaction.
type rowsQueryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// countItems fills in the item counts of batches, and the deliveries of
// their notifications: two queries for the whole page.
func countItems(ctx context.Context, q rowsQueryer, batches ...*task.Batch) error {
	if len(batches) == 0 {
		return nil
	}
	byID := make(map[string]*task.Batch, len(batches))
	ids := make([]any, 0, len(batches))
	for _, b := range batches {
		b.Counts, b.Webhooks = task.BatchCounts{}, nil
		byID[b.ID] = b
		ids = append(ids, b.ID)
	}
	in := `(` + placeholders(len(ids)) + `)`
	err := eachRow(ctx, q, `SELECT batch_id, status, error_message, count(*) FROM tasks WHERE batch_id IN `+in+`
		GROUP BY batch_id, status, error_message`, ids, func(rows *sql.Rows) error {
		var id, st string
		var msg sql.NullString
		var n int
		if err := rows.Scan(&id, &st, &msg, &n); err != nil {
			return err
		}
		byID[id].Counts.Add(task.ItemStatus(task.Status(st), msg.String), n)
		return nil
	})
	if err != nil {
		return fmt.Errorf("count batch items: %w", err)
	}
	err = eachRow(ctx, q, `SELECT batch_id, url, delivered, attempts, last_error FROM batch_webhook_deliveries
		WHERE batch_id IN `+in+` ORDER BY created_at, endpoint_id`, ids, func(rows *sql.Rows) error {
		var id string
		var ws task.WebhookStatus
		var lastErr sql.NullString
		if err := rows.Scan(&id, &ws.URL, &ws.Delivered, &ws.Attempts, &lastErr); err != nil {
			return err
		}
		if !ws.Delivered {
			ws.LastError = lastErr.String
		}
		byID[id].Webhooks = append(byID[id].Webhooks, ws)
		return nil
	})
	if err != nil {
		return fmt.Errorf("batch webhooks: %w", err)
	}
	return nil
}

// eachRow runs query and calls scan on each row.
func eachRow(ctx context.Context, q rowsQueryer, query string, args []any, scan func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// GetBatch returns one batch with its item counts, or task.ErrBatchNotFound.
func (s *Tasks) GetBatch(ctx context.Context, id string) (*task.Batch, error) {
	b, err := scanBatch(s.db.Reader.QueryRowContext(ctx, `SELECT `+batchColumns+` FROM batches WHERE id = ? AND `+ownedBy, id, owner(ctx)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, task.ErrBatchNotFound
	}
	if err != nil {
		return nil, err
	}
	return b, countItems(ctx, s.db.Reader, b)
}

// batchStatusCond selects the batches of each status, as task.Batch.Status
// derives it.
var batchStatusCond = map[string]string{
	task.BatchExpired:    `expired_at IS NOT NULL`,
	task.BatchCanceled:   `expired_at IS NULL AND canceled_at IS NOT NULL AND finished_at IS NOT NULL`,
	task.BatchCanceling:  `expired_at IS NULL AND canceled_at IS NOT NULL AND finished_at IS NULL`,
	task.BatchCompleted:  `expired_at IS NULL AND canceled_at IS NULL AND finished_at IS NOT NULL`,
	task.BatchProcessing: `expired_at IS NULL AND canceled_at IS NULL AND finished_at IS NULL AND ` + startedItem,
	task.BatchPending:    `expired_at IS NULL AND canceled_at IS NULL AND finished_at IS NULL AND NOT ` + startedItem,
}

const startedItem = `EXISTS (SELECT 1 FROM tasks WHERE tasks.batch_id = batches.id AND tasks.status IN ('processing', 'ready', 'failed'))`

// ListBatches returns one page of batches, newest first, and the number
// that match.
func (s *Tasks) ListBatches(ctx context.Context, f task.BatchFilter) ([]*task.Batch, int, error) {
	var where []string
	var args []any
	if name, ok := account.FromContext(ctx); ok {
		where, args = append(where, "account_id = ?"), append(args, name)
	}
	if len(f.Statuses) > 0 {
		var conds []string
		for _, st := range f.Statuses {
			conds = append(conds, "("+batchStatusCond[st]+")")
		}
		where = append(where, "("+strings.Join(conds, " OR ")+")")
	}
	if len(f.Modes) > 0 {
		where = append(where, "mode IN ("+placeholders(len(f.Modes))+")")
		for _, m := range f.Modes {
			args = append(args, m)
		}
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.Reader.QueryRowContext(ctx, `SELECT count(*) FROM batches`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list batches: %w", err)
	}
	limit := max(f.PageLimit, 1)
	offset := (max(f.Page, 1) - 1) * limit
	rows, err := s.db.Reader.QueryContext(ctx, `SELECT `+batchColumns+` FROM batches`+cond+
		` ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list batches: %w", err)
	}
	var out []*task.Batch
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			rows.Close()
			return nil, 0, err
		}
		out = append(out, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	return out, total, countItems(ctx, s.db.Reader, out...)
}

// BatchItems returns the tasks of a batch in request order.
func (s *Tasks) BatchItems(ctx context.Context, id string) ([]*task.Task, error) {
	rows, err := s.db.Reader.QueryContext(ctx, `SELECT `+taskColumns+` FROM tasks WHERE batch_id = ? AND `+ownedBy+` ORDER BY batch_pos`, id, owner(ctx))
	if err != nil {
		return nil, fmt.Errorf("batch items: %w", err)
	}
	defer rows.Close()
	var out []*task.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// lockBatch reads a batch and its counts inside a write transaction.
func lockBatch(ctx context.Context, tx *Tx, id string) (*task.Batch, error) {
	b, err := scanBatch(tx.QueryRowContext(ctx, `SELECT `+batchColumns+` FROM batches WHERE id = ? AND `+ownedBy, id, owner(ctx)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, task.ErrBatchNotFound
	}
	if err != nil {
		return nil, err
	}
	return b, countItems(ctx, tx, b)
}

// stopItems fails the items of a batch that have not started with msg.
func stopItems(ctx context.Context, tx *Tx, batchID, msg string, now time.Time) error {
	at := now.UnixMicro()
	_, err := tx.ExecContext(ctx, `UPDATE tasks SET status = 'failed', error_message = ?, completed_at = ?, updated_at = ?, stage = 'failed'
		WHERE batch_id = ? AND status IN ('queued', 'pending')`, msg, at, at, batchID)
	return err
}

// finishBatch marks a batch finished when none of its items is left to
// end; the statement does nothing for a task of no batch.
const finishBatch = `UPDATE batches SET finished_at = ? WHERE id = ? AND finished_at IS NULL
	AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.batch_id = batches.id AND tasks.status NOT IN ('ready', 'failed'))`

// BatchHook runs inside the transaction that ends a batch
// (Webhooks.BatchEnded inserts its notifications there).
type BatchHook func(ctx context.Context, tx *Tx, b *task.Batch) error

// OnBatchEnded sets the hook of ended batches; call it before use.
func (s *Tasks) OnBatchEnded(h BatchHook) { s.onBatchEnded = h }

// finish marks batch id finished at at when none of its items is left to
// end, and then runs the batch hook.
func (s *Tasks) finish(ctx context.Context, tx *Tx, id string, at time.Time) error {
	res, err := tx.ExecContext(ctx, finishBatch, at.UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("finish batch %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 || s.onBatchEnded == nil {
		return nil
	}
	b, err := lockBatch(ctx, tx, id)
	if err != nil {
		return err
	}
	return s.onBatchEnded(ctx, tx, b)
}

// itemEnded runs in the transaction that makes task id final: the last
// item of a batch to end finishes it.
func (s *Tasks) itemEnded(ctx context.Context, tx *Tx, id string, at time.Time) error {
	var batchID sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT batch_id FROM tasks WHERE id = ?`, id).Scan(&batchID); err != nil || !batchID.Valid {
		return err
	}
	return s.finish(ctx, tx, batchID.String, at)
}

// CancelBatch implements task.BatchStore.
func (s *Tasks) CancelBatch(ctx context.Context, id string, now time.Time, allow func(*task.Batch) error) (*task.Batch, error) {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("cancel batch: %w", err)
	}
	defer tx.Rollback()
	b, err := lockBatch(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if err := allow(b); err != nil {
		return b, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE batches SET canceled_at = ? WHERE id = ?`, now.UnixMicro(), id); err != nil {
		return nil, fmt.Errorf("cancel batch: %w", err)
	}
	if err := stopItems(ctx, tx, id, task.CanceledWithBatchMessage, now); err != nil {
		return nil, fmt.Errorf("cancel batch: %w", err)
	}
	if err := s.finish(ctx, tx, id, now); err != nil {
		return nil, fmt.Errorf("cancel batch: %w", err)
	}
	if b, err = lockBatch(ctx, tx, id); err != nil {
		return nil, err
	}
	return b, tx.Commit()
}

// DeleteBatch implements task.BatchStore.
func (s *Tasks) DeleteBatch(ctx context.Context, id string, allow func(*task.Batch) error) error {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete batch: %w", err)
	}
	defer tx.Rollback()
	b, err := lockBatch(ctx, tx, id)
	if err != nil {
		return err
	}
	if err := allow(b); err != nil {
		return err
	}
	if err := deleteBatch(ctx, tx, id); err != nil {
		return err
	}
	return tx.Commit()
}

func deleteBatch(ctx context.Context, tx *Tx, id string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM tasks WHERE batch_id = ?`, id); err != nil {
		return fmt.Errorf("delete batch %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM batches WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete batch %s: %w", id, err)
	}
	return nil
}

// selectIDs runs a query of one text column.
func selectIDs(ctx context.Context, tx *Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// ExpireBatches implements task.BatchStore. It works on every account's
// batches (the server's own work).
func (s *Tasks) ExpireBatches(ctx context.Context, now time.Time) ([]string, error) {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("expire batches: %w", err)
	}
	defer tx.Rollback()
	ids, err := selectIDs(ctx, tx, `SELECT id FROM batches WHERE expires_at <= ? AND expired_at IS NULL AND canceled_at IS NULL AND finished_at IS NULL`, now.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("expire batches: %w", err)
	}
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `UPDATE batches SET expired_at = ? WHERE id = ?`, now.UnixMicro(), id); err != nil {
			return nil, fmt.Errorf("expire batch %s: %w", id, err)
		}
		if err := stopItems(ctx, tx, id, task.ExpiredWithBatchMessage, now); err != nil {
			return nil, fmt.Errorf("expire batch %s: %w", id, err)
		}
		if err := s.finish(ctx, tx, id, now); err != nil {
			return nil, fmt.Errorf("expire batch %s: %w", id, err)
		}
	}
	return ids, tx.Commit()
}

// PurgeBatches implements task.BatchStore.
func (s *Tasks) PurgeBatches(ctx context.Context, before time.Time) (int, error) {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("purge batches: %w", err)
	}
	defer tx.Rollback()
	ids, err := selectIDs(ctx, tx, `SELECT id FROM batches WHERE finished_at IS NOT NULL AND finished_at < ?`, before.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("purge batches: %w", err)
	}
	for _, id := range ids {
		if err := deleteBatch(ctx, tx, id); err != nil {
			return 0, err
		}
	}
	return len(ids), tx.Commit()
}
