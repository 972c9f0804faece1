package httpapi_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/analysis"
	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/connlimit"
	"github.com/framewise/framewise/internal/httpapi"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/store"
	"github.com/framewise/framewise/internal/task"
)

const connKey = "conn-test-key"

// fastLimits make the body windows short: 1 KiB per 300 ms.
var fastLimits = httpapi.IOLimits{BodyGrace: 300 * time.Millisecond, BodyWindow: 300 * time.Millisecond, BodyStep: 1 << 10,
	WriteWindow: time.Second}

// newConnServer serves the API (real service and SQLite store) on
// loopback with the given IO limits and, when ccfg is not nil, behind a
// connlimit.Listener as in app.Serve.
func newConnServer(t *testing.T, limits httpapi.IOLimits, ccfg *connlimit.Config) (addr string, ln *connlimit.Listener) {
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
	tasks := store.NewTasks(db, func(ctx context.Context, tx *sql.Tx, id string) error { return nil })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := task.NewService(tasks, blobs, analysis.Checker{Media: tool}, task.DefaultLimits(), log)
	api := httpapi.New(svc, httpapi.Options{APIKeys: []string{connKey}, Log: log, MaxBodyBytes: 1 << 20})
	api.SetReady(true)
	srv := httptest.NewUnstartedServer(api.Handler())
	srv.Config.ReadHeaderTimeout = 2 * time.Second
	srv.Config.BaseContext = func(net.Listener) context.Context { return httpapi.WithIOLimits(context.Background(), limits) }
	if ccfg != nil {
		ln = connlimit.NewListener(srv.Listener, *ccfg)
		srv.Listener = ln
		srv.Config.ConnState = ln.ConnState
		srv.Config.ConnContext = ln.ConnContext
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), ln
}

// rawConn is a client connection written by hand.
type rawConn struct {
	t *testing.T
	net.Conn
	br *bufio.Reader
}

