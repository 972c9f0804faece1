package asset_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/asset"
	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/store"
	"github.com/framewise/framewise/internal/task"
)

type env struct {
	svc   *asset.Service
	db    *store.DB
	blobs *blob.Local
	mu    sync.Mutex
	jobs  []string
	now   time.Time
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// newEnv builds the service over real SQLite, blob store and FFmpeg, with
// small chunks; jobs are recorded rather than queued, and run with process.
func newEnv(t *testing.T) *env {
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
	e := &env{db: db, blobs: blobs, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	signer, _ := asset.NewSigner(bytes.Repeat([]byte("s"), 32))
	lim := asset.DefaultLimits()
	lim.ChunkSize = 64 << 10
	lim.InitialURLs = 3
	lim.DirectBytes = 4 << 20
	lim.ImageBytes = 1 << 20
	st := store.NewAssets(db, func(ctx context.Context, tx *sql.Tx, id string) error {
		e.mu.Lock()
		e.jobs = append(e.jobs, id)
		e.mu.Unlock()
		return nil
	})
	e.svc = asset.NewService(asset.Config{Store: st, Blobs: blobs, Media: tool, Signer: signer, Limits: lim,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: e.clock})
	return e
}

func (e *env) process(t *testing.T, id string) *asset.Asset {
	t.Helper()
	if err := e.svc.Process(context.Background(), id, 1, 5); err != nil {
		t.Fatalf("Process: %v", err)
	}
	a, err := e.svc.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var mediaCache sync.Map

// makeMedia generates a file with ffmpeg once per test binary.
func makeMedia(t *testing.T, name string, args ...string) string {
	t.Helper()
	if p, ok := mediaCache.Load(name); ok {
		return p.(string)
	}
	dir := filepath.Join(os.TempDir(), "framewise-asset-test-media")
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		tmp := path + ".tmp" + filepath.Ext(name)
		cmd := exec.Command("ffmpeg", append(append([]string{"-y", "-v", "error"}, args...), tmp)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out)
		}
		os.Rename(tmp, path)
	}
	mediaCache.Store(name, path)
	return path
}

func video(t *testing.T) string {
	return makeMedia(t, "v6.mp4", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=10:duration=6",
		"-f", "lavfi", "-i", "sine=duration=6", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest")
}

func shortVideo(t *testing.T) string {
	return makeMedia(t, "v2.mp4", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=10:duration=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
}

func image(t *testing.T) string {
	return makeMedia(t, "i.png", "-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1")
}

func audio(t *testing.T) string {
	return makeMedia(t, "a.m4a", "-f", "lavfi", "-i", "sine=duration=3", "-c:a", "aac")
}

// form builds a multipart/form-data body; a field named "file" with a
// value of the form "@path" becomes the file part.
func form(t *testing.T, fields ...string) *multipart.Reader {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		k, v := fields[i], fields[i+1]
		if k == "file" && strings.HasPrefix(v, "@") {
			data, err := os.ReadFile(v[1:])
			if err != nil {
				t.Fatal(err)
			}
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filepath.Base(v[1:])))
			h.Set("Content-Type", "application/octet-stream")
			w, _ := mw.CreatePart(h)
			w.Write(data)
			continue
		}
		mw.WriteField(k, v)
	}
	mw.Close()
	return multipart.NewReader(&b, mw.Boundary())
}

func apiErr(t *testing.T, err error, status int, code string) *asset.Error {
	t.Helper()
	var ae *asset.Error
	if !errors.As(err, &ae) || ae.Status != status || ae.Code != code {
		t.Fatalf("err = %v (%T), want %d %s", err, err, status, code)
	}
	return ae
}

func TestDirectUploadLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	// The file part first and the method last, as some clients send it.
	a, err := e.svc.CreateFromForm(ctx, form(t, "file", "@"+video(t), "user_metadata", `{"camera":"front","take":3,"ok":true}`, "method", "direct"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != asset.Processing || a.Method != asset.Direct || a.Type != asset.Video || a.Filename != "v6.mp4" || a.FileType != "video/mp4" {
		t.Fatalf("created %+v", a)
	}
	if len(e.jobs) != 1 || e.jobs[0] != a.ID {
		t.Fatalf("jobs %v", e.jobs)
	}
	a = e.process(t, a.ID)
	if a.Status != asset.Ready || a.Duration == nil || *a.Duration != 6 || a.Unanalyzable != "" {
		t.Fatalf("processed %+v", a)
	}
	fi, _ := os.Stat(video(t))
	tm := a.Technical
	if a.Size != fi.Size() || tm == nil || tm.FileSizeBytes != fi.Size() || tm.VideoCodec != "h264" || tm.VideoWidth != 640 ||
		tm.VideoHeight != 360 || tm.VideoFPS != 10 || tm.AudioCodec != "aac" || tm.HasAudio == nil || !*tm.HasAudio || tm.StorageAspectRatio != 1.7778 {
		t.Errorf("size %d, technical %+v", a.Size, tm)
	}
	if a.UserMetadata["camera"] != "front" || fmt.Sprint(a.UserMetadata["take"]) != "3" || a.UserMetadata["ok"] != true {
		t.Errorf("user metadata %v", a.UserMetadata)
	}
	if err := e.svc.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Get(ctx, a.ID); err == nil {
		t.Fatal("asset still there after delete")
	}
	if _, err := os.Stat(filepath.Join(e.blobs.Dir, "assets", a.ID)); !os.IsNotExist(err) {
		t.Errorf("file left behind: %v", err)
	}
	apiErr(t, e.svc.Delete(ctx, a.ID), 404, "resource_not_exist")
}

func TestDirectUploadTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		path     string
		typ      asset.Type
		mime     string
		duration bool
	}{
		{image(t), asset.Image, "image/png", false},
		{audio(t), asset.Audio, "audio/mp4", true},
	} {
		a, err := e.svc.CreateFromForm(ctx, form(t, "method", "direct", "file", "@"+tc.path, "filename", "renamed"+filepath.Ext(tc.path)))
		if err != nil {
			t.Fatal(err)
		}
		a = e.process(t, a.ID)
		if a.Status != asset.Ready || a.Type != tc.typ || a.FileType != tc.mime || (a.Duration != nil) != tc.duration || a.Filename != "renamed"+filepath.Ext(tc.path) {
			t.Errorf("%s: %+v", tc.path, a)
		}
	}
	// Unanalyzable videos are ready assets; tasks are refused later.
	a, err := e.svc.CreateFromForm(ctx, form(t, "method", "direct", "file", "@"+shortVideo(t)))
	if err != nil {
		t.Fatal(err)
	}
	if a = e.process(t, a.ID); a.Status != asset.Ready || !strings.Contains(a.Unanalyzable, "below the minimum of 4 s") {
		t.Errorf("short video: status %s, unanalyzable %q", a.Status, a.Unanalyzable)
	}
}

func TestDirectUploadCorruptFileFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	junk := filepath.Join(t.TempDir(), "broken.mp4")
	data := make([]byte, 100_000)
	rand.Read(data)
	os.WriteFile(junk, data, 0o644)
	a, err := e.svc.CreateFromForm(ctx, form(t, "method", "direct", "file", "@"+junk))
	if err != nil {
		t.Fatal(err)
	}
	if a = e.process(t, a.ID); a.Status != asset.Failed || !strings.Contains(a.ErrorMessage, "FFmpeg cannot read it") {
		t.Errorf("status %s, message %q", a.Status, a.ErrorMessage)
	}

	// A truncated MP4: the header is there, the frames are not.
	full, _ := os.ReadFile(video(t))
	cut := filepath.Join(t.TempDir(), "cut.mp4")
	os.WriteFile(cut, full[:len(full)/3], 0o644)
	a, err = e.svc.CreateFromForm(ctx, form(t, "method", "direct", "file", "@"+cut))
	if err != nil {
		t.Fatal(err)
	}
	if a = e.process(t, a.ID); a.Status != asset.Failed || a.ErrorMessage == "" {
		t.Errorf("truncated: status %s, message %q", a.Status, a.ErrorMessage)
	}
}

func TestDirectUploadRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	txt := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(txt, []byte("hello"), 0o644)
	big := filepath.Join(t.TempDir(), "big.png")
	os.WriteFile(big, append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 2<<20)...), 0o644)
	tests := []struct {
		name   string
		fields []string
		status int
		code   string
		text   string
	}{
		{"text file", []string{"method", "direct", "file", "@" + txt}, 400, "file_type_unsupported", "notes.txt\" is a txt document"},
		{"no method", []string{"file", "@" + video(t)}, 400, "parameter_not_provided", "method"},
		{"bad method", []string{"method", "multipart", "file", "@" + video(t)}, 400, "parameter_invalid", "direct or url"},
		{"no file", []string{"method", "direct"}, 400, "parameter_not_provided", "file"},
		{"url with direct", []string{"method", "direct", "file", "@" + video(t), "url", "https://e.com/v.mp4"}, 400, "parameter_invalid", "only for method url"},
		{"file with url", []string{"method", "url", "url", "https://e.com/v.mp4", "file", "@" + video(t)}, 400, "parameter_invalid", "only for method direct"},
		{"no url", []string{"method", "url"}, 400, "parameter_not_provided", "url"},
		{"ftp url", []string{"method", "url", "url", "ftp://e.com/v.mp4"}, 400, "parameter_invalid", "http or https"},
		{"pdf url", []string{"method", "url", "url", "https://e.com/a.pdf"}, 400, "file_type_unsupported", "pdf document"},
		{"nested metadata", []string{"method", "direct", "file", "@" + video(t), "user_metadata", `{"a":{"b":1}}`}, 400, "parameter_invalid", "nested"},
		{"metadata not object", []string{"method", "direct", "file", "@" + video(t), "user_metadata", `[1]`}, 400, "parameter_invalid", "JSON object"},
		{"unknown field", []string{"method", "direct", "file", "@" + video(t), "colour", "red"}, 400, "parameter_unknown", "colour"},
		{"bad hls flag", []string{"method", "direct", "file", "@" + video(t), "enable_hls", "yes"}, 400, "parameter_invalid", "true or false"},
		{"image over limit", []string{"method", "direct", "file", "@" + big}, 413, "file_too_large", "1 MiB for images"},
	}
	for _, tt := range tests {
		_, err := e.svc.CreateFromForm(ctx, form(t, tt.fields...))
		ae := apiErr(t, err, tt.status, tt.code)
		if !strings.Contains(ae.Message, tt.text) {
			t.Errorf("%s: message %q lacks %q", tt.name, ae.Message, tt.text)
		}
	}
	if list, n, _ := e.svc.List(ctx, asset.Filter{Page: 1, Limit: 50}); n != 0 || len(e.jobs) != 0 {
		t.Errorf("refused uploads left %d assets (%v), %d jobs", n, list, len(e.jobs))
	}
	if entries, _ := os.ReadDir(filepath.Join(e.blobs.Dir, "assets")); len(entries) != 0 {
		t.Errorf("refused uploads left files: %v", entries)
	}
}

// fakeDownloader serves files by URL path from memory.
type fakeDownloader struct{ files map[string]string }

func (f fakeDownloader) Download(ctx context.Context, rawURL string, max int64, w io.Writer) (int64, string, error) {
	u, _ := url.Parse(rawURL)
	p, ok := f.files[u.Path]
	if !ok {
		return 0, "", errors.New("downloading the video failed: the server answered 404 Not Found")
	}
	r, _ := os.Open(p)
	defer r.Close()
	n, err := io.Copy(w, io.LimitReader(r, max+1))
	if n > max {
		return n, "", errors.New("too large")
	}
	return n, "video/mp4", err
}

func (fakeDownloader) Temporary(error) bool { return false }

func TestURLUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	signer, _ := asset.NewSigner(bytes.Repeat([]byte("s"), 32))
	db := e.db
	e.svc = asset.NewService(asset.Config{Store: store.NewAssets(db, nil), Blobs: e.blobs, Media: mustTool(t), Signer: signer,
		Limits: asset.DefaultLimits(), Downloader: fakeDownloader{map[string]string{"/v.mp4": video(t), "/dl": image(t)}},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	a, err := e.svc.CreateFromForm(ctx, form(t, "method", "url", "url", "https://media.example.com/v.mp4?sig=x"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Filename != "v.mp4" || a.SourceURL != "https://media.example.com/v.mp4?sig=x" || a.Type != asset.Video {
		t.Fatalf("created %+v", a)
	}
	if a = e.process(t, a.ID); a.Status != asset.Ready || a.Technical == nil || a.Technical.VideoWidth != 640 {
		t.Fatalf("processed %+v", a)
	}
	// No extension: the type is decided by probing.
	a, _ = e.svc.CreateFromForm(ctx, form(t, "method", "url", "url", "https://media.example.com/dl"))
	if a = e.process(t, a.ID); a.Status != asset.Ready || a.Type != asset.Image {
		t.Fatalf("image by url: %+v", a)
	}
	a, _ = e.svc.CreateFromForm(ctx, form(t, "method", "url", "url", "https://media.example.com/missing.mp4"))
	if a = e.process(t, a.ID); a.Status != asset.Failed || !strings.Contains(a.ErrorMessage, "404") {
		t.Fatalf("missing: %+v", a)
	}
}

func mustTool(t *testing.T) *media.Tool {
	tool, err := media.New(media.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return tool
}

// put sends chunk i of data to url as the SDK does.
func put(e *env, rawURL string, body []byte) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, asset.UploadsPath), "/")
	var idx int
	fmt.Sscan(parts[1], &idx)
	return e.svc.PutChunk(context.Background(), parts[0], idx, u.Query(), int64(len(body)), bytes.NewReader(body))
}

func TestMultipartUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	data, _ := os.ReadFile(video(t))
	cs := int64(64 << 10)
	u, urls, err := e.svc.CreateUpload(ctx, asset.UploadRequest{Filename: "clip.mp4", Type: "video", TotalSize: int64(len(data)),
		UserMetadata: map[string]any{"k": "v"}}, "http://fw.test")
	if err != nil {
		t.Fatal(err)
	}
	total := int((int64(len(data)) + cs - 1) / cs)
	if u.ChunkSize != cs || u.TotalChunks != total || len(urls) != 3 || urls[0].Index != 1 ||
		!strings.HasPrefix(urls[0].URL, "http://fw.test/uploads/"+u.ID+"/1?") {
		t.Fatalf("upload %+v, urls %v", u, urls)
	}
	chunk := func(i int) []byte { return data[int64(i-1)*cs : min(int64(i)*cs, int64(len(data)))] }
	md5hex := func(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

	etag, err := put(e, urls[0].URL, chunk(1))
	if err != nil || etag != md5hex(chunk(1)) {
		t.Fatalf("PUT 1 = %q, %v", etag, err)
	}
	_, err = put(e, urls[0].URL, chunk(1))
	apiErr(t, err, 403, "upload_url_used")
	_, err = put(e, urls[1].URL, chunk(1)[:100])
	apiErr(t, err, 400, "parameter_invalid")
	// A failed PUT does not use the URL up.
	if _, err := put(e, urls[1].URL, chunk(2)); err != nil {
		t.Fatalf("retry on the same URL: %v", err)
	}
	_, err = put(e, strings.Replace(urls[2].URL, "/3?", "/4?", 1), chunk(4))
	apiErr(t, err, 403, "upload_url_invalid")

	rep := func(chunks ...asset.ReportedChunk) (*asset.ReportResult, error) {
		return e.svc.ReportChunks(ctx, u.ID, chunks)
	}
	rc := func(i int, proof string) asset.ReportedChunk {
		return asset.ReportedChunk{Index: i, Proof: proof, ProofType: "etag", Size: int64(len(chunk(i)))}
	}
	_, err = rep(rc(2, md5hex([]byte("other bytes"))))
	if ae := apiErr(t, err, 400, "parameter_invalid"); !strings.Contains(ae.Message, "proof of chunk 2 does not match") {
		t.Errorf("mismatch message %q", ae.Message)
	}
	_, err = rep(rc(3, md5hex(chunk(3))))
	if ae := apiErr(t, err, 400, "parameter_invalid"); !strings.Contains(ae.Message, "Chunk 3 has not been uploaded") {
		t.Errorf("not uploaded message %q", ae.Message)
	}
	bad := rc(1, etag)
	bad.Size--
	_, err = rep(bad)
	apiErr(t, err, 400, "parameter_invalid")
	res, err := rep(rc(1, `"`+strings.ToUpper(etag)+`"`), rc(2, md5hex(chunk(2))), rc(1, etag))
	if err != nil || res.Processed != 2 || res.Duplicates != 1 || res.TotalCompleted != 2 || res.Complete {
		t.Fatalf("report = %+v, %v", res, err)
	}
	if res, err = rep(rc(2, md5hex(chunk(2)))); err != nil || res.Processed != 0 || res.Duplicates != 1 {
		t.Fatalf("duplicate report = %+v, %v", res, err)
	}
	if _, err := e.svc.Get(ctx, u.AssetID); err == nil {
		t.Fatal("the asset exists before the upload completed")
	}

	st, err := e.svc.UploadStatus(ctx, u.ID, 1, 2)
	if err != nil || st.Completed != 2 || st.Pending != total-2 || len(st.Chunks) != 2 || !st.Chunks[1].Completed || st.Status != asset.UploadActive {
		t.Fatalf("status %+v, %v", st, err)
	}
	if list, n, _ := e.svc.ListUploads(ctx, 1, 10); n != 1 || list[0].ID != u.ID {
		t.Errorf("incomplete uploads %d", n)
	}

	_, more, err := e.svc.PresignURLs(ctx, u.ID, 3, 50, "http://fw.test")
	if err != nil || len(more) != total-2 || more[0].Index != 3 {
		t.Fatalf("presign = %d urls, %v", len(more), err)
	}
	_, _, err = e.svc.PresignURLs(ctx, u.ID, 0, 5, "")
	apiErr(t, err, 400, "parameter_invalid")
	_, _, err = e.svc.PresignURLs(ctx, u.ID, 1, 51, "")
	apiErr(t, err, 400, "parameter_invalid")

	var last []asset.ReportedChunk
	for _, p := range more {
		etag, err := put(e, p.URL, chunk(p.Index))
		if err != nil {
			t.Fatalf("PUT %d: %v", p.Index, err)
		}
		last = append(last, rc(p.Index, etag))
	}
	res, err = rep(last...)
	if err != nil || !res.Complete || res.AssetID != u.AssetID || res.TotalCompleted != total {
		t.Fatalf("final report = %+v, %v", res, err)
	}
	if len(e.jobs) != 1 || e.jobs[0] != u.AssetID {
		t.Fatalf("jobs %v", e.jobs)
	}
	_, err = put(e, more[0].URL, chunk(3))
	apiErr(t, err, 403, "upload_not_active")
	if res, err = rep(rc(1, etag)); err != nil || !res.Complete || res.Duplicates != 1 {
		t.Fatalf("report after completion = %+v, %v", res, err)
	}

	a := e.process(t, u.AssetID)
	if a.Status != asset.Ready || a.Method != asset.Multipart || a.Size != int64(len(data)) || a.UserMetadata["k"] != "v" {
		t.Fatalf("asset %+v", a)
	}
	got, _ := os.ReadFile(filepath.Join(e.blobs.Dir, "assets", a.ID, "source"))
	if !bytes.Equal(got, data) {
		t.Error("the assembled file differs from the upload")
	}
	if _, err := os.Stat(filepath.Join(e.blobs.Dir, "uploads", u.ID)); !os.IsNotExist(err) {
		t.Errorf("chunks left after assembly: %v", err)
	}
}

func TestMultipartValidationAndExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		req  asset.UploadRequest
		code string
	}{
		{asset.UploadRequest{Type: "video", TotalSize: 10}, "parameter_not_provided"},
		{asset.UploadRequest{Filename: "a.mp4", TotalSize: 10}, "parameter_not_provided"},
		{asset.UploadRequest{Filename: "a.mp4", Type: "document", TotalSize: 10}, "parameter_invalid"},
		{asset.UploadRequest{Filename: "a.pdf", Type: "video", TotalSize: 10}, "file_type_unsupported"},
		{asset.UploadRequest{Filename: "a.mp4", Type: "video", TotalSize: 0}, "parameter_invalid"},
		{asset.UploadRequest{Filename: "a.mp4", Type: "video", TotalSize: 10<<30 + 1}, "file_too_large"},
		{asset.UploadRequest{Filename: "a.png", Type: "image", TotalSize: 1<<20 + 1}, "file_too_large"},
	} {
		_, _, err := e.svc.CreateUpload(ctx, tc.req, "")
		apiErr(t, err, 400, tc.code)
	}
	if _, _, err := e.svc.CreateUpload(ctx, asset.UploadRequest{Filename: "big.mp4", Type: "video", TotalSize: 10 << 30}, ""); err != nil {
		t.Errorf("10 GiB refused: %v", err)
	}

	u, urls, err := e.svc.CreateUpload(ctx, asset.UploadRequest{Filename: "a.mp4", Type: "video", TotalSize: 100_000}, "http://x")
	if err != nil {
		t.Fatal(err)
	}
	if _, n, _ := e.svc.ListUploads(ctx, 1, 10); n != 2 {
		t.Errorf("%d incomplete uploads listed, want 2", n)
	}
	body := make([]byte, 64<<10)
	if _, err := put(e, urls[0].URL, body); err != nil {
		t.Fatal(err)
	}
	e.advance(61 * time.Minute)
	_, err = put(e, urls[1].URL, body[:100_000-64<<10])
	apiErr(t, err, 403, "upload_url_expired")

	e.advance(24 * time.Hour)
	if st, _ := e.svc.UploadStatus(ctx, u.ID, 1, 10); st.Status != asset.UploadExpired {
		t.Errorf("status after expiry %s", st.Status)
	}
	_, err = e.svc.ReportChunks(ctx, u.ID, []asset.ReportedChunk{{Index: 1, Proof: "x", ProofType: "etag", Size: 64 << 10}})
	apiErr(t, err, 400, "upload_not_active")
	if err := e.svc.ExpireUploads(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.blobs.Dir, "uploads", u.ID)); !os.IsNotExist(err) {
		t.Errorf("chunks of an expired upload left: %v", err)
	}
	if _, n, _ := e.svc.ListUploads(ctx, 1, 10); n != 0 {
		t.Errorf("%d incomplete uploads listed after expiry, want 0", n)
	}
	e.advance(8 * 24 * time.Hour)
	e.svc.ExpireUploads(ctx)
	_, err = e.svc.UploadStatus(ctx, u.ID, 1, 10)
	apiErr(t, err, 404, "resource_not_exist")
}

