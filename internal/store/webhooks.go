package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/framewise/framewise/internal/account"
	"time"

	"github.com/framewise/framewise/internal/task"
	"github.com/framewise/framewise/internal/webhook"
)

// Webhooks keeps webhook endpoints and deliveries and implements
// webhook.Store. TaskEnded, set as the tasks' terminal hook, inserts a
// task's deliveries and their jobs in the transaction that ends the task.
type Webhooks struct {
	db      *DB
	enqueue Enqueuer // inserts the delivery job of a delivery id
	now     func() time.Time
}

// NewWebhooks returns the webhook store; enqueue inserts the job of one
// delivery (by id) inside a transaction.
func NewWebhooks(db *DB, enqueue Enqueuer) *Webhooks {
	return &Webhooks{db: db, enqueue: enqueue, now: time.Now}
}

var _ webhook.Store = (*Webhooks)(nil)

// taskAccount is the account of a task.
func taskAccount(ctx context.Context, q queryer, taskID string) (string, error) {
	var name string
	if err := q.QueryRowContext(ctx, `SELECT account_id FROM tasks WHERE id = ?`, taskID).Scan(&name); err != nil {
		return "", fmt.Errorf("the account of task %s: %w", taskID, err)
	}
	return name, nil
}

// TaskEnded runs inside the transaction that makes t ready or failed: one
// delivery and one job per enabled endpoint of the task's account.
func (w *Webhooks) TaskEnded(ctx context.Context, tx *Tx, t *task.Task) error {
	_, err := w.deliverN(ctx, tx, t, "")
	return err
}

// deliverN creates (or resets, for a redelivery) the deliveries of t to
// the enabled endpoints of its account, or to endpointID only, and
// enqueues their jobs. It returns how many.
func (w *Webhooks) deliverN(ctx context.Context, tx *Tx, t *task.Task, endpointID string) (int, error) {
	account, err := taskAccount(ctx, tx, t.ID)
	if err != nil {
		return 0, err
	}
	eps, err := endpointsOf(ctx, tx, account, endpointID)
	if err != nil {
		return 0, err
	}
	now := w.now().UTC()
	for _, e := range eps {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM webhook_deliveries WHERE task_id = ? AND endpoint_id = ?`, t.ID, e.id).Scan(&id)
		switch {
		case err == nil:
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET delivered = 0, updated_at = ? WHERE id = ?`,
				now.UnixMicro(), id); err != nil {
				return 0, fmt.Errorf("redeliver webhook: %w", err)
			}
		case errors.Is(err, sql.ErrNoRows):
			id = webhook.NewEventID()
			typ, body, err := webhook.Event(t, id, now)
			if err != nil {
				return 0, err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, task_id, endpoint_id, url, event, payload, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, t.ID, e.id, e.url, typ, body, now.UnixMicro(), now.UnixMicro()); err != nil {
				return 0, fmt.Errorf("insert webhook delivery: %w", err)
			}
		default:
			return 0, fmt.Errorf("webhook delivery: %w", err)
		}
		if err := w.enqueue(ctx, tx.Tx, id); err != nil {
			return 0, fmt.Errorf("enqueue webhook delivery %s: %w", id, err)
		}
	}
	return len(eps), nil
}

// endpoint is the id and URL of a webhook endpoint.
type endpoint struct{ id, url string }

// endpointsOf lists the enabled endpoints of account (only
// endpointID when set), oldest first.
func endpointsOf(ctx context.Context, tx *Tx, account, endpointID string) ([]endpoint, error) {
	q := `SELECT id, url FROM webhook_endpoints WHERE account_id = ? AND enabled = 1`
	args := []any{account}
	if endpointID != "" {
		q += ` AND id = ?`
		args = append(args, endpointID)
	}
	rows, err := tx.QueryContext(ctx, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("webhook endpoints: %w", err)
	}
	defer rows.Close()
	var eps []endpoint
	for rows.Next() {
		var e endpoint
		if err := rows.Scan(&e.id, &e.url); err != nil {
			return nil, err
		}
		eps = append(eps, e)
	}
	return eps, rows.Err()
}

