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
type ChunkEnqueuer func(ctx context.Context, tx *sql.Tx) error

// AddChunk records one chunk of a task, windows first through last, and
// inserts its job (enqueue) in one transaction; the task's fan-out is
// created by its first chunk, unsealed (its number of chunks unknown while
// the plan grows). A chunk already recorded is left alone: added is false
// and nothing is inserted (the planning job ran again).
func (f *Fanouts) AddChunk(ctx context.Context, taskID string, chunk, first, last int, enqueue ChunkEnqueuer) (added bool, err error) {
	tx, err := f.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO task_fanouts (task_id, chunks) VALUES (?, -1) ON CONFLICT (task_id) DO NOTHING`, taskID); err != nil {
		return false, fmt.Errorf("fan-out of %s: %w", taskID, err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO task_fanout_chunks (task_id, chunk, first, last) VALUES (?, ?, ?, ?)
		ON CONFLICT (task_id, chunk) DO NOTHING`, taskID, chunk, first, last)
	if err != nil {
		return false, fmt.Errorf("fan-out of %s: chunk %d: %w", taskID, chunk, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if err := enqueue(ctx, tx.Tx); err != nil {
		return false, fmt.Errorf("fan-out of %s: enqueue chunk %d: %w", taskID, chunk, err)
	}
	return true, tx.Commit()
}

// Seal records that a task's fan-out has chunks chunks in all (its plan
// is complete); when every one is done already, the same transaction
// inserts the join job (join). joined says whether this call inserted it.
func (f *Fanouts) Seal(ctx context.Context, taskID string, chunks int, join func(ctx context.Context, tx *sql.Tx) error) (joined bool, err error) {
	return f.settle(ctx, taskID, fmt.Sprintf("seal the fan-out of %s", taskID), join, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE task_fanouts SET chunks = ? WHERE task_id = ?`, chunks, taskID)
		return err
	})
}

// FanoutState is where a task's fan-out stands.
type FanoutState struct {
	Exists bool // the task was fanned out
	// Chunks is the number of chunks once sealed, -1 while the plan grows.
	Chunks, Done int
	Joined       bool // the join job was inserted
}

// fanoutCounts selects a task's chunk count and its chunks done.
const fanoutCounts = `SELECT chunks, (SELECT count(*) FROM task_fanout_chunks c WHERE c.task_id = f.task_id AND c.done = 1)`

// State returns the fan-out of a task.
func (f *Fanouts) State(ctx context.Context, taskID string) (FanoutState, error) {
	var st FanoutState
	var joined int
	err := f.db.Reader.QueryRowContext(ctx, fanoutCounts+`, joined FROM task_fanouts f WHERE task_id = ?`, taskID).Scan(&st.Chunks, &st.Done, &joined)
	if err == sql.ErrNoRows {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("fan-out of %s: %w", taskID, err)
	}
	st.Exists, st.Joined = true, joined == 1
	return st, nil
}

// FinishChunk marks one chunk of a task done; once the fan-out is sealed,
// the transaction that marks the last one (or the seal, when chunks finish
// first) also inserts the join job (join) and records that it did, so the
// join is inserted once however often chunks run. joined says whether
// this call inserted it. A task without a fan-out (deleted) is left alone.
func (f *Fanouts) FinishChunk(ctx context.Context, taskID string, chunk int, join func(ctx context.Context, tx *sql.Tx) error) (joined bool, err error) {
	return f.settle(ctx, taskID, fmt.Sprintf("finish chunk %d of %s", chunk, taskID), join, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE task_fanout_chunks SET done = 1 WHERE task_id = ? AND chunk = ?`, taskID, chunk)
		return err
	})
}

// settle runs change in a transaction that holds the task's fan-out row,
// then inserts the join when the fan-out is sealed, every chunk is done and
// no join was inserted yet.
func (f *Fanouts) settle(ctx context.Context, taskID, what string, join func(ctx context.Context, tx *sql.Tx) error, change func(tx *Tx) error) (joined bool, err error) {
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
		return false, fmt.Errorf("%s: %w", what, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if err := change(tx); err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	var chunks, done int
	if err := tx.QueryRowContext(ctx, fanoutCounts+` FROM task_fanouts f WHERE task_id = ?`, taskID).Scan(&chunks, &done); err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	if chunks >= 0 && done >= chunks {
		res, err := tx.ExecContext(ctx, `UPDATE task_fanouts SET joined = 1 WHERE task_id = ? AND joined = 0`, taskID)
		if err != nil {
			return false, fmt.Errorf("%s: %w", what, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			if err := join(ctx, tx.Tx); err != nil {
				return false, fmt.Errorf("%s: insert the join: %w", what, err)
			}
			joined = true
		}
	}
	return joined, tx.Commit()
}
