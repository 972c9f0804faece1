package httpapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/httpapi"
	"github.com/framewise/framewise/internal/store"
	"github.com/framewise/framewise/internal/task"
)

// fakeChecker stands for ffprobe: it records what was stored, can hold a
// create inside the probe (gate), and answers err when it is set.
type fakeChecker struct {
	mu   sync.Mutex
	got  [][]byte
	gate chan struct{} // nil: no wait
	in   chan struct{} // a probe began
	err  error
}

func (f *fakeChecker) Check(ctx context.Context, path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	f.got = append(f.got, b)
	gate, in, cerr := f.gate, f.in, f.err
	f.mu.Unlock()
	if in != nil {
		in <- struct{}{}
	}
	if gate != nil {
		<-gate
	}
	return 10, cerr
}

func newLoadServer(t *testing.T, ck *fakeChecker, lim task.Limits) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, _ := blob.NewLocal(filepath.Join(dir, "blobs"))
	tasks := store.NewTasks(db, func(ctx context.Context, tx *sql.Tx, id string) error { return nil })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := task.NewService(tasks, blobs, ck, lim, log)
	api := httpapi.New(svc, httpapi.Options{Log: log, MaxBodyBytes: 8 << 20})
	api.SetReady(true)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func b64Body(s string) string {
	return `{"video":{"type":"base64_string","base64_string":"` + s + `"},"prompt":"p"}`
}

func post(t *testing.T, url, body string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(url+"/v1.3/analyze/tasks", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// The base64 video is decoded as it is stored: what the probe sees is
// the decoded video, for every accepted spelling.
func TestCreateStreamsBase64(t *testing.T) {
	ck := &fakeChecker{}
	srv := newLoadServer(t, ck, task.DefaultLimits())
	video := make([]byte, 300<<10) // over the size that is admitted before the body is read
	for i := range video {
		video[i] = byte(i*31 + i>>8)
	}
	std := base64.StdEncoding.EncodeToString(video)
	for name, s := range map[string]string{
		"standard":       std,
		"unpadded":       base64.RawStdEncoding.EncodeToString(video[:1000]),
		"url-safe":       base64.URLEncoding.EncodeToString(video),
		"data URL":       "data:video/mp4;base64," + std,
		"escaped slash":  strings.ReplaceAll(std, "/", `\/`), // not streamed: the whole-body path
		"escaped breaks": std[:76] + `\n` + std[76:],
	} {
		resp, body := post(t, srv.URL, b64Body(s))
		if resp.StatusCode != 202 {
			t.Fatalf("%s: %d %s", name, resp.StatusCode, body)
		}
		ck.mu.Lock()
		got := ck.got[len(ck.got)-1]
		ck.mu.Unlock()
		want := video
		if name == "unpadded" {
			want = video[:1000]
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: stored %d bytes, not the video (%d bytes)", name, len(got), len(want))
		}
	}
	// Bad base64 is refused as before, with the position of the bad byte.
	for s, want := range map[string]string{
		"AAAA!AAA":         "bad data at character 4",
		"AAAA-AA+":         "bad data at character 7",
		"data:text/plain,": "is not a base64 data URL",
		"====":             "holds no data",
		"AAAAA":            "bad data at character 4",
	} {
		resp, body := post(t, srv.URL, b64Body(s))
		if resp.StatusCode != 400 || !strings.Contains(body, "parameter_invalid") || !strings.Contains(body, want) {
			t.Errorf("%q: %d %s, want 400 with %q", s, resp.StatusCode, body, want)
		}
	}
}

// Creates beyond the bound wait briefly, then are answered 429
// too_many_requests in the nested shape with Retry-After; small and large
// bodies alike, and the large one is answered, not reset.
func TestCreateAdmission(t *testing.T) {
	ck := &fakeChecker{gate: make(chan struct{}), in: make(chan struct{}, 1)}
	lim := task.DefaultLimits()
	lim.MaxConcurrentCreates, lim.CreateQueueWait = 1, 100*time.Millisecond
	srv := newLoadServer(t, ck, lim)
	small := b64Body(base64.StdEncoding.EncodeToString([]byte("a small video")))
	first := make(chan int, 1)
	go func() {
		resp, err := http.Post(srv.URL+"/v1.3/analyze/tasks", "application/json", strings.NewReader(small))
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	<-ck.in // the first create holds the only slot
	large := b64Body(base64.StdEncoding.EncodeToString(make([]byte, 512<<10)))
	huge := b64Body(base64.StdEncoding.EncodeToString(make([]byte, 5<<20))) // not read to its end
	for name, body := range map[string]string{"small": small, "large": large, "huge": huge} {
		start := time.Now()
		resp, out := post(t, srv.URL, body)
		if resp.StatusCode != 429 || !strings.Contains(out, `{"error":{"code":"too_many_requests"`) || resp.Header.Get("Retry-After") != "2" {
			t.Errorf("%s: %d %s, Retry-After %q", name, resp.StatusCode, out, resp.Header.Get("Retry-After"))
		}
		if d := time.Since(start); d < 100*time.Millisecond || d > 5*time.Second {
			t.Errorf("%s: answered after %v, want after the queue wait of 100ms", name, d)
		}
	}
	// A client that asks Expect: 100-continue is refused before it sends
	// its body.
	sent := &countingReader{r: strings.NewReader(huge)}
	req, _ := http.NewRequest("POST", srv.URL+"/v1.3/analyze/tasks", sent)
	req.ContentLength = int64(len(huge))
	req.Header.Set("Expect", "100-continue")
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{ExpectContinueTimeout: 10 * time.Second}}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || sent.n != 0 {
		t.Errorf("Expect: 100-continue: %d after the client sent %d bytes of its body, want 429 before any", resp.StatusCode, sent.n)
	}
	// A URL create neither decodes nor probes: it is not bounded.
	resp, out := post(t, srv.URL, `{"video":{"type":"url","url":"https://media.example/a.mp4"},"prompt":"p"}`)
	if resp.StatusCode != 202 {
		t.Errorf("url create while busy: %d %s", resp.StatusCode, out)
	}
	close(ck.gate)
	if st := <-first; st != 202 {
		t.Fatalf("first create: %d", st)
	}
	// The slot is free again.
	if resp, out := post(t, srv.URL, small); resp.StatusCode != 202 {
		t.Fatalf("after the first: %d %s", resp.StatusCode, out)
	}
}

// A probe that fails for a reason other than the video (the machine is
// overloaded) is 503 server_busy with Retry-After, not 500; a video the
// probe rejects stays 400 video_invalid.
func TestCreateProbeFailures(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("media: probe: %w", errors.New("ffprobe failed: exec: WaitDelay expired before I/O complete")), 503, "server_busy"},
		{fmt.Errorf("media: probe: ffprobe stopped: %w", context.DeadlineExceeded), 503, "server_busy"},
		{&task.VideoError{Rule: "duration", Message: "The video cannot be analyzed: too short"}, 400, "video_invalid"},
	} {
		srv := newLoadServer(t, &fakeChecker{err: c.err}, task.DefaultLimits())
		resp, out := post(t, srv.URL, b64Body(base64.StdEncoding.EncodeToString([]byte("video"))))
		if resp.StatusCode != c.status || !strings.Contains(out, `{"error":{"code":"`+c.code+`"`) {
			t.Errorf("%v: %d %s", c.err, resp.StatusCode, out)
		}
		if c.status == 503 && resp.Header.Get("Retry-After") != "2" {
			t.Errorf("%v: Retry-After %q", c.err, resp.Header.Get("Retry-After"))
		}
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
