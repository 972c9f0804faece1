package app

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/framewise/framewise/internal/asset"
	"github.com/framewise/framewise/internal/config"
	"github.com/framewise/framewise/internal/fetch"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/store"
	"github.com/framewise/framewise/internal/task"
)

// newSigner returns the signer of presigned upload URLs and media URLs,
// keyed by uploadSecret.
func newSigner(ctx context.Context, cfg config.Config, db *store.DB) (*asset.Signer, error) {
	secret, err := uploadSecret(ctx, cfg, db)
	if err != nil {
		return nil, err
	}
	return asset.NewSigner(secret)
}

// newAssets builds the asset service (signer signs its presigned upload
// URLs).
func newAssets(cfg config.Config, db *store.DB, blobs asset.Blobs, quota asset.Quota, tool *media.Tool, client *http.Client,
	enqueue store.Enqueuer, signer *asset.Signer, log *slog.Logger) (*asset.Service, error) {
	lim := asset.DefaultLimits()
	if cfg.MaxVideoBytes > 0 {
		lim.URLBytes = min(lim.URLBytes, cfg.MaxVideoBytes)
	}
	return asset.NewService(asset.Config{
		Store:      store.NewAssets(db, enqueue),
		Blobs:      blobs,
		Quota:      quota,
		Direct:     directUploads(blobs),
		Media:      tool,
		Downloader: assetDownloader{client},
		Signer:     signer,
		Limits:     lim,
		Log:        log,
	}), nil
}

// assetDownloader adapts fetch to asset.Downloader, with a size limit per call.
type assetDownloader struct{ client *http.Client }

func (d assetDownloader) Download(ctx context.Context, rawURL string, maxBytes int64, w io.Writer) (int64, string, error) {
	f := &fetch.Fetcher{Client: d.client, MaxBytes: maxBytes}
	return f.Fetch(ctx, rawURL, w)
}

func (assetDownloader) Temporary(err error) bool { return fetch.IsTemporary(err) }

// assetResolver adapts the asset service to task.AssetResolver.
type assetResolver struct{ assets *asset.Service }

func (r assetResolver) ResolveAsset(ctx context.Context, id string) (*task.AssetInfo, error) {
	a, err := r.assets.Get(ctx, id)
	var ae *asset.Error
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil, task.ErrAssetNotFound
	}
	if err != nil {
		return nil, err
	}
	info := &task.AssetInfo{Status: string(a.Status), Type: string(a.Type), BlobKey: a.BlobKey,
		Unanalyzable: a.Unanalyzable, Error: a.ErrorMessage}
	if a.Duration != nil {
		info.Duration = *a.Duration
	}
	return info, nil
}

// Compile-time checks of the adapters.
var (
	_ asset.Downloader   = assetDownloader{}
	_ task.AssetResolver = assetResolver{}
	_ store.Enqueuer     = func(context.Context, *sql.Tx, string) error { return nil }
)