func rawDial(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, Conn: c, br: bufio.NewReader(c)}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// response reads one response within d.
func (c *rawConn) response(d time.Duration) (*http.Response, map[string]any) {
	c.t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("no response within %v: %v", d, err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp, m
}

// closedWithin reports whether the server closed the connection within d.
func (c *rawConn) closedWithin(d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.br.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func errCode(m map[string]any) string {
	if e, ok := m["error"].(map[string]any); ok {
		m = e
	}
	s, _ := m["code"].(string)
	return s
}

// A POST without a key that announces a large body and sends none gets its
// 401 at once, and the server closes the connection without waiting for
// the body (http.Server would otherwise drain up to 256 KiB, forever).
func TestUnauthenticatedStalledBodyClosedAtOnce(t *testing.T) {
	addr, _ := newConnServer(t, httpapi.IOLimits{}, nil) // default 10 s windows
	assets := strings.TrimPrefix(newAssetServer(t).URL, "http://")
	for _, c := range []struct{ name, req string }{
		{"no key, 200000 bytes announced", "POST /v1.3/analyze/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n"},
		{"wrong key, some body sent", "POST /v1.3/analyze/tasks HTTP/1.1\r\nHost: x\r\nx-api-key: nope\r\nContent-Length: 200000\r\n\r\n{\"video\":"},
		{"no key, chunked", "POST /v1.3/assets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n"},
		{"no key, 2 MB, expect 100-continue", "POST /v1.3/analyze/tasks HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n"},
		{"no key, GET", "GET /v1.3/analyze/tasks HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"assets: bad signature on a chunk PUT", "PUT /uploads/u1/1?expires=1&nonce=n&sig=00 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := addr
			if strings.HasPrefix(c.name, "assets:") {
				a = assets
			}
			rc := rawDial(t, a)
			start := time.Now()
			rc.send(c.req)
			resp, m := rc.response(time.Second)
			took := time.Since(start)
			if want := map[bool]int{false: 401, true: 403}[a == assets]; resp.StatusCode != want {
				t.Fatalf("status %d %v", resp.StatusCode, m)
			}
			if !resp.Close { // ReadResponse takes "Connection: close" out of the header
				t.Errorf("no Connection: close on %d", resp.StatusCode)
			}
			if !rc.closedWithin(time.Second) {
				t.Fatal("the server kept the connection open after refusing it")
			}
			if took > 500*time.Millisecond {
				t.Errorf("answer took %v", took)
			}
		})
	}
}

// A keyed client that stops sending its body, or trickles it, is cut when
// it falls below the minimum rate: 408 request_timeout, connection closed.
func TestSlowBodyCut(t *testing.T) {
	addr, _ := newConnServer(t, fastLimits, nil)
	for _, c := range []struct {
		name  string
		every time.Duration // one byte each; 0: nothing after the headers
	}{{"stalled", 0}, {"trickling", 50 * time.Millisecond}} {
		t.Run(c.name, func(t *testing.T) {
			rc := rawDial(t, addr)
			start := time.Now()
			rc.send("POST /v1.3/analyze/tasks HTTP/1.1\r\nHost: x\r\nx-api-key: " + connKey + "\r\nContent-Length: 200000\r\n\r\n")
			stop := make(chan struct{})
			defer close(stop)
			if c.every > 0 {
				go func() {
					for {
						select {
						case <-stop:
							return
						case <-time.After(c.every):
							_ = rc.SetWriteDeadline(time.Now().Add(time.Second))
							if _, err := rc.Write([]byte("{")); err != nil {
								return
							}
						}
					}
				}()
			}
			resp, m := rc.response(3 * time.Second)
			took := time.Since(start)
			if resp.StatusCode != http.StatusRequestTimeout || errCode(m) != "request_timeout" {
				t.Fatalf("status %d %v", resp.StatusCode, m)
			}
			if _, nested := m["error"]; !nested {
				t.Errorf("create's errors are nested: %v", m)
			}
			if took < 250*time.Millisecond || took > 1500*time.Millisecond {
				t.Errorf("cut after %v, want about the 300 ms grace", took)
			}
			if !rc.closedWithin(time.Second) {
				t.Fatal("connection still open after 408")
			}
		})
	}
}

// A create with an inline video holds a decode slot while its body
// arrives: a body that keeps above the minimum rate but is too slow for
// the slot's bound (AdmittedGrace + size at AdmittedRate) is cut with 408
// and a message that points to asset uploads.
func TestAdmittedCreateBodyBounded(t *testing.T) {
	limits := fastLimits
	limits.AdmittedGrace, limits.AdmittedRate = 500*time.Millisecond, 256<<10
	addr, _ := newConnServer(t, limits, nil)
	rc := rawDial(t, addr)
	const size = 400 << 10 // over the 256 KiB from which a create is admitted; bound 0.5 s + 1.56 s
	rc.send(fmt.Sprintf("POST /v1.3/analyze/tasks HTTP/1.1\r\nHost: x\r\nx-api-key: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", connKey, size))
	start := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // 4 KiB per 100 ms: ten times the minimum rate, a sixth of the admitted one
		chunk := strings.Repeat("A", 4<<10)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				_ = rc.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := rc.Write([]byte(chunk)); err != nil {
					return
				}
			}
		}
	}()
	resp, m := rc.response(6 * time.Second)
	took := time.Since(start)
	if resp.StatusCode != http.StatusRequestTimeout || errCode(m) != "request_timeout" {
		t.Fatalf("status %d %v", resp.StatusCode, m)
	}
	e, _ := m["error"].(map[string]any)
	if msg, _ := e["message"].(string); !strings.Contains(msg, "within 2s") || !strings.Contains(msg, "asset") {
		t.Errorf("message %q: want the bound and the way out", msg)
	}
	if took < 1800*time.Millisecond || took > 4*time.Second {
		t.Errorf("cut after %v, want about the 2.06 s bound", took)
	}
}

// A body that keeps arriving at the minimum rate is read however long it
// takes, and the connection stays usable: the deadline is lifted at the end
// of the body, so a wait longer than the windows before the next request
// changes nothing.
func TestSteadySlowBodyPasses(t *testing.T) {
	addr, _ := newConnServer(t, fastLimits, nil)
	rc := rawDial(t, addr)
	prompt := strings.Repeat("a", 8<<10)
	body := `{"video":{"type":"url","url":"https://media.example/v.mp4"},"prompt":"` + prompt + `"}`
	rc.send(fmt.Sprintf("POST /v1.3/analyze/tasks HTTP/1.1\r\nHost: x\r\nx-api-key: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", connKey, len(body)))
	start := time.Now()
	for i := 0; i < len(body); i += 1 << 10 { // 1 KiB per 150 ms: twice the minimum
		rc.send(body[i:min(len(body), i+1<<10)])
		time.Sleep(150 * time.Millisecond)
	}
	resp, m := rc.response(2 * time.Second)
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Fatalf("the body took only %v: the test does not outlast the grace", took)
	}
	if resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500 {
		t.Fatalf("a steady body was refused: %d %v", resp.StatusCode, m)
	}
	if resp.Close {
		t.Fatalf("connection closed after a normal answer %d", resp.StatusCode)
	}
	time.Sleep(700 * time.Millisecond) // more than grace and window
	rc.send("GET /v1.3/analyze/tasks HTTP/1.1\r\nHost: x\r\nx-api-key: " + connKey + "\r\n\r\n")
	if resp, m := rc.response(2 * time.Second); resp.StatusCode != 200 {
		t.Fatalf("second request on the connection: %d %v", resp.StatusCode, m)
	}
}