func TestDeleteRefusedWhileTasksNeedAsset(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	a, err := e.svc.CreateFromForm(ctx, form(t, "method", "direct", "file", "@"+video(t)))
	if err != nil {
		t.Fatal(err)
	}
	e.process(t, a.ID)
	tasks := store.NewTasks(e.db, nil)
	now := time.Now()
	tk := &task.Task{ID: task.NewID(now), Status: task.Queued, CreatedAt: now, UpdatedAt: now,
		Spec: task.Spec{Model: task.Pegasus12, Mode: task.ModeGeneral, Source: task.Source{Type: task.SourceAssetID, AssetID: a.ID}}}
	if err := tasks.Create(ctx, tk); err != nil {
		t.Fatal(err)
	}
	ae := apiErr(t, e.svc.Delete(ctx, a.ID), http.StatusConflict, "asset_in_use")
	if !strings.Contains(ae.Message, "1 analysis task that is not finished") {
		t.Errorf("message %q", ae.Message)
	}
	if _, err := tasks.Update(ctx, tk.ID, func(t *task.Task) error { t.Status = task.Ready; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Delete(ctx, a.ID); err != nil {
		t.Fatalf("delete after the task finished: %v", err)
	}
	if got, err := tasks.Get(ctx, tk.ID); err != nil || got.Spec.Source.AssetID != a.ID {
		t.Errorf("the finished task was touched: %v %v", got, err)
	}

	// An asset named only as a reference image of an unfinished task (its
	// video is a URL) is needed too; another asset is not.
	img, err := e.svc.CreateFromForm(ctx, form(t, "method", "direct", "file", "@"+video(t)))
	if err != nil {
		t.Fatal(err)
	}
	e.process(t, img.ID)
	other, err := e.svc.CreateFromForm(ctx, form(t, "method", "direct", "file", "@"+video(t)))
	if err != nil {
		t.Fatal(err)
	}
	e.process(t, other.ID)
	ref := &task.Task{ID: task.NewID(now), Status: task.Processing, CreatedAt: now, UpdatedAt: now,
		Spec: task.Spec{Model: task.Pegasus15, Mode: task.ModeGeneral, Source: task.Source{Type: task.SourceURL, URL: "https://example.com/v.mp4"},
			PromptV2: &task.PromptV2{InputText: "Find <@logo>", MediaSources: []task.MediaSource{{Name: "logo", MediaType: "image", AssetID: img.ID}}}}}
	if err := tasks.Create(ctx, ref); err != nil {
		t.Fatal(err)
	}
	apiErr(t, e.svc.Delete(ctx, img.ID), http.StatusConflict, "asset_in_use")
	if err := e.svc.Delete(ctx, other.ID); err != nil {
		t.Fatalf("delete of an asset no task names: %v", err)
	}
}
