package store

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/framewise/framewise/internal/account"
	"github.com/framewise/framewise/internal/task"
)

// Quotas bound what each account may have the server do; zero values
// are no bound. They are checked in the transaction that writes a new
// task, so concurrent creates cannot pass a quota together.
type Quotas struct {
	// ActiveTasks bounds an account's tasks that are queued, pending or
	// processing at once.
	ActiveTasks int
	// VideoPerDay bounds the duration of video an account's tasks analyze
	// in any 24 hours. A task counts from the moment its duration is known
	// (at create for base64 and asset videos, after the download for a
	// URL), and keeps counting when it is deleted.
	VideoPerDay time.Duration
}

// activeTasksRetry is the Retry-After of a create over the ActiveTasks
// quota: a task's end cannot be foreseen, so a short poll.
const activeTasksRetry = 30

// usageWindow is the window of Quotas.VideoPerDay.
const usageWindow = 24 * time.Hour

// SetQuotas sets the quotas of every account.
func (s *Tasks) SetQuotas(q Quotas) { s.quotas = q }

// checkQuotas refuses t with a *task.BusyError (429 quota_exceeded) when
// writing it would put its account over a quota, and records its video
// duration when known. It runs in the create transaction.
func (s *Tasks) checkQuotas(ctx context.Context, tx *Tx, t *task.Task) error {
	owner := account.Owner(ctx)
	now := t.CreatedAt
	if n := s.quotas.ActiveTasks; n > 0 {
		var active int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tasks WHERE account_id = ? AND status IN ('queued', 'pending', 'processing')`,
			owner).Scan(&active); err != nil {
			return fmt.Errorf("check quotas: %w", err)
		}
		if active >= n {
			return &task.BusyError{Status: 429, Code: task.CodeQuotaExceeded, RetryAfter: activeTasksRetry,
				Message: fmt.Sprintf("Your account has %d tasks queued or processing, the most this server allows at once (quota: active tasks, %d). "+
					"Retry after %d seconds, or once one of them is ready or failed.", active, n, activeTasksRetry)}
		}
	}
	if limit := s.quotas.VideoPerDay.Seconds(); limit > 0 {
		if err := s.checkVideoQuota(ctx, tx, owner, t, limit); err != nil {
			return err
		}
	}
	if t.Duration != nil {
		if _, err := tx.ExecContext(ctx, `DELETE FROM video_usage WHERE at < ?`, now.Add(-usageWindow).UnixMicro()); err != nil {
			return fmt.Errorf("record video usage: %w", err)
		}
		return recordUsage(ctx, tx, t.ID, owner, *t.Duration, now)
	}
	return nil
}

// ChargeVideo counts the video of a synchronous analysis (t is not
// stored; its Duration is known) against its account's video quota, as a
// task's is counted: a *task.BusyError (429 quota_exceeded) when it would
// pass the quota, else its usage is recorded.
func (s *Tasks) ChargeVideo(ctx context.Context, t *task.Task) error {
	if t.Duration == nil {
		return fmt.Errorf("charge video of %s: duration unknown", t.ID)
	}
	owner := account.Owner(ctx)
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("charge video: %w", err)
	}
	defer tx.Rollback()
	if limit := s.quotas.VideoPerDay.Seconds(); limit > 0 {
		if err := s.checkVideoQuota(ctx, tx, owner, t, limit); err != nil {
			return err
		}
	}
	if err := recordUsage(ctx, tx, t.ID, owner, *t.Duration, t.CreatedAt); err != nil {
		return err
	}
	return tx.Commit()
}

func recordUsage(ctx context.Context, tx *Tx, taskID, owner string, seconds float64, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO video_usage (task_id, account_id, seconds, at) VALUES (?, ?, ?, ?)
		ON CONFLICT (task_id) DO NOTHING`, taskID, owner, seconds, at.UnixMicro()); err != nil {
		return fmt.Errorf("record video usage: %w", err)
	}
	return nil
}

// checkVideoQuota refuses t when the video its account analyzed in the
// last 24 hours, plus t's own when known, is over limit seconds. The
// Retry-After is when enough of that usage leaves the window.
func (s *Tasks) checkVideoQuota(ctx context.Context, tx *Tx, owner string, t *task.Task, limit float64) error {
	now := t.CreatedAt
	rows, err := tx.QueryContext(ctx, `SELECT seconds, at FROM video_usage WHERE account_id = ? AND at >= ? ORDER BY at`,
		owner, now.Add(-usageWindow).UnixMicro())
	if err != nil {
		return fmt.Errorf("check quotas: %w", err)
	}
	type use struct {
		seconds float64
		at      int64
	}
	var uses []use
	var used float64
	for rows.Next() {
		var u use
		if err := rows.Scan(&u.seconds, &u.at); err != nil {
			rows.Close()
			return fmt.Errorf("check quotas: %w", err)
		}
		uses, used = append(uses, u), used+u.seconds
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("check quotas: %w", err)
	}
	need := 0.0
	if t.Duration != nil {
		need = *t.Duration
	}
	if used < limit && used+need <= limit {
		return nil
	}
	hours := func(s float64) string { return fmt.Sprintf("%.2f", s/3600) }
	if need > limit {
		return &task.BusyError{Status: 429, Code: task.CodeQuotaExceeded, RetryAfter: int(usageWindow.Seconds()),
			Message: fmt.Sprintf("This video is %s hours long, more than your account may analyze in a day (quota: video hours per day, %s). "+
				"Analyze a shorter part of it (start_time, end_time) or ask the server's operator for a larger quota.", hours(need), hours(limit))}
	}
	// Wait until enough usage leaves the window.
	left, retry := used, time.Duration(0)
	for _, u := range uses {
		left -= u.seconds
		retry = time.UnixMicro(u.at).Add(usageWindow).Sub(now)
		if left < limit && left+need <= limit {
			break
		}
	}
	secs := max(1, int(math.Ceil(retry.Seconds())))
	return &task.BusyError{Status: 429, Code: task.CodeQuotaExceeded, RetryAfter: secs,
		Message: fmt.Sprintf("Your account analyzed %s hours of video in the last 24 hours; this task would pass the quota of %s hours per day (quota: video hours per day). "+
			"Retry after %d seconds.", hours(used), hours(limit), secs)}
}
