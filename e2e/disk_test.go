package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"

	_ "modernc.org/sqlite"
)

// mountTmpfs mounts a tmpfs of sizeMB on a new directory and unmounts it
// when the test ends; it skips the test where mounting is not permitted.
func mountTmpfs(t *testing.T, sizeMB int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs as the data dir (run the e2e tests as root to test a full disk)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(sizeMB)+"m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount -t tmpfs is not permitted here (%v: %s); a full disk is not tested", err, bytes.TrimSpace(out))
	}
	// Registered first, so it runs after the server is killed.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// readyz returns the server's /readyz body.
func readyz(t *testing.T, s *server) (status string, low bool, free int64) {
	t.Helper()
	resp, err := http.Get("http://" + s.addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b struct {
		Status string `json:"status"`
		Disk   *struct {
			FreeBytes int64 `json:"free_bytes"`
			Low       bool  `json:"low"`
		} `json:"disk"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil || resp.StatusCode != 200 || b.Disk == nil {
		t.Fatalf("readyz: %d %+v %v", resp.StatusCode, b, err)
	}
	return b.Status, b.Disk.Low, b.Disk.FreeBytes
}

// isFull checks that err is the 507 insufficient_storage answer, with a
// message that names no file of the server.
func isFull(t *testing.T, s *server, what string, err error) bool {
	t.Helper()
	var ae *client.APIError
	if !errors.As(err, &ae) {
		return false
	}
	if ae.StatusCode != http.StatusInsufficientStorage || ae.Code != api.CodeInsufficientStorage {
		t.Fatalf("%s on a full disk: want 507 insufficient_storage, got %v", what, err)
	}
	if strings.Contains(ae.Message, "/") || strings.Contains(ae.Message, s.dataDir) {
		t.Fatalf("%s: the 507 message names a path: %q", what, ae.Message)
	}
	return true
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// A small tmpfs as the data dir is filled with uploads until writes fail:
// every write path answers 507 insufficient_storage (never 500, no path);
// deletes still succeed and free space; writes work again without a
// restart; the database is intact.
func TestDiskFullAnswers507AndRecovers(t *testing.T) {
	dir := mountTmpfs(t, 48)
	s := startServer(t, dir, "--min-free-disk", "8MiB", "--workers", "1")
	c := s.client()
	ctx := waitCtx(t, 60*time.Second)
	start := time.Now()

	video := makeVideo(t, "disk", 4, 640, 360)
	open := func() *os.File {
		f, err := os.Open(video)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	a, err := c.CreateAsset(ctx, open(), "clip.mp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitAsset(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	created, err := c.CreateTask(ctx, &api.CreateTaskRequest{Video: &api.VideoContext{Type: api.SourceAssetID, AssetID: a.ID}, Prompt: api.String("p")})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, created.TaskID, "ready", 30*time.Second)

	// Fill: chunks of a multipart upload, then direct uploads, large and
	// small, until the disk is full.
	up, err := c.CreateUpload(ctx, &api.CreateUploadRequest{Filename: "big.mp4", Type: "video", TotalSize: 80 << 20})
	if err != nil {
		t.Fatal(err)
	}
	chunks := 0
	for _, u := range up.UploadURLs {
		_, err := c.PutChunk(ctx, u.URL, bytes.NewReader(randomBytes(8<<20)), 8<<20)
		if isFull(t, s, "chunk PUT", err) {
			break
		}
		if err != nil {
			t.Fatalf("chunk PUT: %v", err)
		}
		chunks++
	}
	if chunks == 0 || chunks == len(up.UploadURLs) {
		t.Fatalf("%d of %d chunks stored before the disk was full", chunks, len(up.UploadURLs))
	}
	var fillers []string
	fill := func(size int) {
		for i := 0; i < 200; i++ {
			a, err := c.CreateAsset(ctx, bytes.NewReader(randomBytes(size)), "fill.mp4", nil)
			if isFull(t, s, "direct upload", err) {
				return
			}
			if err != nil {
				t.Fatalf("filling upload: %v", err)
			}
			fillers = append(fillers, a.ID)
		}
		t.Fatal("the disk never filled up")
	}
	fill(4 << 20)
	fill(64 << 10)
	t.Logf("disk full after %d chunks of 8 MiB and %d filler assets (%s)", chunks, len(fillers), time.Since(start).Round(time.Millisecond))

	// Every other write path answers 507 too.
	_, err = c.PutChunk(ctx, up.UploadURLs[chunks].URL, bytes.NewReader(randomBytes(8<<20)), 8<<20)
	if !isFull(t, s, "chunk PUT", err) {
		t.Fatalf("chunk PUT on a full disk: %v", err)
	}
	_, err = c.CreateTask(ctx, &api.CreateTaskRequest{Video: &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, video)}, Prompt: api.String("p")})
	if !isFull(t, s, "base64 task", err) {
		t.Fatalf("base64 task on a full disk: %v", err)
	}
	if st, low, _ := readyz(t, s); st != "degraded" || !low {
		t.Fatalf("readyz on a full disk: %s, low %v", st, low)
	}

	// Deletes succeed on the full disk and free its space; the upload is
	// aborted with the CLI.
	if err := c.DeleteTask(ctx, created.TaskID); err != nil {
		t.Fatalf("delete task on a full disk: %v", err)
	}
	_, _, before := readyz(t, s)
	if out, err := runBinary(t, "assets", "abort", up.UploadID, "--server", "http://"+s.addr, "--api-key", testKey); err != nil {
		t.Fatalf("framewise assets abort: %v\n%s", err, out)
	}
	if _, err := c.GetUploadStatus(ctx, up.UploadID, 1, 10); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("status of an aborted upload: %v", err)
	}
	// The reserve file (4 MiB) may be refilled and the database's WAL grow
	// in between: up to 5 MiB of the freed space can be taken back.
	if _, _, after := readyz(t, s); after-before < int64(chunks)*(8<<20)-(5<<20) {
		t.Fatalf("the abort freed %d bytes, want about %d (%d chunks)", after-before, chunks*(8<<20), chunks)
	}
	for _, id := range append(fillers, a.ID) {
		if err := c.DeleteAsset(ctx, id); err != nil {
			t.Fatalf("delete asset on a full disk: %v", err)
		}
	}
	st, low, free := readyz(t, s)
	if st != "ok" || low || free < 16<<20 {
		t.Fatalf("readyz after the deletes: %s, low %v, free %d", st, low, free)
	}

	// Writes work again, without a restart.
	b, err := c.CreateAsset(ctx, open(), "again.mp4", nil)
	if err != nil {
		t.Fatalf("upload after freeing space: %v", err)
	}
	if got, err := c.WaitAsset(ctx, b.ID); err != nil || got.Status != "ready" {
		t.Fatalf("asset after freeing space: %+v %v", got, err)
	}
	up, err = c.CreateUpload(ctx, &api.CreateUploadRequest{Filename: "big.mp4", Type: "video", TotalSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutChunk(ctx, up.UploadURLs[0].URL, bytes.NewReader(randomBytes(8<<20)), 8<<20); err != nil {
		t.Fatalf("chunk PUT after freeing space: %v", err)
	}
	if strings.Contains(s.logs.String(), "status=500") {
		t.Fatalf("a request answered 500:\n%s", s.logs.String())
	}
	for _, l := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(l, "reserve") || strings.Contains(l, "low disk") || strings.Contains(l, "msg=\"disk full\"") && strings.Contains(l, "DELETE") {
			t.Log(l)
		}
	}
	s.stop()

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "framewise.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRowContext(context.Background(), "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
	t.Logf("whole test %s", time.Since(start).Round(time.Millisecond))
}

// With --storage-quota, uploads over the quota answer 507
// insufficient_storage naming the quota, and deleting frees room.
func TestStorageQuota(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "--storage-quota", "2MiB")
	c := s.client()
	ctx := waitCtx(t, 30*time.Second)
	overQuota := func(what string, err error) {
		t.Helper()
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusInsufficientStorage || ae.Code != api.CodeInsufficientStorage ||
			!strings.Contains(ae.Message, "2 MiB") {
			t.Fatalf("%s over the quota: want 507 insufficient_storage naming 2 MiB, got %v", what, err)
		}
	}
	a, err := c.CreateAsset(ctx, bytes.NewReader(randomBytes(1500<<10)), "a.mp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateAsset(ctx, bytes.NewReader(randomBytes(1<<20)), "b.mp4", nil)
	overQuota("direct upload", err)
	_, err = c.CreateUpload(ctx, &api.CreateUploadRequest{Filename: "big.mp4", Type: "video", TotalSize: 1 << 20})
	overQuota("multipart upload", err)
	small, err := c.CreateUpload(ctx, &api.CreateUploadRequest{Filename: "small.mp4", Type: "video", TotalSize: 400 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutChunk(ctx, small.UploadURLs[0].URL, bytes.NewReader(randomBytes(400<<10)), 400<<10); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateTask(ctx, &api.CreateTaskRequest{Video: &api.VideoContext{Type: api.SourceBase64,
		Base64String: base64File(t, makeVideo(t, "quota", 20, 640, 360))}, Prompt: api.String("p")})
	overQuota("base64 task", err)

	if err := c.AbortUpload(ctx, small.UploadID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAsset(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAsset(ctx, bytes.NewReader(randomBytes(1<<20)), "b.mp4", nil); err != nil {
		t.Fatalf("upload after deleting: %v", err)
	}
}
