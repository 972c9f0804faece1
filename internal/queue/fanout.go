package queue

import (
	"context"
	"database/sql"
	"fmt"
)

// Fan-out of long analyses (analysis.Fanout): the chunk jobs of a task and
// its fan-out rows are inserted in one transaction, and the transaction
// that marks the last chunk done inserts the task's analysis job again,
// the join. The rows are a row per chunk (store.Fanouts), so a chunk
// delivered twice counts once and the join is inserted once.

// StartFanout implements analysis.Fanout.
func (q *Queue) StartFanout(ctx context.Context, taskID string, chunks [][2]int) (bool, error) {
	windows := 0
	if n := len(chunks); n > 0 {
		windows = chunks[n-1][1] + 1
	}
	return q.fanouts.Start(ctx, taskID, chunks, func(ctx context.Context, tx *sql.Tx, chunk, first, last int) error {
		_, err := q.client.InsertTx(ctx, tx, ChunkArgs{TaskID: taskID, Chunk: chunk, First: first, Last: last, Windows: windows}, nil)
		return err
	})
}

// FanoutState implements analysis.Fanout.
func (q *Queue) FanoutState(ctx context.Context, taskID string) (exists bool, chunks, done int, err error) {
	st, err := q.fanouts.State(ctx, taskID)
	return st.Exists, st.Chunks, st.Done, err
}

// FinishChunk implements analysis.Fanout.
func (q *Queue) FinishChunk(ctx context.Context, taskID string, chunk int) error {
	joined, err := q.fanouts.FinishChunk(ctx, taskID, chunk, func(ctx context.Context, tx *sql.Tx) error {
		_, err := q.client.InsertTx(ctx, tx, AnalyzeArgs{TaskID: taskID}, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if joined {
		q.log.Info("last chunk done: the join job is queued", "task_id", taskID, "chunk", chunk)
	}
	return nil
}
