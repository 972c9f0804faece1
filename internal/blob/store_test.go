package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/blob/blobtest"
	"github.com/framewise/framewise/internal/diskspace"
)

// testPartSize keeps the multipart tests small: S3's smallest part.
const testPartSize = minPartSize

// stores returns a constructor of each kind of store, for a behaviour
// suite: Local, and S3 (skipped without the test server, see
// blobtest.S3URL). Call it in the subtest.
func stores() map[string]func(t *testing.T) Store {
	return map[string]func(t *testing.T) Store{
		"local": func(t *testing.T) Store {
			l, err := NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		"s3": func(t *testing.T) Store { return newTestS3(t, context.Background()) },
	}
}

func newTestS3(t *testing.T, ctx context.Context) *S3 {
	t.Helper()
	opt, err := parseS3URL(blobtest.S3URL(t))
	if err != nil {
		t.Fatal(err)
	}
	opt.TempDir = t.TempDir()
	opt.PartSize = testPartSize
	s, err := NewS3(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func read(t *testing.T, s Store, key string) string {
	t.Helper()
	rc, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%s): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return string(b)
}

func TestStores(t *testing.T) {
	t.Parallel()
	for name, newStore := range stores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			ctx := context.Background()
			put := func(key, v string) {
				t.Helper()
				if n, err := s.Put(ctx, key, strings.NewReader(v)); err != nil || n != int64(len(v)) {
					t.Fatalf("Put(%s) = %d, %v", key, n, err)
				}
			}
			put("tasks/abc/source", "hello")
			put("tasks/abc/frames/1", "f1")
			put("tasks/abcd/source", "sibling")
			if got := read(t, s, "tasks/abc/source"); got != "hello" {
				t.Fatalf("Open: %q", got)
			}
			put("tasks/abc/source", "replaced")
			if got := read(t, s, "tasks/abc/source"); got != "replaced" {
				t.Fatalf("after replace: %q", got)
			}

			p, release, err := s.LocalPath(ctx, "tasks/abc/source")
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(p); string(b) != "replaced" {
				t.Fatalf("LocalPath content %q", b)
			}
			release()
			if _, isS3 := s.(*S3); isS3 {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Fatalf("release left the temporary file: %v", err)
				}
			}

			if n, err := s.Usage(ctx, "tasks/abc"); err != nil || n != int64(len("replaced")+len("f1")) {
				t.Fatalf("Usage(tasks/abc) = %d, %v", n, err)
			}
			if n, err := s.Usage(ctx, ""); err != nil || n != int64(len("replaced")+len("f1")+len("sibling")) {
				t.Fatalf("Usage() = %d, %v", n, err)
			}

			// Delete takes the key and what is below it, not its siblings.
			if err := s.Delete(ctx, "tasks/abc"); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"tasks/abc/source", "tasks/abc/frames/1"} {
				if _, err := s.Open(ctx, k); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Open(%s) after delete: %v", k, err)
				}
			}
			if got := read(t, s, "tasks/abcd/source"); got != "sibling" {
				t.Fatalf("sibling after delete: %q", got)
			}
			if err := s.Delete(ctx, "tasks/abc"); err != nil {
				t.Fatalf("second delete: %v", err)
			}
			if err := s.Delete(ctx, "tasks/abcd/source"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Open(ctx, "tasks/abcd/source"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a deleted single key: %v", err)
			}

			if _, _, err := s.LocalPath(ctx, "missing/key"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("LocalPath(missing): %v", err)
			}
			for _, k := range []string{"", "../x", "/etc/passwd", "a/../../b"} {
				if _, err := s.Put(ctx, k, strings.NewReader("x")); err == nil {
					t.Errorf("Put(%q) accepted", k)
				}
				if err := s.Delete(ctx, k); err == nil {
					t.Errorf("Delete(%q) accepted", k)
				}
			}
		})
	}
}

// TestStoresSizes puts blobs around the part size: empty, one byte, one
// part less a byte, one part, one part and a byte, several parts.
func TestStoresSizes(t *testing.T) {
	t.Parallel()
	for name, newStore := range stores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			ctx := context.Background()
			for _, size := range []int{0, 1, testPartSize - 1, testPartSize, testPartSize + 1, 3*testPartSize + 17} {
				data := make([]byte, size)
				rand.NewChaCha8([32]byte{byte(size)}).Read(data)
				// A reader that hands out odd amounts, as a network would.
				r := &chunkyReader{r: bytes.NewReader(data), max: 70001}
				if n, err := s.Put(ctx, "sizes/blob", r); err != nil || n != int64(size) {
					t.Fatalf("Put(%d bytes) = %d, %v", size, n, err)
				}
				if got := read(t, s, "sizes/blob"); got != string(data) {
					t.Fatalf("%d bytes: read back %d bytes, not the same", size, len(got))
				}
			}
		})
	}
}

