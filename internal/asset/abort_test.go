package asset_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/framewise/framewise/internal/asset"
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
