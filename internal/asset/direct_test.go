package asset_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/framewise/framewise/internal/asset"
	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/blob/blobtest"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/store"
)

// directEnv is an asset service over an S3 store (the test server of
// blobtest) whose multipart uploads go straight to the store.
type directEnv struct {
	svc    *asset.Service
	blobs  blob.Store
	direct blob.Multipart
	mu     sync.Mutex
	jobs   []string
}

func newDirectEnv(t *testing.T) *directEnv {
	t.Helper()
	ctx := context.Background()
	u := blobtest.S3URL(t)
	dir := t.TempDir()
	blobs, err := blob.Open(ctx, u.String(), dir)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenSQLite(ctx, filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tool, err := media.New(media.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e := &directEnv{blobs: blobs, direct: blob.MultipartOf(blobs)}
	if e.direct == nil {
		t.Fatal("an S3 store has no direct multipart uploads")
	}
	signer, _ := asset.NewSigner(bytes.Repeat([]byte("s"), 32))
	lim := asset.DefaultLimits()
	lim.ChunkSize = blob.MinPartSize
	lim.InitialURLs = 2
	st := store.NewAssets(db, func(ctx context.Context, tx *sql.Tx, id string) error {
		e.mu.Lock()
		e.jobs = append(e.jobs, id)
		e.mu.Unlock()
		return nil
	})
	e.svc = asset.NewService(asset.Config{Store: st, Blobs: blobs, Direct: e.direct, Media: tool, Signer: signer, Limits: lim,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return e
}

// putPart PUTs body to a presigned URL with plain net/http and returns the
// ETag the store answers.
func putPart(t *testing.T, url string, body []byte) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == "" {
		t.Fatalf("PUT to the store: %s, ETag %q: %s", resp.Status, resp.Header.Get("ETag"), b)
	}
	return resp.Header.Get("ETag")
}

// TestDirectMultipartUpload uploads a video of three chunks straight to the
// store: framewise hands out the store's URLs, checks the reported ETags
// against the store's parts, and completes the store's upload into the
// asset's file.
func TestDirectMultipartUpload(t *testing.T) {
	t.Parallel()
	e := newDirectEnv(t)
	ctx := context.Background()
	// About 12 MB: chunks of 5, 5 and 2 MiB.
	data, err := os.ReadFile(makeMedia(t, "direct.mp4", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=4",
		"-vf", "noise=alls=40:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "24M", "-pix_fmt", "yuv420p"))
	if err != nil {
		t.Fatal(err)
	}
	if len(data) <= 2*blob.MinPartSize {
		t.Fatalf("the test video has %d bytes; want more than two chunks", len(data))
	}
	u, urls, err := e.svc.CreateUpload(ctx, asset.UploadRequest{Filename: "direct.mp4", Type: "video", TotalSize: int64(len(data))}, "http://framewise.invalid")
	if err != nil {
		t.Fatal(err)
	}
	if u.TotalChunks != 3 || len(urls) != 2 {
		t.Fatalf("%d chunks, %d URLs", u.TotalChunks, len(urls))
	}
	for _, p := range urls {
		if strings.Contains(p.URL, "framewise.invalid") || !strings.Contains(p.URL, "X-Amz-Signature=") || !strings.Contains(p.URL, "uploadId=") {
			t.Fatalf("not a presigned URL of the store: %s", p.URL)
		}
	}
	_, more, err := e.svc.PresignURLs(ctx, u.ID, 3, 1, "http://framewise.invalid")
	if err != nil || len(more) != 1 || more[0].Index != 3 || !strings.Contains(more[0].URL, "partNumber=3") {
		t.Fatalf("PresignURLs: %+v, %v", more, err)
	}
	urls = append(urls, more...)
	chunk := func(i int) []byte {
		start := int64(i-1) * u.ChunkSize
		return data[start : start+u.ChunkLen(i)]
	}

	etags := map[int]string{}
	for i := 1; i <= 2; i++ {
		etags[i] = putPart(t, urls[i-1].URL, chunk(i))
	}
	report := func(chunks ...asset.ReportedChunk) (*asset.ReportResult, error) {
		return e.svc.ReportChunks(ctx, u.ID, chunks)
	}
	rc := func(i int, proof string) asset.ReportedChunk {
		return asset.ReportedChunk{Index: i, Proof: proof, ProofType: "etag", Size: u.ChunkLen(i)}
	}
	// A wrong ETag, and a chunk not uploaded yet, are refused.
	var ae *asset.Error
	if _, err := report(rc(1, `"0123456789abcdef0123456789abcdef"`)); !errors.As(err, &ae) || !strings.Contains(ae.Message, "does not match") {
		t.Fatalf("wrong proof: %v", err)
	}
	if _, err := report(rc(3, `"0123456789abcdef0123456789abcdef"`)); !errors.As(err, &ae) || !strings.Contains(ae.Message, "has not been uploaded") {
		t.Fatalf("chunk not uploaded: %v", err)
	}
	res, err := report(rc(1, etags[1]), rc(2, etags[2]))
	if err != nil || res.Processed != 2 || res.Complete {
		t.Fatalf("report 1, 2: %+v, %v", res, err)
	}
	st, err := e.svc.UploadStatus(ctx, u.ID, 1, 10)
	if err != nil || st.Completed != 2 || st.UploadedSize != 2*u.ChunkSize {
		t.Fatalf("status: %+v, %v", st, err)
	}
	// The last chunk: a short body is refused at the report.
	bad := putPart(t, urls[2].URL, chunk(3)[:100])
	if _, err := report(rc(3, bad)); !errors.As(err, &ae) || !strings.Contains(ae.Message, "must be exactly") {
		t.Fatalf("short chunk: %v", err)
	}
	_, again, err := e.svc.PresignURLs(ctx, u.ID, 3, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	etags[3] = putPart(t, again[0].URL, chunk(3))
	res, err = report(rc(3, etags[3]), rc(1, etags[1]))
	if err != nil || !res.Complete || res.Processed != 1 || res.Duplicates != 1 {
		t.Fatalf("last report: %+v, %v", res, err)
	}

	if len(e.jobs) != 1 || e.jobs[0] != res.AssetID {
		t.Fatalf("jobs %v", e.jobs)
	}
	if err := e.svc.Process(ctx, res.AssetID, 1, 5); err != nil {
		t.Fatalf("Process: %v", err)
	}
	a, err := e.svc.Get(ctx, res.AssetID)
	if err != nil || a.Status != asset.Ready || a.Size != int64(len(data)) {
		t.Fatalf("asset: %+v, %v", a, err)
	}
	rd, err := e.blobs.Open(ctx, a.BlobKey)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rd)
	rd.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("the asset's file has %d bytes, not the upload's", len(got))
	}
	if n, err := e.blobs.Usage(ctx, "uploads/"+u.ID); err != nil || n != 0 {
		t.Fatalf("the session left %d bytes behind: %v", n, err)
	}
}

// TestDirectMultipartAbort: aborting a session aborts the store's upload.
func TestDirectMultipartAbort(t *testing.T) {
	t.Parallel()
	e := newDirectEnv(t)
	ctx := context.Background()
	u, urls, err := e.svc.CreateUpload(ctx, asset.UploadRequest{Filename: "a.mp4", Type: "video", TotalSize: blob.MinPartSize + 10}, "")
	if err != nil {
		t.Fatal(err)
	}
	putPart(t, urls[0].URL, make([]byte, blob.MinPartSize))
	key := asset.SourceKey(u.AssetID)
	// The store's upload is the only one for that key.
	if err := e.svc.AbortUpload(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := e.blobs.Usage(ctx, "uploads/"+u.ID); err != nil || n != 0 {
		t.Fatalf("the session left %d bytes behind: %v", n, err)
	}
	if st, ok := e.blobs.(*blob.S3); ok {
		out, err := st.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(st.Bucket()), Prefix: aws.String(st.Key(key))})
		if err != nil || len(out.Uploads) != 0 {
			t.Fatalf("the store's upload is still there: %d, %v", len(out.Uploads), err)
		}
	}
}