type chunkyReader struct {
	r   io.Reader
	max int
}

func (c *chunkyReader) Read(p []byte) (int, error) {
	return c.r.Read(p[:min(len(p), c.max)])
}

// TestStoresQuota: the quota counts and refuses over either store.
func TestStoresQuota(t *testing.T) {
	t.Parallel()
	for name, newStore := range stores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			ctx := context.Background()
			if _, err := s.Put(ctx, "assets/old/source", bytes.NewReader(make([]byte, 300))); err != nil {
				t.Fatal(err)
			}
			q, err := NewQuota(ctx, s, 1000)
			if err != nil || q.Used() != 300 {
				t.Fatalf("NewQuota: used %d, %v", q.Used(), err)
			}
			if _, err := q.Put(ctx, "a/1", bytes.NewReader(make([]byte, 500))); err != nil || q.Used() != 800 {
				t.Fatalf("put within the quota: used %d, %v", q.Used(), err)
			}
			var qe *diskspace.QuotaError
			if _, err := q.Put(ctx, "a/2", bytes.NewReader(make([]byte, 300))); !errors.As(err, &qe) || q.Used() != 800 {
				t.Fatalf("put over the quota: used %d, %v", q.Used(), err)
			}
			if _, err := s.Open(ctx, "a/2"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a refused put stored something: %v", err)
			}
			if _, err := q.Put(ctx, "a/1", bytes.NewReader(make([]byte, 100))); err != nil || q.Used() != 400 {
				t.Fatalf("replace: used %d, %v", q.Used(), err)
			}
			if err := q.Delete(ctx, "assets/old"); err != nil || q.Used() != 100 {
				t.Fatalf("delete: used %d, %v", q.Used(), err)
			}
		})
	}
}

func TestS3CreatesBucket(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u := blobtest.S3URL(t)
	u.Host = "fw-new-" + blobtest.Random()
	s, err := Open(ctx, u.String(), t.TempDir())
	if err != nil {
		t.Fatalf("Open with a new bucket: %v", err)
	}
	if _, err := s.Put(ctx, "k", strings.NewReader("v")); err != nil {
		t.Fatal(err)
	}
	// Opening it again finds the bucket there.
	s2, err := Open(ctx, u.String(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, s2, "k"); got != "v" {
		t.Fatalf("read %q", got)
	}
}

// TestS3PutStreams puts 256 MiB from a generator with the default part
// size and concurrency: the Go heap must stay within the Put's buffers
// ((Concurrency+1) parts) and some slack, far below the object's size.
// Not parallel: other tests would allocate meanwhile.
func TestS3PutStreams(t *testing.T) {
	ctx := context.Background()
	opt, err := parseS3URL(blobtest.S3URL(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewS3(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	const size = 256 << 20
	bound := uint64((s.opt.Concurrency+1)*int(s.opt.PartSize)) + 16<<20

	sum := sha256.New()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{1}), size), sum)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // sample the heap in use while the Put runs
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	n, err := s.Put(ctx, "big/blob", src)
	close(done)
	<-sampled
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("Put = %d, %v", n, err)
	}
	growth := peak.Load() - min(peak.Load(), before.HeapInuse)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("put %d MiB in %v: heap in use grew by at most %.1f MiB, %.1f MiB allocated in all (bound %.1f MiB)",
		size>>20, time.Since(start).Round(time.Millisecond), float64(growth)/(1<<20), float64(allocated)/(1<<20), float64(bound)/(1<<20))
	if growth > bound || allocated > bound {
		t.Errorf("memory not flat: heap grew %d bytes, %d allocated; bound %d", growth, allocated, bound)
	}

	rc, err := s.Open(ctx, "big/blob")
	if err != nil {
		t.Fatal(err)
	}
	back := sha256.New()
	m, err := io.Copy(back, rc)
	rc.Close()
	if err != nil || m != size || !bytes.Equal(back.Sum(nil), sum.Sum(nil)) {
		t.Fatalf("read back %d bytes, %v; same content %v", m, err, bytes.Equal(back.Sum(nil), sum.Sum(nil)))
	}
	if err := s.Delete(ctx, "big"); err != nil {
		t.Fatal(err)
	}
}

