package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Fanouts keep the fan-out of long analyses: the chunk jobs of a task
// (task_fanout_chunks, one row per chunk, marked done by the transaction
// that finishes it) and whether the join job was inserted (task_fanouts).
// A row per chunk rather than a bare counter makes a chunk that runs twice
// (delivery is at least once) count once.
type Fanouts struct{ db *DB }

// NewFanouts returns the fan-out store of db.
func NewFanouts(db *DB) *Fanouts { return &Fanouts{db: db} }

// ChunkEnqueuer inserts the job of one chunk inside tx.
type ChunkEnqueuer func(ctx context.Context, tx *sql.Tx, chunk, first, last int) error

// Start records the chunks of a task, each [first, last] of its windows,
// and inserts their jobs (enqueue), in one transaction. A task that
// already has a fan-out keeps it: started is false and nothing is
// inserted (the planning job ran twice).
func (f *Fanouts) Start(ctx context.Context, taskID string, chunks [][2]int, enqueue ChunkEnqueuer) (started bool, err error) {
	tx, err := f.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO task_fanouts (task_id, chunks) VALUES (?, ?) ON CONFLICT (task_id) DO NOTHING`, taskID, len(chunks))
	if err != nil {
		return false, fmt.Errorf("start fan-out of %s: %w", taskID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	for i, c := range chunks {
		if _, err := tx.ExecContext(ctx, `INSERT INTO task_fanout_chunks (task_id, chunk, first, last) VALUES (?, ?, ?, ?)`,
			taskID, i, c[0], c[1]); err != nil {
			return false, fmt.Errorf("start fan-out of %s: %w", taskID, err)
		}
		if err := enqueue(ctx, tx.Tx, i, c[0], c[1]); err != nil {
			return false, fmt.Errorf("start fan-out of %s: enqueue chunk %d: %w", taskID, i, err)
		}
	}
	return true, tx.Commit()
}

// FanoutState is where a task's fan-out stands.
type FanoutState struct {
	Exists       bool // the task was fanned out
	Chunks, Done int
	Joined       bool // the join job was inserted
}

// State returns the fan-out of a task.
func (f *Fanouts) State(ctx context.Context, taskID string) (FanoutState, error) {
	var st FanoutState
	var joined int
	err := f.db.Writer.QueryRowContext(ctx, `SELECT chunks, joined,
		(SELECT count(*) FROM task_fanout_chunks c WHERE c.task_id = f.task_id AND c.done = 1)
		FROM task_fanouts f WHERE task_id = ?`, taskID).Scan(&st.Chunks, &joined, &st.Done)
	if err == sql.ErrNoRows {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("fan-out of %s: %w", taskID, err)
	}
	st.Exists, st.Joined = true, joined == 1
	return st, nil
}

// FinishChunk marks one chunk of a task done; the transaction that marks
// the last one also inserts the join job (join) and records that it did,
// so the join is inserted once however often chunks run. joined says
// whether this call inserted it. A task without a fan-out (deleted) is
// left alone.
func (f *Fanouts) FinishChunk(ctx context.Context, taskID string, chunk int, join func(ctx context.Context, tx *sql.Tx) error) (joined bool, err error) {
	tx, err := f.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	// Lock the task's fan-out row first: concurrent finishers take turns
	// (PostgreSQL; SQLite has one writer), so the last one sees every
	// other chunk done.
	res, err := tx.ExecContext(ctx, `UPDATE task_fanouts SET joined = joined WHERE task_id = ?`, taskID)
	if err != nil {
		return false, fmt.Errorf("finish chunk %d of %s: %w", chunk, taskID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE task_fanout_chunks SET done = 1 WHERE task_id = ? AND chunk = ?`, taskID, chunk); err != nil {
		return false, fmt.Errorf("finish chunk %d of %s: %w", chunk, taskID, err)
	}
	var left int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM task_fanout_chunks WHERE task_id = ? AND done = 0`, taskID).Scan(&left); err != nil {
		return false, fmt.Errorf("finish chunk %d of %s: %w", chunk, taskID, err)
	}
	if left == 0 {
		res, err := tx.ExecContext(ctx, `UPDATE task_fanouts SET joined = 1 WHERE task_id = ? AND joined = 0`, taskID)
		if err != nil {
			return false, fmt.Errorf("finish chunk %d of %s: %w", chunk, taskID, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			if err := join(ctx, tx.Tx); err != nil {
				return false, fmt.Errorf("finish chunk %d of %s: insert the join: %w", chunk, taskID, err)
			}
			joined = true
		}
	}
	return joined, tx.Commit()
}
