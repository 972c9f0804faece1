package httpapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/framewise/framewise/internal/analysis"
	"github.com/framewise/framewise/internal/asset"
	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/httpapi"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/store"
	"github.com/framewise/framewise/internal/task"
)

// syncBuffer is a log destination shared by handler goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newUploadServer serves the asset routes over blobs, logging into logw.
func newUploadServer(t *testing.T, publicURL string, blobs asset.Blobs, logw io.Writer) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	local, _ := blob.NewLocal(filepath.Join(dir, "blobs"))
	if blobs == nil {
		blobs = local
	}
	tool, err := media.New(media.Config{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(logw, nil))
	signer, _ := asset.NewSigner(bytes.Repeat([]byte("x"), 32))
	lim := asset.DefaultLimits()
	lim.ChunkSize = 1 << 10
	assets := asset.NewService(asset.Config{
		Store: store.NewAssets(db, func(ctx context.Context, tx *sql.Tx, id string) error { return nil }),
		Blobs: blobs, Media: tool, Signer: signer, Limits: lim, Log: log,
	})
	tasks := store.NewTasks(db, func(ctx context.Context, tx *sql.Tx, id string) error { return nil })
	svc := task.NewService(tasks, local, analysis.Checker{Media: tool}, task.DefaultLimits(), log)
	api := httpapi.New(svc, httpapi.Options{APIKeys: []string{"k"}, Log: log, Assets: assets, PublicURL: publicURL})
	api.SetReady(true)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// send makes a request with the given Host header and decodes a JSON answer.
func send(t *testing.T, method, url, host, contentType string, body []byte) (*http.Response, map[string]any, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if host != "" {
		req.Host = host
	}
	req.Header.Set("x-api-key", "k")
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp, m, string(raw)
}

func firstURL(m map[string]any) string {
	urls, _ := m["upload_urls"].([]any)
	if len(urls) == 0 {
		return ""
	}
	u, _ := urls[0].(map[string]any)["url"].(string)
	return u
}

// Without --public-url, presigned URLs take the request's Host only when
// it names this server: a loopback name or the address the request came
// in on. A foreign Host is refused (421) rather than put into the URLs.
func TestPresignedURLHostRule(t *testing.T) {
	t.Parallel()
	srv := newUploadServer(t, "", nil, io.Discard)
	addr := strings.TrimPrefix(srv.URL, "http://") // 127.0.0.1:port
	_, port, _ := strings.Cut(addr, ":")
	create := []byte(`{"filename":"v.mp4","type":"video","total_size":3000}`)
	for _, tc := range []struct {
		host string
		want string // prefix of the presigned URLs; "" for a refusal
	}{
		{"", "http://" + addr + "/uploads/"},
		{"localhost:" + port, "http://localhost:" + port + "/uploads/"},
		{"localhost:9000", "http://localhost:9000/uploads/"}, // a port mapping
		{"evil.example", ""},
		{"evil.example:" + port, ""},
		{"10.0.0.1:" + port, ""},
		{"localhost.evil.example:" + port, ""},
	} {
		resp, m, raw := send(t, "POST", srv.URL+"/v1.3/assets/multipart-uploads", tc.host, "application/json", create)
		if tc.want == "" {
			if resp.StatusCode != http.StatusMisdirectedRequest || !strings.Contains(raw, "--public-url") || strings.Contains(raw, "upload_urls") {
				t.Errorf("Host %q: %d %s; want 421 naming --public-url", tc.host, resp.StatusCode, raw)
			}
			continue
		}
		if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(firstURL(m), tc.want) {
			t.Errorf("Host %q: %d, first URL %q; want 201 and %s…", tc.host, resp.StatusCode, firstURL(m), tc.want)
			continue
		}
		// More URLs follow the same rule.
		id := m["upload_id"].(string)
		more := srv.URL + "/v1.3/assets/multipart-uploads/" + id + "/presigned-urls"
		if resp, m, _ := send(t, "POST", more, tc.host, "application/json", []byte(`{"start":2,"count":1}`)); resp.StatusCode != 200 || !strings.HasPrefix(firstURL(m), tc.want) {
			t.Errorf("Host %q: presigned-urls %d %q", tc.host, resp.StatusCode, firstURL(m))
		}
		if resp, _, _ := send(t, "POST", more, "evil.example", "application/json", []byte(`{"start":2,"count":1}`)); resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("presigned-urls with a foreign Host: %d, want 421", resp.StatusCode)
		}
		if resp, _, _ := send(t, "POST", srv.URL+"/v1.3/assets/multipart-uploads/"+id, "evil.example", "application/json",
			[]byte(`{"completed_chunks":[]}`)); resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("report with a foreign Host: %d, want 421", resp.StatusCode)
		}
	}

	// With --public-url, the Host does not matter.
	pub := newUploadServer(t, "https://fw.example.com", nil, io.Discard)
	resp, m, _ := send(t, "POST", pub.URL+"/v1.3/assets/multipart-uploads", "evil.example", "application/json", create)
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(firstURL(m), "https://fw.example.com/uploads/") {
		t.Errorf("--public-url: %d %q", resp.StatusCode, firstURL(m))
	}
}

