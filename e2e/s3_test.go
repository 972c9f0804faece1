package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/blob/blobtest"
)

// TestS3BlobStore runs a server whose media go to the S3-compatible test
// server (--blob-url): a base64 task, a multipart asset upload whose chunks
// the client PUTs straight to the store, a task on that asset, and the
// deletes, with nothing stored under the data dir's blobs/.
func TestS3BlobStore(t *testing.T) {
	t.Parallel()
	u := blobtest.S3URL(t)
	ctx := waitCtx(t, 3*time.Minute)
	store, err := blob.Open(ctx, u.String(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	usage := func(key string) int64 {
		t.Helper()
		n, err := store.Usage(ctx, key)
		if err != nil {
			t.Fatalf("usage of %s: %v", key, err)
		}
		return n
	}
	srv := startServer(t, t.TempDir(), "--blob-url", u.String())
	// Not srv.client(): it records every exchange for the check against
	// api/openapi.json, and the chunk PUTs go to the store, not framewise.
	c := client.New("http://"+srv.addr, client.WithAPIKey(testKey))

	created, err := c.CreateTask(ctx, &api.CreateTaskRequest{
		Video:  &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, makeVideo(t, "ok", 6, 640, 360))},
		Prompt: api.String("What happens?"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx, created.TaskID, fastWait()...); err != nil {
		t.Fatalf("base64 task: %v", err)
	}
	if usage("tasks/"+created.TaskID) == 0 {
		t.Error("the task's video is not in the store")
	}

	big := makeNoisyVideo(t, 5)
	fi, _ := os.Stat(big)
	res, err := c.UploadFile(ctx, big, client.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.ChunksSent < 2 {
		t.Fatalf("upload of %d bytes in %d chunks", fi.Size(), res.ChunksSent)
	}
	a, err := c.WaitAsset(ctx, res.AssetID, fastWait()...)
	if err != nil || *a.Size != fi.Size() {
		t.Fatalf("multipart asset = %+v, %v", a, err)
	}
	if n := usage("assets/" + res.AssetID); n != fi.Size() {
		t.Errorf("the asset has %d bytes in the store, want %d", n, fi.Size())
	}
	if n := usage("uploads/" + res.UploadID); n != 0 {
		t.Errorf("the upload left %d bytes in the store", n)
	}
	onAsset, err := c.CreateTask(ctx, &api.CreateTaskRequest{
		Video:  &api.VideoContext{Type: api.SourceAssetID, AssetID: res.AssetID},
		Prompt: api.String("What happens?"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx, onAsset.TaskID, fastWait()...); err != nil {
		t.Fatalf("task on the asset: %v", err)
	}

	for _, id := range []string{created.TaskID, onAsset.TaskID} {
		if err := c.DeleteTask(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.DeleteAsset(ctx, res.AssetID); err != nil {
		t.Fatal(err)
	}
	if n := usage(""); n != 0 {
		t.Errorf("%d bytes left in the store after the deletes", n)
	}
	if _, err := os.Stat(filepath.Join(srv.dataDir, "blobs")); !os.IsNotExist(err) {
		t.Errorf("media stored under the data dir: %v", err)
	}
}
