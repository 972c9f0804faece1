package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framewise/framewise/client"
)

// Hostile clients against the real binary, all on loopback: sockets that
// announce a large body without a key and then stall, sockets that never
// finish their headers, keyed uploads that trickle a byte at a time, and
// one honest slow upload, while a prober checks that /healthz answers
// within 1 s throughout. Every hostile socket must be closed by the server
// within its timeout, the server's peak RSS must stay bounded and its
// file descriptors must come back.
//
// The scale is small for CI; bench/hostile.sh runs the same at full scale
// with these knobs:
//
//	FRAMEWISE_HOSTILE_STALLED  stalled unauthenticated POSTs (300)
//	FRAMEWISE_HOSTILE_HEADERS  sockets that never finish their headers (100)
//	FRAMEWISE_HOSTILE_TRICKLE  keyed uploads trickling a byte every 3 s (20)
//	FRAMEWISE_HOSTILE_DIALERS  stalled POSTs being opened at once (64)
//	FRAMEWISE_HOSTILE_RSS_MB   bound on the server's peak RSS (200)
//
// FRAMEWISE_MAX_CONNS and FRAMEWISE_MAX_CONNS_PER_ADDR, when set, reach
// the server too.
func TestHostileClients(t *testing.T) {
	stalled := envInt(t, "FRAMEWISE_HOSTILE_STALLED", 300)
	headers := envInt(t, "FRAMEWISE_HOSTILE_HEADERS", 100)
	trickle := envInt(t, "FRAMEWISE_HOSTILE_TRICKLE", 20)
	dialers := max(1, envInt(t, "FRAMEWISE_HOSTILE_DIALERS", 64))
	rssBound := envInt(t, "FRAMEWISE_HOSTILE_RSS_MB", 200)

	s := startServer(t, t.TempDir(), "--log-level", "info")
	pid := s.cmd.Process.Pid
	startRSS, startFDs, startCPU := procStatusKB(t, pid, "VmRSS"), countFDs(pid), procCPU(pid)
	attackStart := time.Now()

	probe := startHealthProber(t, s.addr)

	var wg sync.WaitGroup
	stalledRes := make([]sockResult, stalled)
	headerRes := make([]sockResult, headers)
	trickleRes := make([]sockResult, trickle)
	var steady sockResult

	// Sockets that never finish their headers: ReadHeaderTimeout (10 s).
	for i := range headers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			headerRes[i] = hostileSocket(s.addr, "POST /v1.3/analyze/tasks HTTP/1.1\r\nHost: x\r\nX-Slow: a", 14*time.Second, nil)
		}()
	}
	// Keyed uploads trickling one byte every 3 s: cut at the 10 s grace.
	for i := range trickle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			trickleRes[i] = hostileSocket(s.addr, "POST /v1.3/analyze/tasks HTTP/1.1\r\nHost: x\r\nx-api-key: "+testKey+
				"\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n", 16*time.Second,
				func(c net.Conn, stop <-chan struct{}) {
					for {
						select {
						case <-stop:
							return
						case <-time.After(3 * time.Second):
						}
						_ = c.SetWriteDeadline(time.Now().Add(time.Second))
						if _, err := c.Write([]byte("{")); err != nil {
							return
						}
					}
				})
		}()
	}
	// An honest slow upload: 128 KiB at 16 KiB per 1.5 s (about twice the
	// minimum rate), 12 s in all: read to the end, not cut.
	wg.Add(1)
	go func() {
		defer wg.Done()
		body := `{"video":{"type":"url","url":"https://media.example/v.mp4"},"prompt":"` + strings.Repeat("a", 128<<10) + `"}`
		steady = hostileSocket(s.addr, fmt.Sprintf("POST /v1.3/analyze/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-api-key: %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", testKey, len(body)), 20*time.Second,
			func(c net.Conn, stop <-chan struct{}) {
				for i := 0; i < len(body); i += 16 << 10 {
					_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
					if _, err := io.WriteString(c, body[i:min(len(body), i+16<<10)]); err != nil {
						return
					}
					select {
					case <-stop:
						return
					case <-time.After(1500 * time.Millisecond):
					}
				}
			})
	}()
	// Stalled unauthenticated POSTs announcing 200000 bytes, dialers at a
	// time: each must get its 401 and be closed at once.
	sem := make(chan struct{}, dialers)
	for i := range stalled {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			stalledRes[i] = hostileSocket(s.addr, "POST /v1.3/analyze/tasks HTTP/1.1\r\nHost: x\r\n"+
				"Content-Type: application/json\r\nContent-Length: 200000\r\n\r\n", 5*time.Second, nil)
		}()
	}
	wg.Wait()
	probes := probe.stop()
	cpu, wall := procCPU(pid)-startCPU, time.Since(attackStart)

	// File descriptors come back once every socket is closed.
	var endFDs int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if endFDs = countFDs(pid); endFDs <= startFDs+4 || time.Now().After(deadline) {
			break
		}
	}
	hwm := procStatusKB(t, pid, "VmHWM")

	st := summarize(stalledRes)
	hd := summarize(headerRes)
	tr := summarize(trickleRes)
	t.Logf("hostile: stalled unauthenticated POSTs %d: %s", stalled, st)
	t.Logf("hostile: unfinished headers %d: %s", headers, hd)
	t.Logf("hostile: trickling keyed uploads %d: %s", trickle, tr)
	t.Logf("hostile: honest slow upload: status %d after %v", steady.status, steady.answerAfter.Round(time.Millisecond))
	t.Logf("hostile: /healthz %s", probes)
	t.Logf("hostile: server RSS at start %.1f MB, peak (VmHWM) %.1f MB; open files %d at start, %d after; server CPU %.2f s in %.1f s",
		float64(startRSS)/1024, float64(hwm)/1024, startFDs, endFDs, cpu.Seconds(), wall.Seconds())

	if probes.failures > 0 || probes.max > time.Second {
		t.Errorf("/healthz did not answer within 1 s throughout: %s", probes)
	}
	check := func(kind string, rs []sockResult, okStatus map[int]bool, within time.Duration) {
		for i, r := range rs {
			switch {
			case r.err != "":
				t.Errorf("%s %d: %s", kind, i, r.err)
			case !r.closed:
				t.Errorf("%s %d: the server did not close the socket", kind, i)
			case r.closedAfter > within:
				t.Errorf("%s %d: closed after %v, want within %v", kind, i, r.closedAfter, within)
			case !okStatus[r.status]:
				t.Errorf("%s %d: status %d", kind, i, r.status)
			}
		}
	}
	// 503: over the connection caps; 0: closed before any answer (beyond
	// the overflow pool). Both are refusals; a 401 is the usual answer.
	check("stalled", stalledRes, map[int]bool{401: true, 503: true, 0: true}, 2*time.Second)
	check("unfinished headers", headerRes, map[int]bool{0: true, 503: true}, 12*time.Second)
	check("trickling upload", trickleRes, map[int]bool{408: true, 503: true, 0: true}, 14*time.Second)
	if st.byStatus[401] < stalled*9/10 {
		t.Errorf("only %d of %d stalled sockets got their 401", st.byStatus[401], stalled)
	}
	if tr.byStatus[408] < trickle*9/10 {
		t.Errorf("only %d of %d trickling uploads got 408", tr.byStatus[408], trickle)
	}
	if steady.err != "" || steady.status == 0 || steady.status == 408 || steady.status >= 500 || steady.answerAfter < 10*time.Second {
		t.Errorf("honest slow upload: status %d after %v %s (want it read to the end, 12 s, and answered)", steady.status, steady.answerAfter, steady.err)
	}
	if hwm > int64(rssBound)<<10 {
		t.Errorf("server peak RSS %d MB > %d MB", hwm>>10, rssBound)
	}
	if endFDs > startFDs+4 {
		t.Errorf("server holds %d open files, %d before the attack", endFDs, startFDs)
	}
	// And the API still works.
	if _, err := s.client().ListTasks(waitCtx(t, 10*time.Second), client.ListOptions{}); err != nil {
		t.Errorf("list tasks after the attack: %v", err)
	}
}