// failingDisk is a blob store that fails to write with errno, with an
// error naming the server's files.
type failingDisk struct {
	*blob.Local
	errno syscall.Errno
}

const serverPath = "/srv/framewise/data/blobs/assets/x/.part-123"

func (d failingDisk) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	n, _ := io.CopyN(io.Discard, r, 100)
	return n, &fs.PathError{Op: "write", Path: serverPath, Err: d.errno}
}

// A file the server fails to store is the server's problem: a full disk
// is 507 insufficient_storage, another failure a 500 with a generic
// message and the request id; the file path goes only to the log, with
// that request id.
func TestStorageFailureHidesServerPaths(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		errno  syscall.Errno
		status int
	}{{syscall.ENOSPC, http.StatusInsufficientStorage}, {syscall.EIO, http.StatusInternalServerError}} {
		dir := t.TempDir()
		local, _ := blob.NewLocal(dir)
		var logs syncBuffer
		srv := newUploadServer(t, "", failingDisk{local, c.errno}, &logs)

		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.WriteField("method", "direct")
		w, _ := mw.CreateFormFile("file", "v.mp4")
		w.Write(append([]byte("\x00\x00\x00\x20ftypisom"), make([]byte, 4000)...))
		mw.Close()
		resp, _, raw := send(t, "POST", srv.URL+"/v1.3/assets", "", mw.FormDataContentType(), b.Bytes())
		checkHidden(t, "direct upload", c.status, resp, raw, &logs)

		_, m, _ := send(t, "POST", srv.URL+"/v1.3/assets/multipart-uploads", "", "application/json", []byte(`{"filename":"v.mp4","type":"video","total_size":3000}`))
		chunk := firstURL(m)
		if chunk == "" {
			t.Fatalf("no presigned URL: %v", m)
		}
		resp, _, raw = send(t, "PUT", chunk, "", "application/octet-stream", make([]byte, 1024))
		checkHidden(t, "chunk PUT", c.status, resp, raw, &logs)
	}
}

func checkHidden(t *testing.T, what string, status int, resp *http.Response, body string, logs *syncBuffer) {
	t.Helper()
	id := resp.Header.Get("X-Request-Id")
	switch {
	case resp.StatusCode != status || id == "":
		t.Errorf("%s: %d %s; want %d", what, resp.StatusCode, body, status)
	case status == http.StatusInternalServerError && !strings.Contains(body, id):
		t.Errorf("%s: %s; want the request id", what, body)
	case status == http.StatusInsufficientStorage && !strings.Contains(body, `"insufficient_storage"`):
		t.Errorf("%s: %s; want insufficient_storage", what, body)
	}
	for _, leak := range []string{"/srv/", "part-", "no space", "blob"} {
		if strings.Contains(body, leak) {
			t.Errorf("%s: the answer carries %q: %s", what, leak, body)
		}
	}
	found := false
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, id) && strings.Contains(line, serverPath) && strings.Contains(line, "could not store the file") {
			found = true
		}
	}
	if !found {
		t.Errorf("%s: no log line with request id %s and the cause:\n%s", what, id, logs.String())
	}
}