// Over the per-address cap, a connection is served only for /healthz
// (and a 503 for the rest), then closed.
func TestOverflowAnswersHealthOnly(t *testing.T) {
	addr, ln := newConnServer(t, httpapi.IOLimits{}, &connlimit.Config{MaxConnsPerAddr: 2, Overflow: 4, OverflowLife: time.Second})
	// Two silent connections fill the address's places.
	rawDial(t, addr)
	rawDial(t, addr)
	for ln.Stats().Open < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	rc := rawDial(t, addr)
	rc.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, m := rc.response(time.Second)
	if resp.StatusCode != 200 || m["status"] != "ok" || !resp.Close {
		t.Fatalf("healthz over the cap: %d %v %v", resp.StatusCode, m, resp.Header)
	}
	if !rc.closedWithin(time.Second) {
		t.Fatal("overflow connection kept open")
	}
	rc = rawDial(t, addr)
	rc.send("POST /v1.3/analyze/tasks HTTP/1.1\r\nHost: x\r\nx-api-key: " + connKey + "\r\nContent-Length: 100000\r\n\r\n")
	resp, m = rc.response(time.Second)
	if resp.StatusCode != 503 || errCode(m) != "server_busy" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("API over the cap: %d %v", resp.StatusCode, m)
	}
	if !rc.closedWithin(time.Second) {
		t.Fatal("overflow connection kept open after 503")
	}
	// A silent overflow connection lives no longer than its life.
	rc = rawDial(t, addr)
	if !rc.closedWithin(2 * time.Second) {
		t.Fatal("a silent overflow connection outlived its 1 s life")
	}
}

// page and page_limit are bounded before any arithmetic: a page number
// that would overflow an offset is refused, never wrapped to page 1; a page
// within range past the end is 200 with no data (Q6).
func TestPageBounds(t *testing.T) {
	srv := newAssetServer(t)
	resp, m := do(t, "POST", srv.URL+"/v1.3/assets/multipart-uploads", `{"filename":"a.mp4","type":"video","total_size":600000}`,
		"x-api-key", key, "Content-Type", "application/json")
	if resp.StatusCode != 201 {
		t.Fatalf("create upload: %d %v", resp.StatusCode, m)
	}
	uploadID, _ := m["upload_id"].(string)
	// One task, so that a wrapped page (page 1) would not be empty.
	resp, m = do(t, "POST", srv.URL+"/v1.3/analyze/tasks", `{"video":{"type":"url","url":"https://media.example/v.mp4"},"prompt":"p"}`,
		"x-api-key", key, "Content-Type", "application/json")
	if resp.StatusCode != 202 {
		t.Fatalf("create task: %d %v", resp.StatusCode, m)
	}
	paths := []string{"/v1.3/analyze/tasks", "/v1.3/assets", "/v1.3/assets/multipart-uploads",
		"/v1.3/assets/multipart-uploads/" + uploadID}
	for _, c := range []struct {
		query string
		want  int
	}{
		{"page=9223372036854775807", 400},
		{"page=9223372036854775807&page_limit=50", 400},
		{"page=9223372036854775808", 400},
		{"page=10000001", 400},
		{"page=-9223372036854775808", 400},
		{"page=0", 400},
		{"page_limit=51", 400},
		{"page_limit=9223372036854775807", 400},
		{"page=10000000&page_limit=50", 200},
		{"page=3", 200},
	} {
		for _, path := range paths {
			resp, m := do(t, "GET", srv.URL+path+"?"+c.query, "", "x-api-key", key)
			if resp.StatusCode != c.want {
				t.Errorf("%s?%s: %d %v, want %d", path, c.query, resp.StatusCode, m, c.want)
				continue
			}
			if c.want != 200 {
				if code, _ := code(m); code != "parameter_invalid" {
					t.Errorf("%s?%s: code %q", path, c.query, code)
				}
				continue
			}
			data, _ := m["data"].([]any)
			if strings.Contains(path, "/multipart-uploads/") {
				data, _ = m["uploaded_chunks"].([]any)
			}
			if len(data) != 0 {
				t.Errorf("%s?%s: %d items past the end, want none", path, c.query, len(data))
			}
		}
	}
}
