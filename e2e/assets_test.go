package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
	"github.com/framewise/framewise/internal/asset"
)

// makeNoisyVideo generates an H.264 MP4 of noise, which barely compresses:
// about 11 MB per second, so that a few seconds make a multi-chunk file.
func makeNoisyVideo(t *testing.T, seconds int) string {
	t.Helper()
	key := fmt.Sprintf("noise-%d", seconds)
	if p, ok := videoCache.Load(key); ok {
		return p.(string)
	}
	dir := filepath.Join(os.TempDir(), "framewise-e2e-videos")
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, key+".mp4")
	if _, err := os.Stat(path); err != nil {
		tmp := path + ".tmp.mp4"
		cmd := exec.Command("ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=640x360:rate=25:duration=%d", seconds),
			"-vf", "noise=alls=80:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "5", "-pix_fmt", "yuv420p", tmp)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	videoCache.Store(key, path)
	return path
}

func fastWait() []client.WaitOption {
	return []client.WaitOption{client.WithPollInterval(50 * time.Millisecond), client.WithMaxPollInterval(500 * time.Millisecond)}
}

func TestAssetsThenAnalyze(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	c := srv.client()
	ctx := waitCtx(t, 3*time.Minute)

	// Direct upload.
	small := makeVideo(t, "ok", 6, 640, 360)
	f, _ := os.Open(small)
	direct, err := c.CreateAsset(ctx, f, "ok.mp4", &client.AssetOptions{UserMetadata: map[string]any{"source": "e2e"}})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if direct.Status != api.AssetProcessing || direct.Method != api.MethodDirect || len(direct.ID) != 24 {
		t.Fatalf("direct upload = %+v", direct)
	}
	ready, err := c.WaitAsset(ctx, direct.ID, fastWait()...)
	if err != nil || ready.Duration == nil || *ready.Duration != 6 || ready.TechnicalMetadata == nil || ready.UserMetadata["source"] != "e2e" {
		t.Fatalf("direct asset = %+v, %v", ready, err)
	}

	// URL upload, through the same fetcher as task URLs.
	media := startMediaServer(t, map[string]string{"clip.mp4": small})
	byURL, err := c.CreateAssetFromURL(ctx, media.url+"/clip.mp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	if byURL.Filename != "clip.mp4" || byURL.Method != api.MethodURL {
		t.Errorf("url asset = %+v", byURL)
	}
	if _, err := c.WaitAsset(ctx, byURL.ID, fastWait()...); err != nil {
		t.Fatalf("url asset: %v", err)
	}

	// Multipart upload of a file of several chunks.
	big := makeNoisyVideo(t, 5)
	fi, _ := os.Stat(big)
	var progress []client.UploadProgress
	res, err := c.UploadFile(ctx, big, client.UploadOptions{OnProgress: func(p client.UploadProgress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	chunks := int((fi.Size() + 8<<20 - 1) / (8 << 20))
	if chunks < 2 || res.ChunksSent != chunks || len(progress) != chunks || progress[chunks-1].UploadedBytes != fi.Size() {
		t.Fatalf("upload of %d bytes: %+v, progress %v", fi.Size(), res, progress)
	}
	mp, err := c.WaitAsset(ctx, res.AssetID, fastWait()...)
	if err != nil || mp.Method != api.MethodMultipart || *mp.Size != fi.Size() {
		t.Fatalf("multipart asset = %+v, %v", mp, err)
	}
	if _, err := os.Stat(filepath.Join(srv.dataDir, "blobs", "uploads", res.UploadID)); !os.IsNotExist(err) {
		t.Errorf("chunks kept after assembly: %v", err)
	}

	// Analyze the uploaded assets.
	for _, id := range []string{direct.ID, res.AssetID} {
		created, err := c.CreateTask(ctx, &api.CreateTaskRequest{
			Video:  &api.VideoContext{Type: api.SourceAssetID, AssetID: id},
			Prompt: api.String("What happens?"),
		})
		if err != nil {
			t.Fatal(err)
		}
		done, err := c.Wait(ctx, created.TaskID, fastWait()...)
		if err != nil {
			t.Fatalf("task on asset %s: %v", id, err)
		}
		if done.VideoSource == nil || done.VideoSource.Type != api.SourceAssetID || done.VideoSource.AssetID != id {
			t.Errorf("video_source %+v", done.VideoSource)
		}
		list, err := c.ListTasks(ctx, client.ListOptions{AssetID: id})
		if err != nil || len(list.Data) != 1 || list.Data[0].TaskID != created.TaskID {
			t.Errorf("asset_id filter: %v %v", list, err)
		}
		// The finished task keeps its result when the asset goes.
		if err := c.DeleteAsset(ctx, id); err != nil {
			t.Fatal(err)
		}
		if got, err := c.GetTask(ctx, created.TaskID); err != nil || got.Result == nil {
			t.Errorf("task after its asset was deleted: %+v, %v", got, err)
		}
	}
	if _, err := c.GetAsset(ctx, direct.ID); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("deleted asset: %v", err)
	}
}

func TestAssetRefusals(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	c := srv.client()
	ctx := waitCtx(t, 2*time.Minute)

	// A corrupt file and a non-media file named like a video end failed.
	junk := make([]byte, 300_000)
	rand.Read(junk)
	a, err := c.CreateAsset(ctx, bytes.NewReader(junk), "holiday.mp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.WaitAsset(ctx, a.ID, fastWait()...)
	var fe *client.AssetFailedError
	if !errors.As(err, &fe) || !strings.Contains(fe.Message, "FFmpeg cannot read it") {
		t.Errorf("corrupt file: %v", err)
	}
	// A text file is refused at upload.
	_, err = c.CreateAsset(ctx, strings.NewReader("just text"), "notes.txt", nil)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Code != api.CodeFileTypeUnsupported {
		t.Errorf("text file: %v", err)
	}

	// Presigned URLs: tampered, expired, reused; ETag proofs.
	data := bytes.Repeat([]byte("framewise"), 1_000_000) // 9 MB: two chunks
	up, err := c.CreateUpload(ctx, &api.CreateUploadRequest{Filename: "x.mp4", Type: "video", TotalSize: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	if up.TotalChunks != 2 || len(up.UploadURLs) != 2 {
		t.Fatalf("upload = %+v", up)
	}
	cs := up.ChunkSize
	u1, u2 := up.UploadURLs[0].URL, up.UploadURLs[1].URL
	refused := func(name, u string, body []byte, code string) {
		t.Helper()
		_, err := c.PutChunk(ctx, u, bytes.NewReader(body), int64(len(body)))
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.StatusCode != 403 || ae.Code != code {
			t.Errorf("%s: %v, want 403 %s", name, err, code)
		}
	}
	// A bad signature is refused before the body is read and the
	// connection closed at once (as for a missing key): these send a small
	// body, which the client has finished writing when the answer comes.
	refused("tampered signature", strings.Replace(u1, "sig=", "sig=f", 1), []byte("x"), api.CodeUploadURLInvalid)
	refused("other chunk", strings.Replace(u1, "/1?", "/2?", 1), []byte("x"), api.CodeUploadURLInvalid)
	refused("later expiry", withQuery(u1, "expires", strconv.FormatInt(time.Now().Add(100*time.Hour).Unix(), 10)), []byte("x"), api.CodeUploadURLInvalid)
	// A correctly signed URL whose time is up: sign one with the server's secret.
	secret, err := asset.LoadSecret(filepath.Join(srv.dataDir, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := asset.NewSigner(secret)
	expired := "http://" + srv.addr + "/uploads/" + up.UploadID + "/1?" + signer.Sign(up.UploadID, 1, time.Now().Add(-time.Minute))
	refused("expired", expired, data[:cs], api.CodeUploadURLExpired)

	e1, err := c.PutChunk(ctx, u1, bytes.NewReader(data[:cs]), cs)
	if err != nil {
		t.Fatal(err)
	}
	refused("reused", u1, data[:cs], api.CodeUploadURLUsed)
	e2, err := c.PutChunk(ctx, u2, bytes.NewReader(data[cs:]), int64(len(data))-cs)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ReportChunks(ctx, up.UploadID, []api.CompletedChunk{{ChunkIndex: 1, Proof: e2, ProofType: "etag", ChunkSize: cs}})
	if !errors.As(err, &ae) || ae.StatusCode != 400 || !strings.Contains(ae.Message, "proof of chunk 1 does not match") {
		t.Errorf("wrong proof: %v", err)
	}
	rep, err := c.ReportChunks(ctx, up.UploadID, []api.CompletedChunk{
		{ChunkIndex: 1, Proof: e1, ProofType: "etag", ChunkSize: cs},
		{ChunkIndex: 2, Proof: e2, ProofType: "etag", ChunkSize: int64(len(data)) - cs},
		{ChunkIndex: 1, Proof: e1, ProofType: "etag", ChunkSize: cs},
	})
	if err != nil || rep.ProcessedChunks != 2 || rep.DuplicateChunks != 1 || rep.URL == "" {
		t.Fatalf("report = %+v, %v", rep, err)
	}
	_, err = c.WaitAsset(ctx, rep.AssetID, fastWait()...)
	if !errors.As(err, &fe) {
		t.Errorf("text uploaded as a video: %v, want a failed asset", err)
	}
}

func withQuery(raw, k, v string) string {
	u, _ := url.Parse(raw)
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestAssetDeleteWhileTaskQueued(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServer(t, dir)
	c := srv.client()
	ctx := waitCtx(t, 2*time.Minute)
	f, _ := os.Open(makeVideo(t, "ok", 6, 640, 360))
	a, err := c.CreateAsset(ctx, f, "ok.mp4", nil)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitAsset(ctx, a.ID, fastWait()...); err != nil {
		t.Fatal(err)
	}
	srv.stop()

	// Without workers the task stays queued.
	srv = startServer(t, dir, "--workers", "0")
	c = srv.client()
	created, err := c.CreateTask(ctx, &api.CreateTaskRequest{Video: &api.VideoContext{Type: api.SourceAssetID, AssetID: a.ID}, Prompt: api.String("p")})
	if err != nil {
		t.Fatal(err)
	}
	err = c.DeleteAsset(ctx, a.ID)
	var ae *client.APIError
	if !errors.Is(err, client.ErrConflict) || !errors.As(err, &ae) || ae.Code != api.CodeAssetInUse || !strings.Contains(ae.Message, "1 analysis task") {
		t.Fatalf("delete while queued: %v", err)
	}
	if err := c.DeleteTask(ctx, created.TaskID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAsset(ctx, a.ID); err != nil {
		t.Fatalf("delete after the task went: %v", err)
	}
}

// putCounter is a reverse proxy in front of a server that counts the chunk
// PUTs that succeeded, by chunk index, and calls onPut after each.
type putCounter struct {
	mu    sync.Mutex
	puts  map[int]int
	n     int
	onPut func(n int)
}

func startPutCounter(t *testing.T, target string) (*putCounter, string) {
	t.Helper()
	pc := &putCounter{puts: map[int]int{}}
	u, _ := url.Parse(target)
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		proxy.ServeHTTP(rec, r) // Host stays the proxy's: presigned URLs point here
		if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/uploads/") && rec.status == 200 {
			idx, _ := strconv.Atoi(r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:])
			pc.mu.Lock()
			pc.puts[idx]++
			pc.n++
			n, cb := pc.n, pc.onPut
			pc.mu.Unlock()
			if cb != nil {
				cb(n)
			}
		}
	}))
	t.Cleanup(srv.Close)
	return pc, srv.URL
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (pc *putCounter) reset() map[int]int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	old := pc.puts
	pc.puts, pc.n = map[int]int{}, 0
	return old
}

// TestCLIUploadResumes interrupts "framewise assets upload" after a few
// chunks and runs it again: chunks the server completed are not sent again.
func TestCLIUploadResumes(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	pc, proxyURL := startPutCounter(t, "http://"+srv.addr)
	video := makeNoisyVideo(t, 5)
	fi, _ := os.Stat(video)
	total := int((fi.Size() + 8<<20 - 1) / (8 << 20))
	if total < 5 {
		t.Fatalf("test video has only %d chunks", total)
	}
	stateDir := t.TempDir()
	cli := func(ctx context.Context) *exec.Cmd {
		cmd := exec.CommandContext(ctx, binary, "assets", "upload", video, "--concurrency", "2", "--server", proxyURL)
		cmd.Env = append(os.Environ(), "FRAMEWISE_API_KEY="+testKey, "FRAMEWISE_STATE_DIR="+stateDir)
		return cmd
	}
	ctx := waitCtx(t, 3*time.Minute)

	first := cli(ctx)
	var out1 bytes.Buffer
	first.Stdout, first.Stderr = &out1, &out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	pc.mu.Lock()
	pc.onPut = func(n int) {
		if n >= 3 {
			once.Do(func() { first.Process.Signal(syscall.SIGINT) })
		}
	}
	pc.mu.Unlock()
	err := first.Wait()
	if err == nil || !strings.Contains(out1.String(), "run the same command again to resume") {
		t.Fatalf("interrupted upload: %v\n%s", err, out1.String())
	}
	sentBefore := pc.reset()

	// What the server holds as completed now.
	c := srv.client()
	uploads, err := c.ListUploads(ctx, 1, 10)
	if err != nil || len(uploads.Data) != 1 {
		t.Fatalf("incomplete uploads: %+v, %v", uploads, err)
	}
	id := uploads.Data[0].UploadID
	st, err := c.GetUploadStatus(ctx, id, 1, 50)
	if err != nil {
		t.Fatal(err)
	}
	completed := map[int]bool{}
	for _, ch := range st.UploadedChunks {
		if ch.Status == api.ChunkCompleted {
			completed[ch.Index] = true
		}
	}
	// The third successful PUT is some worker's second, sent after it
	// reported its first: at least one chunk is completed.
	if len(completed) == 0 || len(completed) == total {
		t.Fatalf("after the interruption %d of %d chunks are completed (sent %v); want some but not all", len(completed), total, sentBefore)
	}

	second := cli(ctx)
	out2, err := second.CombinedOutput()
	if err != nil {
		t.Fatalf("resumed upload: %v\n%s", err, out2)
	}
	if !strings.Contains(string(out2), fmt.Sprintf("resuming upload %s: %d of %d chunks already on the server", id, len(completed), total)) {
		t.Errorf("output does not say it resumed:\n%s", out2)
	}
	sentAfter := pc.reset()
	for i := range completed {
		if sentAfter[i] > 0 {
			t.Errorf("chunk %d was completed before the interruption and sent again", i)
		}
	}
	resent := 0
	for _, n := range sentAfter {
		resent += n
	}
	if resent != total-len(completed) {
		t.Errorf("the resumed run sent %d chunks, want %d (%v)", resent, total-len(completed), sentAfter)
	}
	assetID := strings.TrimSpace(string(out2[bytes.LastIndexByte(bytes.TrimSpace(out2), '\n')+1:]))
	a, err := c.WaitAsset(ctx, assetID, fastWait()...)
	if err != nil || *a.Size != fi.Size() {
		t.Fatalf("asset %q: %+v, %v\n%s", assetID, a, err, out2)
	}
	t.Logf("interrupted after %d PUTs with %d of %d chunks completed; the resumed run sent %d", len(sentBefore), len(completed), total, resent)
}

// TestCLIAnalyzeLargeFile: analyze uploads a local file above 30 MB as an
// asset, then analyzes the asset.
func TestCLIAnalyzeLargeFile(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	video := makeNoisyVideo(t, 5)
	ctx := waitCtx(t, 3*time.Minute)
	cmd := exec.CommandContext(ctx, binary, "analyze", video, "--prompt", "What happens?", "--wait", "--server", "http://"+srv.addr)
	cmd.Env = append(os.Environ(), "FRAMEWISE_API_KEY="+testKey, "FRAMEWISE_STATE_DIR="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("analyze: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "uploaded noise-5.mp4 as asset") || !strings.Contains(stdout.String(), "Duration: 5.000 s") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	list, err := srv.client().ListTasks(ctx, client.ListOptions{})
	if err != nil || len(list.Data) != 1 || list.Data[0].VideoSource.Type != api.SourceAssetID {
		t.Errorf("tasks: %+v, %v", list, err)
	}
}