// With a small per-address cap (FRAMEWISE_MAX_CONNS_PER_ADDR), connections
// over it are answered 503 — except /healthz, which still answers — and
// closed; those beyond the overflow pool are closed at once.
func TestHostileConnCaps(t *testing.T) {
	t.Setenv("FRAMEWISE_MAX_CONNS_PER_ADDR", "40")
	s := startServer(t, t.TempDir(), "--log-level", "info")
	// No connection of this process may hold one of the 40 places: the
	// health poll's is closed (healthClient); let the server see it go.
	time.Sleep(100 * time.Millisecond)

	// 40 sockets that never send a request fill the address's places.
	var held []net.Conn
	for range 40 {
		c, err := net.DialTimeout("tcp", s.addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	time.Sleep(200 * time.Millisecond)

	get := func(path string, key bool) (*http.Response, error) {
		req, _ := http.NewRequest("GET", "http://"+s.addr+path, nil)
		if key {
			req.Header.Set("x-api-key", testKey)
		}
		cl := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := cl.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	if resp, err := get("/healthz", false); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz with the address at its cap: %v %v", resp, err)
	}
	if resp, err := get("/v1.3/analyze/tasks", true); err != nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("API with the address at its cap: %v %v, want 503 with Retry-After", resp, err)
	}

	// 100 more silent sockets: the overflow pool (64) serves some for at
	// most 2 s, the rest are closed at once.
	res := make([]sockResult, 100)
	var wg sync.WaitGroup
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = hostileSocket(s.addr, "", 5*time.Second, nil)
		}()
	}
	wg.Wait()
	var atOnce, overflow int
	for i, r := range res {
		switch {
		case !r.closed || r.err != "":
			t.Errorf("socket %d over the cap: closed %v %s", i, r.closed, r.err)
		case r.closedAfter < 500*time.Millisecond:
			atOnce++
		case r.closedAfter < 3*time.Second:
			overflow++
		default:
			t.Errorf("socket %d over the cap closed after %v", i, r.closedAfter)
		}
	}
	t.Logf("100 sockets over a cap of 40: %d closed at once, %d served by the overflow pool (closed within 2 s)", atOnce, overflow)
	if atOnce < 30 || overflow > 64 {
		t.Errorf("%d closed at once, %d overflow; want at least 30 and at most 64", atOnce, overflow)
	}

	// The 40 silent ones are cut at the header timeout (10 s); then the
	// address is served normally again.
	for _, c := range held {
		_ = c.SetReadDeadline(time.Now().Add(12 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("a silent socket was not closed at the header timeout: %v", err)
		}
	}
	resp, err := get("/v1.3/analyze/tasks", true)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("API after the silent sockets were cut: %v %v", resp, err)
	}
}

