package httpapi_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/framewise/framewise/internal/analysis"
	"github.com/framewise/framewise/internal/asset"
	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/httpapi"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/store"
	"github.com/framewise/framewise/internal/task"
)

const key = "k1"

type assetServer struct {
	*httptest.Server
	assets *asset.Service
	db     *store.DB
	mu     sync.Mutex
	jobs   []string
}

// resolver is the app's adapter from assets to task creation.
type resolver struct{ s *asset.Service }

func (r resolver) ResolveAsset(ctx context.Context, id string) (*task.AssetInfo, error) {
	a, err := r.s.Get(ctx, id)
	var ae *asset.Error
	if errors.As(err, &ae) && ae.Status == 404 {
		return nil, task.ErrAssetNotFound
	}
	if err != nil {
		return nil, err
	}
	info := &task.AssetInfo{Status: string(a.Status), Type: string(a.Type), BlobKey: a.BlobKey, Unanalyzable: a.Unanalyzable, Error: a.ErrorMessage}
	if a.Duration != nil {
		info.Duration = *a.Duration
	}
	return info, nil
}

func newAssetServer(t testing.TB) *assetServer {
	t.Helper()
	dir := t.TempDir()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, _ := blob.NewLocal(filepath.Join(dir, "blobs"))
	tool, err := media.New(media.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := &assetServer{db: db}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	signer, _ := asset.NewSigner(bytes.Repeat([]byte("x"), 32))
	lim := asset.DefaultLimits()
	lim.ChunkSize = 256 << 10
	lim.DirectBytes = 2 << 20
	s.assets = asset.NewService(asset.Config{
		Store: store.NewAssets(db, func(ctx context.Context, tx *sql.Tx, id string) error {
			s.mu.Lock()
			s.jobs = append(s.jobs, id)
			s.mu.Unlock()
			return nil
		}),
		Blobs: blobs, Media: tool, Signer: signer, Limits: lim, Log: log,
	})
	tasks := store.NewTasks(db, func(ctx context.Context, tx *sql.Tx, id string) error { return nil })
	svc := task.NewService(tasks, blobs, analysis.Checker{Media: tool}, task.DefaultLimits(), log)
	svc.UseAssets(resolver{s.assets})
	// Batches with a content limit a few test videos pass (36 s); no
	// queue runs their items.
	bl := task.DefaultBatchLimits()
	bl.MaxContentHours = 0.01
	svc.UseBatches(tasks, bl)
	api := httpapi.New(svc, httpapi.Options{APIKeys: []string{key}, Log: log, MaxBodyBytes: 1 << 20, Assets: s.assets, Batches: svc})
	api.SetReady(true)
	s.Server = httptest.NewServer(api.Handler())
	t.Cleanup(s.Close)
	return s
}

// upload posts a file with method direct and processes its asset.
func (s *assetServer) upload(t *testing.T, path string, process bool) map[string]any {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("method", "direct")
	w, _ := mw.CreateFormFile("file", filepath.Base(path))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	mw.Close()
	resp, m := do(t, "POST", s.URL+"/v1.3/assets", b.String(), "x-api-key", key, "Content-Type", mw.FormDataContentType())
	if resp.StatusCode != 201 || m["status"] != "processing" {
		t.Fatalf("upload %s: %d %v", path, resp.StatusCode, m)
	}
	if process {
		if err := s.assets.Process(context.Background(), m["_id"].(string), 1, 5); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

var genMu sync.Mutex

func gen(t *testing.T, name string, args ...string) string {
	t.Helper()
	genMu.Lock()
	defer genMu.Unlock()
	dir := filepath.Join(os.TempDir(), "framewise-httpapi-test-media")
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".tmp" + filepath.Ext(name)
	if out, err := exec.Command("ffmpeg", append(append([]string{"-y", "-v", "error"}, args...), tmp)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	os.Rename(tmp, path)
	return path
}

func testVideo(t *testing.T, seconds int) string {
	return gen(t, fmt.Sprintf("v%d.mp4", seconds), "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=640x360:rate=10:duration=%d", seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
}

func TestAssetEndpoints(t *testing.T) {
	t.Parallel()
	s := newAssetServer(t)
	h := []string{"x-api-key", key}
	video := s.upload(t, testVideo(t, 6), true)
	vid := video["_id"].(string)
	img := s.upload(t, gen(t, "i.png", "-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1"), true)
	short := s.upload(t, testVideo(t, 2), true)
	pending := s.upload(t, testVideo(t, 6), false)
	aud := s.upload(t, gen(t, "a.m4a", "-f", "lavfi", "-i", "sine=duration=5", "-c:a", "aac"), true)

	resp, m := do(t, "GET", s.URL+"/v1.3/assets/"+vid, "", h...)
	if resp.StatusCode != 200 || m["status"] != "ready" || m["method"] != "direct" || m["file_type"] != "video/mp4" ||
		m["duration"] != 6.0 || m["size"] == nil || m["technical_metadata"].(map[string]any)["video_width"] != 640.0 {
		t.Errorf("GET asset: %d %v", resp.StatusCode, m)
	}

	list := func(q string) (int, []string, map[string]any) {
		resp, m := do(t, "GET", s.URL+"/v1.3/assets"+q, "", h...)
		var ids []string
		for _, d := range m["data"].([]any) {
			ids = append(ids, d.(map[string]any)["_id"].(string))
		}
		return resp.StatusCode, ids, m["page_info"].(map[string]any)
	}
	if code, ids, pi := list(""); code != 200 || len(ids) != 5 || ids[0] != aud["_id"] || pi["total_results"] != 5.0 {
		t.Errorf("list: %d %v %v (want newest first)", code, ids, pi)
	}
	if _, ids, _ := list("?asset_types=image&asset_types=audio"); len(ids) != 2 {
		t.Errorf("asset_types: %v", ids)
	}
	if _, ids, _ := list("?asset_types=document"); len(ids) != 0 {
		t.Errorf("documents: %v", ids)
	}
	if _, ids, _ := list("?filename=V6.MP"); len(ids) != 2 {
		t.Errorf("filename: %v", ids)
	}
	if _, ids, _ := list("?asset_ids=" + vid + "&asset_ids=" + img["_id"].(string)); len(ids) != 2 {
		t.Errorf("asset_ids: %v", ids)
	}
	if code, ids, pi := list("?page=3&page_limit=2"); code != 200 || len(ids) != 1 || pi["total_page"] != 3.0 {
		t.Errorf("page 3: %v %v", ids, pi)
	}
	if code, ids, _ := list("?page=9"); code != 200 || len(ids) != 0 {
		t.Errorf("page past the end: %d %v", code, ids)
	}

	for _, tc := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"GET", "/v1.3/assets/0123456789abcdef01234567", "", 404, "resource_not_exist"},
		{"DELETE", "/v1.3/assets/0123456789abcdef01234567", "", 404, "resource_not_exist"},
		{"GET", "/v1.3/assets?asset_types=pdf", "", 400, "parameter_invalid"},
		{"GET", "/v1.3/assets?page_limit=51", "", 400, "parameter_invalid"},
		{"POST", "/v1.3/assets", `{"method":"direct"}`, 400, "parameter_invalid"},
		{"DELETE", "/v1.3/assets/" + vid + "?force=maybe", "", 400, "parameter_invalid"},
		{"PATCH", "/v1.3/assets/" + vid, "", 405, "method_not_allowed"},
		{"POST", "/v1.3/assets/multipart-uploads", `{"filename":"a.mp4","type":"video"}`, 400, "parameter_not_provided"},
		{"POST", "/v1.3/assets/multipart-uploads", `{"filename":"a.mp4","type":"video","total_size":"1"}`, 400, "parameter_invalid"},
		{"POST", "/v1.3/assets/multipart-uploads", `{"filename":"a.mp4","type":"video","total_size":1,"colour":1}`, 400, "parameter_unknown"},
		{"GET", "/v1.3/assets/multipart-uploads/0123456789abcdef01234567", "", 404, "resource_not_exist"},
	} {
		resp, m := do(t, tc.method, s.URL+tc.path, tc.body, h...)
		if c, shape := code(m); resp.StatusCode != tc.status || c != tc.code || shape != "flat" {
			t.Errorf("%s %s: %d %s %s, want %d %s flat", tc.method, tc.path, resp.StatusCode, c, shape, tc.status, tc.code)
		}
	}
	if resp, _ := do(t, "GET", s.URL+"/v1.3/assets", ""); resp.StatusCode != 401 {
		t.Errorf("no key: %d", resp.StatusCode)
	}

	// Tasks from assets.
	createTask := func(body string) (int, map[string]any) {
		resp, m := do(t, "POST", s.URL+"/v1.3/analyze/tasks", body, h...)
		return resp.StatusCode, m
	}
	videoOf := func(id string) string { return fmt.Sprintf(`"video":{"type":"asset_id","asset_id":%q}`, id) }
	for _, tc := range []struct {
		name, body, code, text string
	}{
		{"unknown", `{` + videoOf("0123456789abcdef01234567") + `,"prompt":"p"}`, "resource_not_exist", "does not exist"},
		{"processing", `{` + videoOf(pending["_id"].(string)) + `,"prompt":"p"}`, "asset_not_ready", "still processing"},
		{"image as video", `{` + videoOf(img["_id"].(string)) + `,"prompt":"p"}`, "asset_type_mismatch", "is an image asset"},
		{"audio as video", `{` + videoOf(aud["_id"].(string)) + `,"prompt":"p"}`, "asset_type_mismatch", "is an audio asset"},
		{"too short", `{` + videoOf(short["_id"].(string)) + `,"prompt":"p"}`, "video_invalid", "below the minimum of 4 s"},
		{"window past the end", `{"model_name":"pegasus1.5",` + videoOf(vid) + `,"prompt":"p","end_time":9}`, "parameter_invalid", "end_time"},
		{"video as media source", `{"model_name":"pegasus1.5",` + videoOf(vid) + `,"prompt_v2":{"input_text":"<@a>","media_sources":[{"name":"a","media_type":"image","asset_id":"` + vid + `"}]}}`,
			"asset_type_mismatch", "prompt_v2.media_sources[0].asset_id"},
	} {
		status, m := createTask(tc.body)
		e, _ := m["error"].(map[string]any)
		if status != 400 || e == nil || e["code"] != tc.code || !strings.Contains(fmt.Sprint(e["message"]), tc.text) {
			t.Errorf("%s: %d %v, want 400 %s with %q", tc.name, status, m, tc.code, tc.text)
		}
	}
	status, m := createTask(`{"model_name":"pegasus1.5",` + videoOf(vid) + `,"prompt_v2":{"input_text":"find <@logo>","media_sources":[{"name":"logo","media_type":"image","asset_id":"` + img["_id"].(string) + `"}]}}`)
	if status != 202 {
		t.Fatalf("task from assets: %d %v", status, m)
	}
	taskID := m["task_id"].(string)
	_, got := do(t, "GET", s.URL+"/v1.3/analyze/tasks/"+taskID, "", h...)
	vs := got["video_source"].(map[string]any)
	if vs["type"] != "asset_id" || vs["asset_id"] != vid || vs["system_metadata"].(map[string]any)["duration"] != 6.0 {
		t.Errorf("video_source %v", vs)
	}
	if _, lm := do(t, "GET", s.URL+"/v1.3/analyze/tasks?asset_id="+vid, "", h...); len(lm["data"].([]any)) != 1 {
		t.Errorf("asset_id filter: %v", lm)
	}

	// The queued task holds the video asset and its reference image asset.
	for _, id := range []string{vid, img["_id"].(string)} {
		resp, m = do(t, "DELETE", s.URL+"/v1.3/assets/"+id, "", h...)
		if c, shape := code(m); resp.StatusCode != 409 || c != "asset_in_use" || shape != "flat" || !strings.Contains(m["message"].(string), "1 analysis task") {
			t.Errorf("delete %s in use: %d %v", id, resp.StatusCode, m)
		}
	}
	if resp, _ := do(t, "DELETE", s.URL+"/v1.3/analyze/tasks/"+taskID, "", h...); resp.StatusCode != 204 {
		t.Fatalf("delete task: %d", resp.StatusCode)
	}
	for _, id := range []string{vid, img["_id"].(string)} {
		if resp, _ := do(t, "DELETE", s.URL+"/v1.3/assets/"+id, "", h...); resp.StatusCode != 204 {
			t.Errorf("delete %s after the task went: %d", id, resp.StatusCode)
		}
	}
}

func TestMultipartEndpoints(t *testing.T) {
	t.Parallel()
	s := newAssetServer(t)
	h := []string{"x-api-key", key}
	data, _ := os.ReadFile(testVideo(t, 6))
	resp, m := do(t, "POST", s.URL+"/v1.3/assets/multipart-uploads",
		fmt.Sprintf(`{"filename":"clip.mp4","type":"video","total_size":%d,"user_metadata":{"team":"a"}}`, len(data)), h...)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %v", resp.StatusCode, m)
	}
	id, assetID := m["upload_id"].(string), m["asset_id"].(string)
	cs := int(m["chunk_size"].(float64))
	total := int(m["total_chunks"].(float64))
	urls := m["upload_urls"].([]any)
	if cs != 256<<10 || total != (len(data)+cs-1)/cs || len(urls) != total || m["upload_headers"] == nil || m["expires_at"] == nil {
		t.Fatalf("create response %v", m)
	}
	chunk := func(i int) []byte { return data[(i-1)*cs : min(i*cs, len(data))] }
	put := func(url string, body []byte) (*http.Response, map[string]any) {
		// No x-api-key: the signature authorizes the PUT.
		return do(t, "PUT", url, string(body), "Content-Type", "application/octet-stream")
	}
	u1 := urls[0].(map[string]any)["url"].(string)
	if !strings.HasPrefix(u1, s.URL+"/uploads/"+id+"/1?") {
		t.Fatalf("url %s does not point at the server", u1)
	}
	resp, _ = put(u1, chunk(1))
	sum := md5.Sum(chunk(1))
	if resp.StatusCode != 200 || resp.Header.Get("ETag") != `"`+hex.EncodeToString(sum[:])+`"` {
		t.Fatalf("PUT: %d, headers %v", resp.StatusCode, resp.Header)
	}
	resp, m = put(u1, chunk(1))
	if c, shape := code(m); resp.StatusCode != 403 || c != "upload_url_used" || shape != "flat" {
		t.Errorf("reused URL: %d %v", resp.StatusCode, m)
	}
	tampered := strings.Replace(u1, "sig=", "sig=0", 1)
	// A bad signature is refused before the body is read and the
	// connection closed at once (as for a missing key): a small body, so
	// that the client is done writing and reads the answer, not a reset.
	if resp, m = put(tampered, []byte("x")); resp.StatusCode != 403 || m["code"] != "upload_url_invalid" {
		t.Errorf("tampered URL: %d %v", resp.StatusCode, m)
	}
	if resp, _ := do(t, "OPTIONS", u1, ""); resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Methods") != "PUT" {
		t.Errorf("preflight: %d", resp.StatusCode)
	}

	report := func(chunks ...string) (*http.Response, map[string]any) {
		return do(t, "POST", s.URL+"/v1.3/assets/multipart-uploads/"+id, `{"completed_chunks":[`+strings.Join(chunks, ",")+`]}`, h...)
	}
	rc := func(i int, proof string) string {
		return fmt.Sprintf(`{"chunk_index":%d,"proof":%q,"proof_type":"etag","chunk_size":%d}`, i, proof, len(chunk(i)))
	}
	if resp, m = report(rc(1, "0000")); resp.StatusCode != 400 || !strings.Contains(m["message"].(string), "chunk 1 does not match") {
		t.Errorf("wrong ETag: %d %v", resp.StatusCode, m)
	}
	if resp, m = report(`{"chunk_index":1,"proof":"x","proof_type":"etag"}`); resp.StatusCode != 400 || m["code"] != "parameter_not_provided" {
		t.Errorf("missing chunk_size: %d %v", resp.StatusCode, m)
	}
	var proofs []string
	for i := 2; i <= total; i++ {
		resp, _ := put(urls[i-1].(map[string]any)["url"].(string), chunk(i))
		proofs = append(proofs, rc(i, strings.Trim(resp.Header.Get("ETag"), `"`)))
	}
	resp, m = report(rc(1, hex.EncodeToString(sum[:])), rc(1, hex.EncodeToString(sum[:])))
	if resp.StatusCode != 200 || m["processed_chunks"] != 1.0 || m["duplicate_chunks"] != 1.0 || m["url"] != nil {
		t.Errorf("report 1: %d %v", resp.StatusCode, m)
	}
	resp, m = do(t, "GET", s.URL+"/v1.3/assets/multipart-uploads/"+id+"?page_limit=2", "", h...)
	if resp.StatusCode != 200 || m["status"] != "active" || m["chunks_completed"] != 1.0 || len(m["uploaded_chunks"].([]any)) != 2 ||
		m["total_size"] != float64(len(data)) {
		t.Errorf("status: %d %v", resp.StatusCode, m)
	}
	resp, m = do(t, "GET", s.URL+"/v1.3/assets/multipart-uploads", "", h...)
	if resp.StatusCode != 200 || len(m["data"].([]any)) != 1 {
		t.Errorf("incomplete uploads: %d %v", resp.StatusCode, m)
	}
	resp, m = do(t, "POST", s.URL+"/v1.3/assets/multipart-uploads/"+id+"/presigned-urls", `{"start":2,"count":50}`, h...)
	if resp.StatusCode != 200 || m["count"] != float64(total-1) || m["start_index"] != 2.0 {
		t.Errorf("presigned-urls: %d %v", resp.StatusCode, m)
	}
	resp, m = report(proofs...)
	if resp.StatusCode != 200 || m["url"] != s.URL+"/v1.3/assets/"+assetID || m["total_completed"] != float64(total) {
		t.Fatalf("final report: %d %v", resp.StatusCode, m)
	}
	if len(s.jobs) != 1 || s.jobs[0] != assetID {
		t.Fatalf("jobs %v", s.jobs)
	}
	if err := s.assets.Process(context.Background(), assetID, 1, 5); err != nil {
		t.Fatal(err)
	}
	resp, m = do(t, "GET", s.URL+"/v1.3/assets/"+assetID, "", h...)
	if resp.StatusCode != 200 || m["status"] != "ready" || m["method"] != "multipart" || m["user_metadata"].(map[string]any)["team"] != "a" {
		t.Errorf("asset: %d %v", resp.StatusCode, m)
	}
	var raw map[string]json.RawMessage
	b, _ := json.Marshal(m)
	json.Unmarshal(b, &raw)
	if _, ok := raw["_id"]; !ok {
		t.Error("asset has no _id")
	}
}
