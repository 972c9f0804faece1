package cli

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
)

// fakeAssets is a minimal asset server: multipart uploads with fixed 1 MiB
// chunks and MD5 ETags, one session at a time (u1) whose asset (a1, a2, …
// in order of sessions) is ready as soon as it is created; direct uploads;
// get, list and delete of assets; and a task endpoint that records its body.
type fakeAssets struct {
	mu        sync.Mutex
	total     int64
	chunks    int
	etags     map[int]string
	reported  map[int]bool
	puts      []int
	creates   int               // multipart sessions
	directs   int               // direct uploads
	assetID   string            // asset of the current session
	assets    map[string]string // status by asset id
	order     []string
	taskBody  map[string]any
	failAfter int // PUTs answered before the server starts failing them with 400; 0 = never
}

func (f *fakeAssets) newAsset() string {
	id := fmt.Sprintf("a%d", len(f.order)+1)
	f.assets[id] = api.AssetReady
	f.order = append(f.order, id)
	return id
}

func (f *fakeAssets) setStatus(id, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if status == "" {
		delete(f.assets, id)
	} else {
		f.assets[id] = status
	}
}

const fakeChunk = 1 << 20

func newFakeAssets(t *testing.T) (*fakeAssets, *httptest.Server) {
	f := &fakeAssets{etags: map[int]string{}, reported: map[int]bool{}, assets: map[string]string{}}
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("POST /v1.3/assets/multipart-uploads", func(w http.ResponseWriter, r *http.Request) {
		var req api.CreateUploadRequest
		json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.creates++
		f.total = req.TotalSize
		f.chunks = int((req.TotalSize + fakeChunk - 1) / fakeChunk)
		f.etags, f.reported = map[int]string{}, map[int]bool{}
		f.assetID = f.newAsset()
		f.mu.Unlock()
		writeTestJSON(w, 201, api.CreateUploadResponse{UploadID: "u1", AssetID: f.assetID, ChunkSize: fakeChunk, TotalChunks: f.chunks,
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
		out := api.ReportChunksResponse{AssetID: f.assetID, TotalCompleted: len(f.reported)}
		if len(f.reported) == f.chunks {
			out.URL = srv.URL + "/v1.3/assets/" + f.assetID
		}
		writeTestJSON(w, 200, out)
	})
	mux.HandleFunc("GET /v1.3/assets/multipart-uploads/u1", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		st := api.UploadStatus{UploadID: "u1", Status: api.UploadActive, TotalSize: f.total, AssetID: f.assetID, ChunkSize: fakeChunk, TotalChunks: f.chunks,
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
	mux.HandleFunc("GET /v1.3/assets/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		id := r.PathValue("id")
		status, ok := f.assets[id]
		if !ok {
			writeTestJSON(w, 404, api.FlatError{Code: api.CodeResourceNotExist, Message: "Asset " + id + " does not exist."})
			return
		}
		writeTestJSON(w, 200, api.Asset{ID: id, Status: status, Method: api.MethodMultipart, CreatedAt: fakeCreated})
		if status == api.AssetProcessing {
			f.assets[id] = api.AssetReady // seen processing once
		}
	})
	mux.HandleFunc("DELETE /v1.3/assets/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.setStatus(r.PathValue("id"), "")
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1.3/assets", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		list := api.AssetList{Data: []api.Asset{}, PageInfo: api.PageInfo{Page: 1, TotalPage: 1}}
		for _, id := range f.order {
			if status, ok := f.assets[id]; ok {
				list.Data = append(list.Data, api.Asset{ID: id, Status: status, Filename: "big.mp4", FileType: "video/mp4", CreatedAt: fakeCreated})
			}
		}
		list.PageInfo.TotalResults = len(list.Data)
		writeTestJSON(w, 200, list)
	})
	mux.HandleFunc("POST /v1.3/assets", func(w http.ResponseWriter, r *http.Request) {
		file, _, err := r.FormFile("file")
		if err != nil {
			writeTestJSON(w, 400, api.FlatError{Code: api.CodeParameterInvalid, Message: err.Error()})
			return
		}
		io.Copy(io.Discard, file)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.directs++
		id := f.newAsset()
		f.assets[id] = api.AssetProcessing
		writeTestJSON(w, 201, api.Asset{ID: id, Status: api.AssetProcessing, Method: api.MethodDirect, CreatedAt: fakeCreated})
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

// writeFileAt writes b at offset off of the file at path.
func writeFileAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestAnalyzeReusesAsset(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAssets(t)
	stateDir := t.TempDir()
	env := testEnv(map[string]string{"FRAMEWISE_URL": srv.URL, "FRAMEWISE_STATE_DIR": stateDir})
	size := int64(maxInlineVideoBytes + 1)
	path := sparseFile(t, size)
	same := sparseFile(t, size)  // same content, elsewhere
	other := sparseFile(t, size) // same size, other content
	writeFileAt(t, other, 100, []byte{1})

	steps := []struct {
		name       string
		before     func()
		file       string
		wantAsset  string
		wantUpload bool
		wantStderr string // a line of stderr
	}{
		{"first upload", nil, path, "a1", true, "uploaded big.mp4 as asset a1"},
		{"same file", nil, path, "a1", false, "reusing asset a1 (same content as " + path + ")\n"},
		{"same content elsewhere", nil, same, "a1", false, "reusing asset a1 (same content as " + same + ")\n"},
		{"same size, other content", nil, other, "a2", true, "uploaded big.mp4 as asset a2"},
		{"asset deleted", func() { f.setStatus("a1", "") }, path, "a3", true, "asset a1 (same content as " + path + ") is gone from the server; uploading again\n"},
		{"asset failed", func() { f.setStatus("a3", api.AssetFailed) }, path, "a4", true, "asset a3 (same content as " + path + ") failed; uploading again\n"},
		{"asset processing", func() { f.setStatus("a4", api.AssetProcessing) }, path, "a4", false, "reusing asset a4 (same content as " + path + ")\nasset a4 processing…\nasset a4 ready\n"},
		{"other content again", nil, other, "a2", false, "reusing asset a2"},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		f.mu.Lock()
		creates := f.creates
		f.mu.Unlock()
		code, stdout, stderr := run(t, env, "analyze", st.file, "--prompt", "x")
		if code != 0 || stdout != "t1\n" {
			t.Fatalf("%s: code %d, stdout %q, stderr %q", st.name, code, stdout, stderr)
		}
		f.mu.Lock()
		uploaded := f.creates > creates
		v, _ := f.taskBody["video"].(map[string]any)
		f.mu.Unlock()
		if uploaded != st.wantUpload {
			t.Errorf("%s: uploaded = %v, want %v; stderr %q", st.name, uploaded, st.wantUpload, stderr)
		}
		if v["asset_id"] != st.wantAsset {
			t.Errorf("%s: task of asset %v, want %s", st.name, v["asset_id"], st.wantAsset)
		}
		if !strings.Contains(stderr, st.wantStderr) {
			t.Errorf("%s: stderr %q does not have %q", st.name, stderr, st.wantStderr)
		}
		if !st.wantUpload && strings.Contains(stderr, "uploading") {
			t.Errorf("%s: stderr %q", st.name, stderr)
		}
	}

	// The cache: one entry per content, the latest asset of each.
	entries := newAssetCache(env).load()
	byAsset := map[string]assetEntry{}
	for _, e := range entries {
		byAsset[e.AssetID] = e
	}
	if len(entries) != 2 || byAsset["a4"].Size != size || byAsset["a2"].Size != size || byAsset["a4"].Server != srv.URL+"/v1.3" {
		t.Errorf("cache entries: %+v", entries)
	}
	zeros := sha256.New()
	io.CopyN(zeros, zeroReader{}, size)
	if got, want := byAsset["a4"].SHA256, hex.EncodeToString(zeros.Sum(nil)); got != want {
		t.Errorf("sha256 %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "assets.json")); err != nil {
		t.Error(err)
	}

	// Another server does not know the asset.
	f2, srv2 := newFakeAssets(t)
	env2 := testEnv(map[string]string{"FRAMEWISE_URL": srv2.URL, "FRAMEWISE_STATE_DIR": stateDir})
	if code, _, stderr := run(t, env2, "analyze", path, "--prompt", "x"); code != 0 || strings.Contains(stderr, "reusing") || f2.creates != 1 {
		t.Errorf("other server: code %d, %d uploads, stderr %q", code, f2.creates, stderr)
	}
}

func TestAssetsUploadRemembersAsset(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAssets(t)
	env := testEnv(map[string]string{"FRAMEWISE_URL": srv.URL, "FRAMEWISE_STATE_DIR": t.TempDir()})
	cache := newAssetCache(env)

	// a small file: uploaded directly, hashed as it is sent
	small := filepath.Join(t.TempDir(), "small.mp4")
	content := []byte("not really a video, but small")
	os.WriteFile(small, content, 0o644)
	if code, stdout, stderr := run(t, env, "assets", "upload", small); code != 0 || stdout != "a1\n" || f.directs != 1 {
		t.Fatalf("small: code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	sum := sha256.Sum256(content)
	if e, ok := cache.get(srv.URL+"/v1.3", hex.EncodeToString(sum[:]), int64(len(content))); !ok || e.AssetID != "a1" || e.Path != small {
		t.Errorf("small file: entry %+v, %v; cache %+v", e, ok, cache.load())
	}

	// a large file: multipart, hashed alongside; analyze then reuses it
	big := sparseFile(t, maxInlineVideoBytes+5)
	if code, stdout, stderr := run(t, env, "assets", "upload", big); code != 0 || stdout != "a2\n" {
		t.Fatalf("big: code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	zeros := sha256.New()
	io.CopyN(zeros, zeroReader{}, maxInlineVideoBytes+5)
	if e, ok := cache.get(srv.URL+"/v1.3", hex.EncodeToString(zeros.Sum(nil)), maxInlineVideoBytes+5); !ok || e.AssetID != "a2" {
		t.Errorf("big file: entry %+v, %v; cache %+v", e, ok, cache.load())
	}
	code, _, stderr := run(t, env, "analyze", big, "--prompt", "x")
	if code != 0 || !strings.Contains(stderr, "reusing asset a2 (same content as "+big+")") || f.creates != 1 {
		t.Errorf("analyze: code %d, %d sessions, stderr %q", code, f.creates, stderr)
	}

	// deleting the asset forgets it
	if code, _, stderr := run(t, env, "assets", "delete", "a2"); code != 0 {
		t.Fatalf("delete: code %d, stderr %q", code, stderr)
	}
	for _, e := range cache.load() {
		if e.AssetID == "a2" {
			t.Errorf("deleted asset still cached: %+v", e)
		}
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestReuseHashesOnlyWithCandidates: a file is hashed before its upload
// only when the cache has an asset of its size on the server; otherwise
// the upload hashes it.
func TestReuseHashesOnlyWithCandidates(t *testing.T) {
	t.Parallel()
	_, srv := newFakeAssets(t)
	env := testEnv(map[string]string{"FRAMEWISE_URL": srv.URL, "FRAMEWISE_STATE_DIR": t.TempDir()})
	cf := &clientFlags{server: srv.URL}
	c := cf.client(env)
	path := filepath.Join(t.TempDir(), "v.mp4")
	os.WriteFile(path, []byte("0123456789"), 0o644)
	ctx := context.Background()

	var o uploadOpts
	if a, err := reuseAsset(ctx, c, cf, path, &o, env); a != nil || err != nil || o.sha256 != "" {
		t.Errorf("empty cache: %v, %v, hash %q", a, err, o.sha256)
	}
	cache := newAssetCache(env)
	cache.put(c.BaseURL(), "otherhash", 10, "a9", "/elsewhere")
	if a, err := reuseAsset(ctx, c, cf, path, &o, env); a != nil || err != nil || o.sha256 == "" {
		t.Errorf("same size, other content: %v, %v, hash %q", a, err, o.sha256)
	}
	cache.put(c.BaseURL(), o.sha256, 10, "a9", path)
	var stderr bytes.Buffer
	env.Stderr = &stderr
	if a, err := reuseAsset(ctx, c, cf, path, &uploadOpts{}, env); a != nil || err != nil || !strings.Contains(stderr.String(), "asset a9 (same content as "+path+") is gone") {
		t.Errorf("gone asset: %v, %v, stderr %q", a, err, stderr.String())
	}
}

func TestAssetCachePrunes(t *testing.T) {
	t.Parallel()
	ac := &assetCache{path: filepath.Join(t.TempDir(), "assets.json")}
	m := map[string]assetEntry{}
	for i := range maxAssetEntries + 2 {
		m[assetKey("s", fmt.Sprint(i), 1)] = assetEntry{Server: "s", SHA256: fmt.Sprint(i), Size: 1, AssetID: fmt.Sprintf("a%d", i),
			Used: fakeCreated.Add(time.Duration(i) * time.Second)}
	}
	if err := writeFileAtomic(ac.path, m); err != nil {
		t.Fatal(err)
	}
	ac.now = func() time.Time { return fakeCreated.Add(time.Hour) }
	if err := ac.put("s", fmt.Sprint(maxAssetEntries+2), 1, "new", "p"); err != nil {
		t.Fatal(err)
	}
	m = ac.load()
	if len(m) != maxAssetEntries {
		t.Fatalf("%d entries", len(m))
	}
	for i := range 3 {
		if _, ok := ac.get("s", fmt.Sprint(i), 1); ok {
			t.Errorf("entry %d, the oldest, is kept", i)
		}
	}
	if _, ok := ac.get("s", fmt.Sprint(maxAssetEntries+2), 1); !ok {
		t.Error("the newest entry is gone")
	}
	// a broken file is an empty cache
	os.WriteFile(ac.path, []byte("{broken"), 0o600)
	if len(ac.load()) != 0 || ac.hasSize("s", 1) {
		t.Error("broken cache file not ignored")
	}
}

func TestStateDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"FRAMEWISE_STATE_DIR": "/x/state", "XDG_CACHE_HOME": "/x/cache"}, "/x/state"},
		{map[string]string{"XDG_CACHE_HOME": "/x/cache", "HOME": "/home/u"}, "/x/cache/framewise"},
		{map[string]string{"XDG_CACHE_HOME": "relative", "HOME": "/home/u"}, "/home/u/.cache/framewise"},
		{map[string]string{"HOME": "/home/u"}, "/home/u/.cache/framewise"},
		{nil, filepath.Join(os.TempDir(), "framewise")},
	}
	if runtime.GOOS != "linux" {
		t.Skip("the defaults tested are those of Linux")
	}
	for _, tt := range tests {
		if got := stateDir(testEnv(tt.vars)); got != tt.want {
			t.Errorf("stateDir(%v) = %q, want %q", tt.vars, got, tt.want)
		}
	}
}

// TestListDates: tasks and assets show times the same way.
func TestListDates(t *testing.T) {
	t.Parallel()
	f, env := newFakeAPI(t)
	f.seed("t1", api.Task{Status: api.StatusReady})
	fa, srv := newFakeAssets(t)
	fa.mu.Lock()
	fa.newAsset()
	fa.mu.Unlock()
	aenv := testEnv(map[string]string{"FRAMEWISE_URL": srv.URL})
	want := formatTime(fakeCreated)
	for _, args := range [][]string{{"tasks", "list"}, {"tasks", "get", "t1"}} {
		if _, stdout, _ := run(t, env, args...); !strings.Contains(stdout, want) {
			t.Errorf("%v:\n%s\nwant %s", args, stdout, want)
		}
	}
	for _, args := range [][]string{{"assets", "list"}, {"assets", "get", "a1"}} {
		if _, stdout, _ := run(t, aenv, args...); !strings.Contains(stdout, want) {
			t.Errorf("%v:\n%s\nwant %s", args, stdout, want)
		}
	}
}
