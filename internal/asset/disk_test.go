package asset_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/framewise/framewise/internal/asset"
	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/diskspace"
	"github.com/framewise/framewise/internal/store"
)

func TestAbortUploadDeletesChunks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u, urls, err := e.svc.CreateUpload(ctx, asset.UploadRequest{Filename: "a.mp4", Type: "video", TotalSize: 100_000}, "http://x")
	if err != nil {
		t.Fatal(err)
	}
	etag, err := put(e, urls[0].URL, make([]byte, 64<<10))
	if err != nil {
		t.Fatal(err)
	}
	parts := filepath.Join(e.blobs.Dir, "uploads", u.ID)
	if _, err := os.Stat(parts); err != nil {
		t.Fatalf("no chunks stored: %v", err)
	}
	if err := e.svc.AbortUpload(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(parts); !os.IsNotExist(err) {
		t.Fatalf("chunks still there after the abort: %v", err)
	}
	_, err = e.svc.UploadStatus(ctx, u.ID, 1, 10)
	apiErr(t, err, 404, "resource_not_exist")
	_, err = put(e, urls[1].URL, make([]byte, 100_000-64<<10))
	apiErr(t, err, 404, "resource_not_exist")
	apiErr(t, e.svc.AbortUpload(ctx, u.ID), 404, "resource_not_exist")

	// A completed upload belongs to its asset: refused.
	v, urls, err := e.svc.CreateUpload(ctx, asset.UploadRequest{Filename: "b.mp4", Type: "video", TotalSize: 10}, "http://x")
	if err != nil {
		t.Fatal(err)
	}
	if etag, err = put(e, urls[0].URL, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ReportChunks(ctx, v.ID, []asset.ReportedChunk{{Index: 1, Proof: etag, ProofType: "etag", Size: 10}}); err != nil {
		t.Fatal(err)
	}
	apiErr(t, e.svc.AbortUpload(ctx, v.ID), 409, "upload_not_active")
}

// fullBlobs is a blob store on a full disk.
type fullBlobs struct{ *blob.Local }

func (fullBlobs) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	n, _ := io.CopyN(io.Discard, r, 1000)
	return n, &fs.PathError{Op: "write", Path: "/data/blobs/" + key, Err: syscall.ENOSPC}
}

// A URL download stopped by a full disk is retried later, even on its last
// attempt: the asset stays processing and succeeds once space returns.
func TestURLUploadOnFullDiskWaits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	signer, _ := asset.NewSigner(bytes.Repeat([]byte("s"), 32))
	build := func(b asset.Blobs) *asset.Service {
		return asset.NewService(asset.Config{Store: store.NewAssets(e.db, nil), Blobs: b, Media: mustTool(t), Signer: signer,
			Limits: asset.DefaultLimits(), Downloader: fakeDownloader{map[string]string{"/v.mp4": video(t)}},
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}
	full := build(fullBlobs{e.blobs})
	a, err := full.CreateFromForm(ctx, form(t, "method", "url", "url", "https://media.example.com/v.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := full.Process(ctx, a.ID, 5, 5); !diskspace.Full(err) {
		t.Fatalf("Process on a full disk: %v, want a disk-full error to retry", err)
	}
	if got, _ := full.Get(ctx, a.ID); got.Status != asset.Processing {
		t.Fatalf("asset after a full disk: %+v", got)
	}
	e.svc = build(e.blobs)
	if got := e.process(t, a.ID); got.Status != asset.Ready {
		t.Fatalf("asset once space returned: %+v", got)
	}
}
