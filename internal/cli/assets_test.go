package cli

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
)

// fakeAssets is a minimal multipart-upload server: fixed 1 MiB chunks,
// MD5 ETags, an asset that is ready as soon as every chunk is reported,
// and a task endpoint that records its body.
type fakeAssets struct {
	mu        sync.Mutex
	total     int64
	chunks    int
	etags     map[int]string
	reported  map[int]bool
	puts      []int
	creates   int
	taskBody  map[string]any
	failAfter int // PUTs answered before the server starts failing them with 400; 0 = never
}

const fakeChunk = 1 << 20

func newFakeAssets(t *testing.T) (*fakeAssets, *httptest.Server) {
	f := &fakeAssets{etags: map[int]string{}, reported: map[int]bool{}}
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("POST /v1.3/assets/multipart-uploads", func(w http.ResponseWriter, r *http.Request) {
		var req api.CreateUploadRequest
		json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.creates++
		f.total = req.TotalSize
		f.chunks = int((req.TotalSize + fakeChunk - 1) / fakeChunk)
		f.mu.Unlock()
		writeTestJSON(w, 201, api.CreateUploadResponse{UploadID: "u1", AssetID: "a1", ChunkSize: fakeChunk, TotalChunks: f.chunks,
			UploadURLs: []api.PresignedURL{{ChunkIndex: 1, URL: srv.URL + "/put/1", ExpiresAt: time.Now().Add(time.Hour)}}})
	})
	mux.HandleFunc("POST /v1.3/assets/multipart-uploads/u1/presigned-urls", func(w http.ResponseWriter, r *http.Request) {
		var req api.PresignedURLsRequest
		json.NewDecoder(r.Body).Decode(&req)
		out := api.PresignedURLsResponse{UploadID: "u1", StartIndex: req.Start}
		for i := req.Start; i < req.Start+req.Count && i <= f.chunks; i++ {
			out.UploadURLs = append(out.UploadURLs, api.PresignedURL{ChunkIndex: i, URL: fmt.Sprintf("%s/put/%d", srv.URL, i), ExpiresAt: time.Now().Add(time.Hour)})
		}
		writeTestJSON(w, 200, out)
	})
	mux.HandleFunc("PUT /put/{i}", func(w http.ResponseWriter, r *http.Request) {
		var i int
		fmt.Sscan(r.PathValue("i"), &i)
		f.mu.Lock()
		fail := f.failAfter > 0 && len(f.puts) >= f.failAfter
		if !fail {
			f.puts = append(f.puts, i)
		}
		f.mu.Unlock()
		if fail {
			writeTestJSON(w, 400, api.FlatError{Code: "broken", Message: "simulated failure"})
			return
		}
		h := md5.New()
		io.Copy(h, r.Body)
		etag := hex.EncodeToString(h.Sum(nil))
		f.mu.Lock()
		f.etags[i] = etag
		f.mu.Unlock()
		w.Header().Set("ETag", `"`+etag+`"`)
	})
	mux.HandleFunc("POST /v1.3/assets/multipart-uploads/u1", func(w http.ResponseWriter, r *http.Request) {
		var req api.ReportChunksRequest
		json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range req.CompletedChunks {
			if f.etags[c.ChunkIndex] != c.Proof {
				writeTestJSON(w, 400, api.FlatError{Code: "parameter_invalid", Message: "bad proof"})
				return
			}
			f.reported[c.ChunkIndex] = true
		}
		out := api.ReportChunksResponse{AssetID: "a1", TotalCompleted: len(f.reported)}
		if len(f.reported) == f.chunks {
			out.URL = srv.URL + "/v1.3/assets/a1"
		}
		writeTestJSON(w, 200, out)
	})
	mux.HandleFunc("GET /v1.3/assets/multipart-uploads/u1", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		st := api.UploadStatus{UploadID: "u1", Status: api.UploadActive, TotalSize: f.total, AssetID: "a1", ChunkSize: fakeChunk, TotalChunks: f.chunks,
			PageInfo: api.PageInfo{Page: 1, TotalPage: 1, TotalResults: f.chunks}}
		for i := 1; i <= f.chunks; i++ {
			s := api.ChunkPending
			if f.reported[i] {
				s = api.ChunkCompleted
			}
			st.UploadedChunks = append(st.UploadedChunks, api.ChunkInfo{Index: i, Status: s})
		}
		writeTestJSON(w, 200, st)
	})
	mux.HandleFunc("GET /v1.3/assets/a1", func(w http.ResponseWriter, r *http.Request) {
		writeTestJSON(w, 200, api.Asset{ID: "a1", Status: api.AssetReady, Method: api.MethodMultipart})
	})
	mux.HandleFunc("POST /v1.3/analyze/tasks", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		json.NewDecoder(r.Body).Decode(&f.taskBody)
		f.mu.Unlock()
		writeTestJSON(w, 202, api.CreateTaskResponse{TaskID: "t1", Status: api.StatusQueued})
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

func sparseFile(t *testing.T, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big.mp4")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := fh.Truncate(size); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	fh.Close()
	return path
}

func TestAnalyzeLargeFileUploadsAsset(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAssets(t)
	path := sparseFile(t, maxInlineVideoBytes+1)
	env := testEnv(map[string]string{"FRAMEWISE_URL": srv.URL, "FRAMEWISE_STATE_DIR": t.TempDir()})
	code, stdout, stderr := run(t, env, "analyze", path, "--prompt", "x")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	if stdout != "t1\n" {
		t.Errorf("stdout %q", stdout)
	}
	if want := 31; len(f.puts) != want {
		t.Errorf("%d chunk PUTs, want %d", len(f.puts), want)
	}
	v, _ := f.taskBody["video"].(map[string]any)
	if v["type"] != "asset_id" || v["asset_id"] != "a1" {
		t.Errorf("task video = %v", v)
	}
}

func TestAssetsUploadResumes(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAssets(t)
	f.failAfter = 5
	path := sparseFile(t, 12*fakeChunk+123)
	env := testEnv(map[string]string{"FRAMEWISE_URL": srv.URL, "FRAMEWISE_STATE_DIR": t.TempDir()})
	code, _, stderr := run(t, env, "assets", "upload", path, "--multipart", "--concurrency", "1")
	if code != 1 || !strings.Contains(stderr, "simulated failure") {
		t.Fatalf("first run: code %d, stderr %q", code, stderr)
	}
	f.mu.Lock()
	first := append([]int(nil), f.puts...)
	done := len(f.reported)
	f.failAfter = 0
	f.puts = nil
	f.mu.Unlock()
	if done != 5 || len(first) != 5 {
		t.Fatalf("first run sent %v and reported %d chunks, want 5 and 5", first, done)
	}

	code, stdout, stderr := run(t, env, "assets", "upload", path, "--multipart")
	if code != 0 || stdout != "a1\n" {
		t.Fatalf("second run: code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "resuming upload u1: 5 of 13 chunks") {
		t.Errorf("stderr %q does not say it resumes", stderr)
	}
	if f.creates != 1 {
		t.Errorf("%d sessions created, want 1", f.creates)
	}
	sent := map[int]bool{}
	for _, i := range f.puts {
		sent[i] = true
	}
	for _, i := range first {
		if sent[i] {
			t.Errorf("chunk %d sent again after resuming", i)
		}
	}
	if len(f.puts) != 8 || len(f.reported) != 13 {
		t.Errorf("second run sent %d chunks (want 8), %d reported (want 13)", len(f.puts), len(f.reported))
	}
}