// BatchEnded runs inside the transaction that ends batch b (its last item
// ended, or it was canceled or expired and nothing runs): one
// analyze.batch.completed delivery and one job per enabled endpoint of the
// batch's account.
func (w *Webhooks) BatchEnded(ctx context.Context, tx *Tx, b *task.Batch) error {
	var account string
	if err := tx.QueryRowContext(ctx, `SELECT account_id FROM batches WHERE id = ?`, b.ID).Scan(&account); err != nil {
		return fmt.Errorf("the account of batch %s: %w", b.ID, err)
	}
	eps, err := endpointsOf(ctx, tx, account, "")
	if err != nil {
		return err
	}
	now := w.now().UTC()
	for _, e := range eps {
		id := webhook.NewEventID()
		typ, body, err := webhook.BatchEvent(b, id, now)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO batch_webhook_deliveries (id, batch_id, endpoint_id, url, event, payload, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (batch_id, endpoint_id) DO NOTHING`, id, b.ID, e.id, e.url, typ, body, now.UnixMicro(), now.UnixMicro()); err != nil {
			return fmt.Errorf("insert batch webhook delivery: %w", err)
		}
		if err := w.enqueue(ctx, tx.Tx, id); err != nil {
			return fmt.Errorf("enqueue webhook delivery %s: %w", id, err)
		}
	}
	return nil
}

// Redeliver implements webhook.Store: the task must be ready or failed.
func (w *Webhooks) Redeliver(ctx context.Context, taskID, endpointID string) (int, error) {
	tx, err := w.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	t, err := scanTask(tx.QueryRowContext(ctx, `SELECT `+taskColumns+` FROM tasks WHERE id = ?`, taskID))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, task.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	if !t.Status.Terminal() {
		return 0, webhook.ErrNotFinished
	}
	if endpointID != "" {
		if _, err := w.Endpoint(ctx, endpointID); err != nil {
			return 0, err
		}
	}
	n, err := w.deliverN(ctx, tx, t, endpointID)
	if err != nil {
		return 0, err
	}
	return n, tx.Commit()
}

const endpointColumns = `id, account_id, url, secret, enabled, description, created_at`

func scanEndpoint(s interface{ Scan(...any) error }) (*webhook.Endpoint, error) {
	var e webhook.Endpoint
	var created int64
	if err := s.Scan(&e.ID, &e.AccountID, &e.URL, &e.Secret, &e.Enabled, &e.Description, &created); err != nil {
		return nil, err
	}
	e.CreatedAt = time.UnixMicro(created).UTC()
	return &e, nil
}

// CreateEndpoint implements webhook.Store.
// An endpoint of an account that does not exist is account.ErrNotFound.
func (w *Webhooks) CreateEndpoint(ctx context.Context, e *webhook.Endpoint) error {
	res, err := w.db.Writer.ExecContext(ctx, `INSERT INTO webhook_endpoints (`+endpointColumns+`)
		SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM accounts WHERE name = ?)`,
		e.ID, e.AccountID, e.URL, e.Secret, sqlBool(e.Enabled), e.Description, e.CreatedAt.UnixMicro(), e.AccountID)
	if err != nil {
		return fmt.Errorf("create webhook endpoint: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return account.ErrNotFound
	}
	return nil
}

// Endpoints implements webhook.Store.
func (w *Webhooks) Endpoints(ctx context.Context, account string) ([]webhook.Endpoint, error) {
	rows, err := w.db.Reader.QueryContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE account_id = ? ORDER BY created_at, id`, account)
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	defer rows.Close()
	out := []webhook.Endpoint{}
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *e)
	}
	return out, rows.Err()
}

// Endpoint implements webhook.Store.
func (w *Webhooks) Endpoint(ctx context.Context, id string) (*webhook.Endpoint, error) {
	e, err := scanEndpoint(w.db.Reader.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, webhook.ErrNotFound
	}
	return e, err
}

// DeleteEndpoint implements webhook.Store. Deliveries to it stay as the
// history of their tasks.
func (w *Webhooks) DeleteEndpoint(ctx context.Context, id string) error {
	res, err := w.db.Writer.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete webhook endpoint: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return webhook.ErrNotFound
	}
	return nil
}

