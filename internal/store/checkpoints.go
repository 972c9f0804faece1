package store

import (
	"context"
	"fmt"
)

// SaveCheckpoint stores (or replaces) one finished piece of a task's work.
func (s *Tasks) SaveCheckpoint(ctx context.Context, taskID, key string, value []byte) error {
	_, err := s.db.Writer.ExecContext(ctx,
		`INSERT INTO task_checkpoints (task_id, key, value) VALUES (?, ?, ?)
		 ON CONFLICT (task_id, key) DO UPDATE SET value = excluded.value`, taskID, key, value)
	if err != nil {
		return fmt.Errorf("save checkpoint %s/%s: %w", taskID, key, err)
	}
	return nil
}

// Checkpoints returns every checkpoint of a task by key.
func (s *Tasks) Checkpoints(ctx context.Context, taskID string) (map[string][]byte, error) {
	rows, err := s.db.Reader.QueryContext(ctx, `SELECT key, value FROM task_checkpoints WHERE task_id = ?`, taskID)
	if err != nil {
		return nil, fmt.Errorf("load checkpoints of %s: %w", taskID, err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var k string
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

// DropCheckpoints removes a task's checkpoints once it no longer needs them.
func (s *Tasks) DropCheckpoints(ctx context.Context, taskID string) error {
	_, err := s.db.Writer.ExecContext(ctx, `DELETE FROM task_checkpoints WHERE task_id = ?`, taskID)
	return err
}
