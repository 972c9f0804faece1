package queue

import (
	"context"
	"database/sql"
	"fmt"
)

// Fan-out of long analyses (analysis.Fanout): each chunk job of a task is
// inserted with its fan-out row in one transaction as the plan grows, the
// complete plan seals the fan-out with its number of chunks, and the
// transaction that marks the last chunk done (or the seal, when the chunks
// were quicker) inserts the task's analysis job again, the join. The rows are a row per chunk (store.Fanouts), so a chunk
// delivered twice counts once and the join is inserted once.

// AddChunk implements analysis.Fanout.
func (q *Queue) AddChunk(ctx context.Context, taskID string, chunk, first, last, estimate int) (bool, error) {
	return q.fanouts.AddChunk(ctx, taskID, chunk, first, last, func(ctx context.Context, tx *sql.Tx) error {
		_, err := q.client.InsertTx(ctx, tx, ChunkArgs{TaskID: taskID, Chunk: chunk, First: first, Last: last, Windows: estimate}, nil)
		return err
	})
}

// SealFanout implements analysis.Fanout.
func (q *Queue) SealFanout(ctx context.Context, taskID string, chunks int) error {
	joined, err := q.fanouts.Seal(ctx, taskID, chunks, q.insertJoin(taskID))
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if joined {
		q.log.Info("every chunk was done at the seal: the join job is queued", "task_id", taskID)
	}
	return nil
}

func (q *Queue) insertJoin(taskID string) func(ctx context.Context, tx *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error { return q.Enqueue(ctx, tx, taskID) }
}

// FanoutState implements analysis.Fanout.
func (q *Queue) FanoutState(ctx context.Context, taskID string) (exists bool, chunks, done int, err error) {
	st, err := q.fanouts.State(ctx, taskID)
	return st.Exists, st.Chunks, st.Done, err
}

// FinishChunk implements analysis.Fanout.
func (q *Queue) FinishChunk(ctx context.Context, taskID string, chunk int) error {
	joined, err := q.fanouts.FinishChunk(ctx, taskID, chunk, q.insertJoin(taskID))
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if joined {
		q.log.Info("last chunk done: the join job is queued", "task_id", taskID, "chunk", chunk)
	}
	return nil
}