// TestS3PutFailsCleanly: a reader failing midway fails the Put, and no
// object appears.
func TestS3PutFailsCleanly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestS3(t, ctx)
	boom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(make([]byte, 2*testPartSize+5)), errReader{boom})
	if _, err := s.Put(ctx, "broken", r); !errors.Is(err, boom) {
		t.Fatalf("Put = %v, want boom", err)
	}
	if _, err := s.Open(ctx, "broken"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a failed Put left an object: %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestOpenURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, "", dir)
	if l, ok := s.(*Local); err != nil || !ok || l.Dir != filepath.Join(dir, "blobs") {
		t.Fatalf("default: %#v, %v", s, err)
	}
	other := filepath.Join(dir, "elsewhere")
	s, err = Open(ctx, "file://"+filepath.ToSlash(other), dir)
	if l, ok := s.(*Local); err != nil || !ok || l.Dir != other {
		t.Fatalf("file URL: %#v, %v", s, err)
	}
	for _, bad := range []string{
		"file://host/x", "file:relative", "file:///x?y=1",
		"s3://", "s3://bucket/path", "s3://bucket?color=red", "s3://bucket?region=a&region=b",
		"s3://key:secret@bucket", "s3://bucket?endpoint=ftp://x", "s3://bucket?endpoint=127.0.0.1:7070",
		"gs://bucket", "/plain/path", "%zz",
	} {
		_, err := Open(ctx, bad, dir)
		if err == nil {
			t.Errorf("Open(%q): no error", bad)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q): the error shows the secret: %v", bad, err)
		}
	}
	opt, err := parseS3URL(mustURL(t, "s3://media?endpoint=http://127.0.0.1:7070&region=eu-west-1&prefix=/fw/"))
	if err != nil || opt.Bucket != "media" || opt.Endpoint != "http://127.0.0.1:7070" || opt.Region != "eu-west-1" || opt.Prefix != "fw" || opt.ProxyUploads {
		t.Fatalf("parse: %+v, %v", opt, err)
	}
	if opt, err := parseS3URL(mustURL(t, "s3://media?direct_uploads=false")); err != nil || !opt.ProxyUploads {
		t.Fatalf("direct_uploads=false: %+v, %v", opt, err)
	}
	if _, err := parseS3URL(mustURL(t, "s3://media?direct_uploads=maybe")); err == nil {
		t.Fatal("direct_uploads=maybe: no error")
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestS3Multipart: parts PUT by a client to presigned URLs become the blob
// at completion, counted by the quota; aborted uploads are gone.
func TestS3Multipart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestS3(t, ctx)
	if MultipartOf(&Local{Dir: t.TempDir()}) != nil {
		t.Fatal("Local has direct multipart uploads")
	}
	q, err := NewQuota(ctx, s, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	m := MultipartOf(q)
	if m == nil {
		t.Fatal("no Multipart under the quota")
	}
	id, err := m.CreateMultipart(ctx, "assets/a/source")
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, MinPartSize+3)
	rand.NewChaCha8([32]byte{7}).Read(data)
	for i, part := range [][]byte{data[:MinPartSize], data[MinPartSize:]} {
		u, err := m.PresignPart(ctx, "assets/a/source", id, i+1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(part))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT part %d: %v %v", i+1, resp, err)
		}
		resp.Body.Close()
	}
	parts, err := m.ListParts(ctx, "assets/a/source", id)
	if err != nil || len(parts) != 2 || parts[0].Size != MinPartSize || parts[1].Size != 3 || parts[1].ETag == "" {
		t.Fatalf("ListParts: %+v, %v", parts, err)
	}
	if _, err := s.Open(ctx, "assets/a/source"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the blob is there before completion: %v", err)
	}
	n, err := m.CompleteMultipart(ctx, "assets/a/source", id, parts)
	if err != nil || n != int64(len(data)) || q.Used() != n {
		t.Fatalf("Complete = %d, %v; quota used %d", n, err, q.Used())
	}
	if got := read(t, s, "assets/a/source"); got != string(data) {
		t.Fatal("the completed blob differs")
	}
	// Completing again: S3 may answer NoSuchUpload or succeed again
	// (versitygw does); either way the quota counts the blob once.
	if n, err := m.CompleteMultipart(ctx, "assets/a/source", id, parts); (err != nil && !errors.Is(err, ErrNotFound)) || q.Used() != int64(len(data)) {
		t.Fatalf("completing twice: %d, %v; quota used %d", n, err, q.Used())
	}

	id2, err := m.CreateMultipart(ctx, "assets/b/source")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AbortMultipart(ctx, "assets/b/source", id2); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ListParts(ctx, "assets/b/source", id2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ListParts of an aborted upload: %v", err)
	}
	if err := m.AbortMultipart(ctx, "assets/b/source", id2); err != nil {
		t.Fatalf("aborting twice: %v", err)
	}
}

func TestRemoveStale(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old, fresh, other := filepath.Join(dir, "blob-1"), filepath.Join(dir, "blob-2"), filepath.Join(dir, "keep")
	for _, p := range []string{old, fresh, other} {
		os.WriteFile(p, []byte("x"), 0o600)
	}
	long := time.Now().Add(-2 * staleAfter)
	os.Chtimes(old, long, long)
	os.Chtimes(other, long, long)
	removeStale(dir, time.Now().Add(-staleAfter))
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Error("a stale copy was kept")
	}
	for _, p := range []string{fresh, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
	removeStale(filepath.Join(dir, "missing"), time.Now()) // no folder: nothing to do
}
