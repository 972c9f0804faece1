package queue

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/framewise/framewise/internal/store"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// A job that a process runs is that process's while the process lives:
// every Heartbeat the process renews the attempted_at of its running jobs
// in River's table. A running job whose attempted_at is older than
// DeadAfter belongs to a process that died (killed, out of memory, power
// lost), and any live worker process makes it available again on its next
// heartbeat, so another worker runs it within about DeadAfter + Heartbeat.
// No job of a live process is ever taken away, whatever its length, and
// nothing is reset in bulk at start (on a shared database that would take
// jobs from live workers).
//
// River's own rescue of stuck jobs (RescueStuckJobsAfter) stays as a
// backstop: a job is rescued this way only while it has attempts left
// (attempt <= max_attempts), so a video that kills its worker every time
// is not retried for ever; River then discards that job, and its task
// stays processing until an operator cancels it.
const (
	DefaultHeartbeat = 2 * time.Second
	DefaultDeadAfter = 15 * time.Second
)

type lifeOptions struct{ heartbeat, deadAfter time.Duration }

// liveJobs are the ids of the jobs running in this process.
type liveJobs struct {
	mu  sync.Mutex
	ids map[int64]int
}

func (l *liveJobs) middleware() rivertype.Middleware {
	return river.WorkerMiddlewareFunc(func(ctx context.Context, job *rivertype.JobRow, doInner func(ctx context.Context) error) error {
		l.mu.Lock()
		l.ids[job.ID]++
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			if l.ids[job.ID]--; l.ids[job.ID] <= 0 {
				delete(l.ids, job.ID)
			}
			l.mu.Unlock()
		}()
		return doInner(ctx)
	})
}

func (l *liveJobs) list() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]int64, 0, len(l.ids))
	for id := range l.ids {
		out = append(out, id)
	}
	return out
}

func (q *Queue) heartbeat(ctx context.Context) {
	defer close(q.done)
	t := time.NewTicker(q.life.heartbeat)
	defer t.Stop()
	for {
		if err := q.beat(ctx); err != nil {
			q.log.Warn("job heartbeat failed; retrying", "err", err)
		}
		select {
		case <-q.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (q *Queue) stopHeartbeat() {
	if q.stop == nil {
		return
	}
	select {
	case <-q.stop:
	default:
		close(q.stop)
	}
	<-q.done
}

// beat renews this process's running jobs, then rescues the jobs of dead
// processes.
func (q *Queue) beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, max(q.life.heartbeat, time.Second))
	defer cancel()
	renew, rescue := q.lifeSQL()
	for _, id := range q.jobs.list() {
		if _, err := q.db.ExecContext(ctx, renew, id); err != nil {
			return fmt.Errorf("renew job %d: %w", id, err)
		}
	}
	rows, err := q.db.QueryContext(ctx, rescue, q.life.deadAfter.Seconds())
	if err != nil {
		return fmt.Errorf("rescue jobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var kind string
		if err := rows.Scan(&id, &kind); err != nil {
			return err
		}
		q.log.Warn("job rescued: its worker stopped sending heartbeats; another worker runs it", "job_id", id, "kind", kind,
			"dead_after", q.life.deadAfter)
	}
	return rows.Err()
}

// lifeSQL returns the statements of beat in the database's dialect: renew
// (one job id) and rescue (dead-after seconds), each comparing times of
// the database's own clock, never a process's.
func (q *Queue) lifeSQL() (renew, rescue string) {
	if q.dialect == store.Postgres {
		return `UPDATE river_job SET attempted_at = now() WHERE id = $1 AND state = 'running'`,
			`UPDATE river_job SET state = 'available', scheduled_at = now()
			WHERE state = 'running' AND attempt <= max_attempts
			AND attempted_at < now() - make_interval(secs => $1) RETURNING id, kind`
	}
	// River's SQLite driver keeps times as UTC text of datetime('now', 'subsec').
	return `UPDATE river_job SET attempted_at = datetime('now', 'subsec') WHERE id = $1 AND state = 'running'`,
		`UPDATE river_job SET state = 'available', scheduled_at = datetime('now', 'subsec')
		WHERE state = 'running' AND attempt <= max_attempts
		AND attempted_at < datetime('now', '-' || $1 || ' seconds', 'subsec') RETURNING id, kind`
}