// Delivery implements webhook.Store.
func (w *Webhooks) Delivery(ctx context.Context, id string) (*webhook.Delivery, *webhook.Endpoint, error) {
	var d webhook.Delivery
	var lastErr sql.NullString
	err := w.db.Reader.QueryRowContext(ctx, `SELECT id, task_id, endpoint_id, url, event, payload, delivered, attempts, last_error
		FROM webhook_deliveries WHERE id = ?`, id).Scan(&d.ID, &d.TaskID, &d.EndpointID, &d.URL, &d.Event, &d.Payload,
		&d.Delivered, &d.Attempts, &lastErr)
	if errors.Is(err, sql.ErrNoRows) { // a batch's event (batches.go)
		err = w.db.Reader.QueryRowContext(ctx, `SELECT id, endpoint_id, url, event, payload, delivered, attempts, last_error
			FROM batch_webhook_deliveries WHERE id = ?`, id).Scan(&d.ID, &d.EndpointID, &d.URL, &d.Event, &d.Payload,
			&d.Delivered, &d.Attempts, &lastErr)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, webhook.ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("webhook delivery: %w", err)
	}
	d.LastError = lastErr.String
	ep, err := w.Endpoint(ctx, d.EndpointID)
	if errors.Is(err, webhook.ErrNotFound) {
		return &d, nil, nil
	}
	return &d, ep, err
}

// RecordAttempt implements webhook.Store.
func (w *Webhooks) RecordAttempt(ctx context.Context, id string, delivered bool, lastError string) error {
	// A delivery is a task's or a batch's: the other table has no such id.
	for _, table := range []string{"webhook_deliveries", "batch_webhook_deliveries"} {
		res, err := w.db.Writer.ExecContext(ctx, `UPDATE `+table+` SET attempts = attempts + 1, delivered = ?,
			last_error = ?, updated_at = ? WHERE id = ?`, sqlBool(delivered), nullStr(lastError), w.now().UnixMicro(), id)
		if err != nil {
			return fmt.Errorf("record webhook attempt: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
	}
	return nil
}

// attachWebhooks fills the Webhooks of tasks read by Get and List: the
// deliveries of a finished task; for a task not finished yet, the enabled
// endpoints of its account with no attempt (spec §7).
func (s *Tasks) attachWebhooks(ctx context.Context, tasks ...*task.Task) error {
	if len(tasks) == 0 {
		return nil
	}
	byID := make(map[string]*task.Task, len(tasks))
	ids := make([]any, 0, len(tasks))
	for _, t := range tasks {
		byID[t.ID] = t
		ids = append(ids, t.ID)
	}
	rows, err := s.db.Reader.QueryContext(ctx, `SELECT task_id, url, delivered, attempts, last_error FROM webhook_deliveries
		WHERE task_id IN (`+placeholders(len(ids))+`) ORDER BY created_at, endpoint_id`, ids...)
	if err != nil {
		return fmt.Errorf("task webhooks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
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
	}
	if err := rows.Err(); err != nil {
		return err
	}
	pending := map[string][]task.WebhookStatus{} // by account
	for _, t := range tasks {
		if t.Status.Terminal() || t.Webhooks != nil {
			continue
		}
		account, err := taskAccount(ctx, s.db.Reader, t.ID)
		if err != nil {
			return err
		}
		list, ok := pending[account]
		if !ok {
			if list, err = s.enabledEndpoints(ctx, account); err != nil {
				return err
			}
			pending[account] = list
		}
		t.Webhooks = list
	}
	return nil
}

func (s *Tasks) enabledEndpoints(ctx context.Context, account string) ([]task.WebhookStatus, error) {
	rows, err := s.db.Reader.QueryContext(ctx, `SELECT url FROM webhook_endpoints WHERE account_id = ? AND enabled = 1
		ORDER BY created_at, id`, account)
	if err != nil {
		return nil, fmt.Errorf("webhook endpoints: %w", err)
	}
	defer rows.Close()
	var out []task.WebhookStatus
	for rows.Next() {
		var ws task.WebhookStatus
		if err := rows.Scan(&ws.URL); err != nil {
			return nil, err
		}
		out = append(out, ws)
	}
	return out, rows.Err()
}
