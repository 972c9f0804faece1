package queue

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	"github.com/framewise/framewise/internal/store"
	"github.com/riverqueue/river"
)

// Enqueuer inserts jobs inside a caller's transaction, so that a row and
// its job commit together. NewEnqueuer makes one on an insert-only River
// client, built before the stores that take its methods: the composition
// root builds it, then the stores, services and pipeline, and the Queue
// that works the jobs last, so nothing refers to a part built later. A
// Queue is an Enqueuer too (through its own client).
type Enqueuer struct {
	client *river.Client[*sql.Tx]
}

// NewEnqueuer returns an Enqueuer on db, whose River tables it makes
// ready as New does.
func NewEnqueuer(ctx context.Context, db *store.DB, log *slog.Logger) (*Enqueuer, error) {
	if err := ready(ctx, db, log); err != nil {
		return nil, err
	}
	client, err := river.NewClient(driver(db), &river.Config{Logger: quiet(log), MaxAttempts: MaxAttempts})
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return &Enqueuer{client: client}, nil
}

// Enqueue inserts the job of a task inside tx, the transaction that writes
// the task row.
func (e *Enqueuer) Enqueue(ctx context.Context, tx *sql.Tx, taskID string) error {
	_, err := e.client.InsertTx(ctx, tx, AnalyzeArgs{TaskID: taskID}, nil)
	return err
}

// EnqueueAsset inserts the processing job of an asset inside tx, the
// transaction that writes the asset row.
func (e *Enqueuer) EnqueueAsset(ctx context.Context, tx *sql.Tx, assetID string) error {
	_, err := e.client.InsertTx(ctx, tx, ProcessAssetArgs{AssetID: assetID}, nil)
	return err
}