// sockResult is what became of one raw socket.
type sockResult struct {
	status      int           // of the response, 0 without one
	answerAfter time.Duration // from the end of what was first sent
	closed      bool          // by the server (EOF or reset)
	closedAfter time.Duration // from the end of what was first sent
	err         string        // a failure of the test client itself
}

// hostileSocket dials, sends first, runs feed (if any) until the socket is
// closed, and waits up to limit for the server to answer and close it.
func hostileSocket(addr, first string, limit time.Duration, feed func(net.Conn, <-chan struct{})) sockResult {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return sockResult{err: "dial: " + err.Error()}
	}
	defer c.Close()
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, first); err != nil {
		// Refused before the write: it counts as closed at once.
		return sockResult{closed: true}
	}
	start := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	if feed != nil {
		go feed(c, stop)
	}
	_ = c.SetReadDeadline(start.Add(limit))
	br := bufio.NewReader(c)
	var r sockResult
	if resp, err := http.ReadResponse(br, nil); err == nil {
		r.status, r.answerAfter = resp.StatusCode, time.Since(start)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	} else if isTimeout(err) {
		return r
	}
	_, err = io.Copy(io.Discard, br)
	if isTimeout(err) {
		return r
	}
	r.closed, r.closedAfter = true, time.Since(start)
	return r
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

type sockSummary struct {
	n, closed int
	byStatus  map[int]int
	p50, max  time.Duration
}

