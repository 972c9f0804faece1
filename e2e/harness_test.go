// Package e2e boots the real framewise binary on a free port, with real
// ffmpeg and SQLite, and drives it through the public Go client.
package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/framewise/framewise/client"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "framewise-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "framewise")
	out, err := exec.Command("go", "build", "-o", binary, "../cmd/framewise").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build framewise: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	// Every response recorded by client() must follow api/openapi.json (openapi_test.go).
	code = checkRecordedResponses(code)
	// No server logged a secret or told a client an internal path (logscan_test.go).
	code = checkLeaks(code)
	os.RemoveAll(dir)
	os.Exit(code)
}

const testKey = "e2e-secret-key"

// server is one running framewise process.
type server struct {
	t       *testing.T
	cmd     *exec.Cmd
	addr    string
	dataDir string
	logs    *syncBuffer
	done    chan struct{}
}

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

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// healthClient polls /healthz without keeping its connection: a kept one
// would hold one of the server's per-address places for the whole test
// (TestHostileConnCaps counts them).
var healthClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// startServer runs framewise serve on a free port with dataDir and waits
// until /healthz answers 200.
func startServer(t *testing.T, dataDir string, extra ...string) *server {
	t.Helper()
	addr := freePort(t)
	args := append([]string{"serve", "--addr", addr, "--data-dir", dataDir, "--api-key", testKey,
		"--allow-private-urls", "--log-level", "debug", "--shutdown-timeout", "5s"}, extra...)
	s := &server{t: t, addr: addr, dataDir: dataDir, logs: &syncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(binary, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	collectLog(t, "server "+addr, s.logs.String)
	privateDir(dataDir)
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("server logs (%s):\n%s", addr, s.logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			t.Fatalf("server exited at start:\n%s", s.logs.String())
		default:
		}
		resp, err := healthClient.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server did not become healthy:\n%s", s.logs.String())
	return nil
}

func (s *server) client() *client.Client {
	// The HTTP client records every response, for the check against
	// api/openapi.json at the end of the run (openapi_test.go).
	return client.New("http://"+s.addr, client.WithAPIKey(testKey), client.WithHTTPClient(recordingClient(s.t)))
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	s.t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.t.Fatalf("server did not stop on SIGTERM:\n%s", s.logs.String())
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.t.Fatalf("server exit code %d after SIGTERM:\n%s", code, s.logs.String())
	}
}

// kill sends SIGKILL and waits.
func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// videoCache holds generated test videos, made once per test binary run;
// genMu serializes their generation.
var (
	videoCache sync.Map
	genMu      sync.Mutex
)

// makeVideo generates a small H.264 MP4 with audio.
func makeVideo(t *testing.T, name string, seconds float64, w, h int) string {
	t.Helper()
	genMu.Lock()
	defer genMu.Unlock()
	key := fmt.Sprintf("%s-%g-%dx%d", name, seconds, w, h)
	if p, ok := videoCache.Load(key); ok {
		return p.(string)
	}
	dir := filepath.Join(os.TempDir(), "framewise-e2e-videos")
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, key+".mp4")
	if _, err := os.Stat(path); err != nil {
		tmp := path + ".tmp.mp4"
		cmd := exec.Command("ffmpeg", "-y", "-v", "error",
			"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=15:duration=%g", w, h, seconds),
			"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:duration=%g", seconds),
			"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "32k", "-shortest", tmp)
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

func base64File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// mediaServer serves files over HTTP on loopback. While gate is not
// closed, responses stream slowly (a few bytes, then wait), so that a task
// can be caught downloading.
type mediaServer struct {
	*http.Server
	url  string
	mu   sync.Mutex
	slow bool
	hits int
}

func startMediaServer(t *testing.T, files map[string]string) *mediaServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &mediaServer{url: "http://" + ln.Addr().String()}
	m.Server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.hits++
		slow := m.slow
		m.mu.Unlock()
		path, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		data, _ := os.ReadFile(path)
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		if !slow {
			w.Write(data)
			return
		}
		w.Write(data[:16])
		w.(http.Flusher).Flush()
		for {
			m.mu.Lock()
			slow = m.slow
			m.mu.Unlock()
			if !slow {
				w.Write(data[16:])
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})}
	go m.Serve(ln)
	t.Cleanup(func() { m.Close() })
	return m
}

func (m *mediaServer) setSlow(v bool) {
	m.mu.Lock()
	m.slow = v
	m.mu.Unlock()
}

func waitCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func readAll(t *testing.T, r io.Reader) string {
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
