package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/framewise/framewise/internal/asset"
	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/diskspace"
	"github.com/framewise/framewise/internal/task"
)

// diskCheckInterval is how often the free space of the data dir is
// measured (to warn, and to refill the reserve file once space returns).
const diskCheckInterval = 10 * time.Second

// reservingTasks deletes tasks with the disk reserve's help: on a full
// disk, a delete releases the reserve file so that it can commit.
type reservingTasks struct {
	*task.Service
	reserve *diskspace.Reserve
}

func (t reservingTasks) Delete(ctx context.Context, id string) error {
	return t.reserve.Retry(func() error { return t.Service.Delete(ctx, id) })
}

// reservingAssets does the same for assets.
type reservingAssets struct {
	*asset.Service
	reserve *diskspace.Reserve
}

func (a reservingAssets) Delete(ctx context.Context, id string) error {
	return a.reserve.Retry(func() error { return a.Service.Delete(ctx, id) })
}

func (a reservingAssets) AbortUpload(ctx context.Context, id string) error {
	return a.reserve.Retry(func() error { return a.Service.AbortUpload(ctx, id) })
}

// directUploads is the object store's multipart uploads when clients can
// PUT chunks straight to it (S3), else nil: they come through framewise.
func directUploads(b asset.Blobs) blob.Multipart {
	if s, ok := b.(blob.Store); ok {
		return blob.MultipartOf(s)
	}
	return nil
}

// withQuota wraps the blob store in the storage quota (--storage-quota),
// when there is one. The asset service checks it before it accepts an
// upload; nil quota means none.
func withQuota(ctx context.Context, store blob.Store, limit int64, log *slog.Logger) (blob.Store, asset.Quota, error) {
	if limit <= 0 {
		return store, nil, nil
	}
	q, err := blob.NewQuota(ctx, store, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("storage quota: count the stored files: %w", err)
	}
	log.Info("storage quota", "quota_bytes", limit, "used_bytes", q.Used())
	return q, q, nil
}