func summarize(rs []sockResult) sockSummary {
	s := sockSummary{n: len(rs), byStatus: map[int]int{}}
	var ds []time.Duration
	for _, r := range rs {
		s.byStatus[r.status]++
		if r.closed {
			s.closed++
			ds = append(ds, r.closedAfter)
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	if len(ds) > 0 {
		s.p50, s.max = ds[len(ds)/2], ds[len(ds)-1]
	}
	return s
}

func (s sockSummary) String() string {
	var codes []string
	for _, c := range []int{401, 408, 503, 0} {
		if n := s.byStatus[c]; n > 0 {
			name := strconv.Itoa(c)
			if c == 0 {
				name = "no answer"
			}
			codes = append(codes, fmt.Sprintf("%s ×%d", name, n))
		}
	}
	for c, n := range s.byStatus {
		if c != 401 && c != 408 && c != 503 && c != 0 {
			codes = append(codes, fmt.Sprintf("%d ×%d", c, n))
		}
	}
	return fmt.Sprintf("closed by the server %d/%d (median after %v, max %v); %s", s.closed, s.n,
		s.p50.Round(time.Millisecond), s.max.Round(time.Millisecond), strings.Join(codes, ", "))
}

// healthProber GETs /healthz every 100 ms on a new connection.
type healthProber struct {
	done     chan struct{}
	finished chan probeStats
}

type probeStats struct {
	n, failures int
	max, p99    time.Duration
	firstErr    string
}

func (p probeStats) String() string {
	s := fmt.Sprintf("%d probes, max latency %v, p99 %v, %d failed", p.n, p.max.Round(time.Millisecond), p.p99.Round(time.Millisecond), p.failures)
	if p.firstErr != "" {
		s += " (first: " + p.firstErr + ")"
	}
	return s
}

// startHealthProber probes with curl, in a process of its own, when there
// is one: in this process the probe would wait for the scheduler behind
// thousands of attacking goroutines, and measure them rather than the
// server.
func startHealthProber(t *testing.T, addr string) *healthProber {
	p := &healthProber{done: make(chan struct{}), finished: make(chan probeStats, 1)}
	cl := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	curl, _ := exec.LookPath("curl")
	t.Logf("hostile: /healthz prober: %s", map[bool]string{true: "curl (a process of its own)", false: "in-process Go client"}[curl != ""])
	probe := func() (time.Duration, error) {
		start := time.Now()
		if curl == "" {
			resp, err := cl.Get("http://" + addr + "/healthz")
			if err != nil {
				return time.Since(start), err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return time.Since(start), fmt.Errorf("status %d", resp.StatusCode)
			}
			return time.Since(start), nil
		}
		// curl's own clock: from its connect to the end of the answer.
		out, err := exec.Command(curl, "-s", "-o", "/dev/null", "--max-time", "1", "-w", "%{http_code} %{time_total}",
			"http://"+addr+"/healthz").Output()
		var code int
		var secs float64
		if _, serr := fmt.Sscan(string(out), &code, &secs); serr != nil || err != nil {
			return max(time.Since(start), time.Second), fmt.Errorf("curl: %v %q", err, out)
		}
		d := time.Duration(secs * float64(time.Second))
		if code != 200 {
			return d, fmt.Errorf("status %d", code)
		}
		return d, nil
	}
	go func() {
		var st probeStats
		var lat []time.Duration
		for {
			select {
			case <-p.done:
				sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
				if len(lat) > 0 {
					st.p99 = lat[len(lat)*99/100]
				}
				p.finished <- st
				return
			case <-time.After(100 * time.Millisecond):
			}
			d, err := probe()
			st.n++
			lat = append(lat, d)
			st.max = max(st.max, d)
			if err != nil {
				st.failures++
				if st.firstErr == "" {
					st.firstErr = err.Error()
				}
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			close(p.done)
		}
	})
	return p
}

func (p *healthProber) stop() probeStats {
	close(p.done)
	return <-p.finished
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a whole number", name, v)
	}
	return n
}

// procStatusKB reads a field of /proc/PID/status in kB.
func procStatusKB(t *testing.T, pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// procCPU is the user and system CPU time of a process so far.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces): utime
	// and stime are the 12th and 13th, in clock ticks (100 per second).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func countFDs(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}
