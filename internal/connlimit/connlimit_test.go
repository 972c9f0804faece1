package connlimit

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// listen returns a Listener on loopback and a channel of what it accepts
// (the test closes them).
func listen(t *testing.T, cfg Config) (*Listener, <-chan net.Conn) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(inner, cfg)
	t.Cleanup(func() { l.Close() })
	ch := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(ch)
				return
			}
			ch <- c
		}
	}()
	return l, ch
}

func dial(t *testing.T, l *Listener) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", l.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func accepted(t *testing.T, ch <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(2 * time.Second):
		t.Fatal("no connection accepted")
		return nil
	}
}

// closedByServer reports whether the server closed c within d.
func closedByServer(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func TestPerAddrCap(t *testing.T) {
	l, ch := listen(t, Config{MaxConnsPerAddr: 3, Overflow: -1})
	var in []net.Conn
	var out []net.Conn
	for range 3 {
		out = append(out, dial(t, l))
		in = append(in, accepted(t, ch))
	}
	extra := dial(t, l)
	if !closedByServer(extra, time.Second) {
		t.Fatal("a 4th connection from one address was not closed")
	}
	if st := l.Stats(); st.Open != 3 || st.Refused != 1 || st.PeakPerAddr != 3 {
		t.Fatalf("stats %+v", st)
	}
	// A place given back is taken again.
	in[0].Close()
	if !closedByServer(out[0], time.Second) {
		t.Fatal("closing the accepted side did not close the client's")
	}
	dial(t, l)
	accepted(t, ch)
	if st := l.Stats(); st.Open != 3 {
		t.Fatalf("open %d after one closed and one came, want 3", st.Open)
	}
	// Closing twice gives the place back once.
	in[0].Close()
	if st := l.Stats(); st.Open != 3 {
		t.Fatalf("open %d after a second Close, want 3", st.Open)
	}
}

func TestTotalCap(t *testing.T) {
	l, ch := listen(t, Config{MaxConns: 2, MaxConnsPerAddr: 100, Overflow: -1})
	for range 2 {
		dial(t, l)
		accepted(t, ch)
	}
	if !closedByServer(dial(t, l), time.Second) {
		t.Fatal("a connection over the total was not closed")
	}
	if c := l.Config(); c.MaxConnsPerAddr != 2 {
		t.Fatalf("per-address cap %d, want it lowered to the total 2", c.MaxConnsPerAddr)
	}
}

// An overflow connection is served, but no deadline can keep it past its
// life, and its requests are marked.
func TestOverflow(t *testing.T) {
	l, ch := listen(t, Config{MaxConnsPerAddr: 1, Overflow: 1, OverflowLife: 300 * time.Millisecond})
	dial(t, l)
	first := accepted(t, ch)
	if Overflowed(l.ConnContext(context.Background(), first)) {
		t.Fatal("a connection within the caps is marked overflow")
	}
	second := dial(t, l)
	oc := accepted(t, ch)
	if !Overflowed(l.ConnContext(context.Background(), oc)) {
		t.Fatal("the connection over the cap is not marked overflow")
	}
	// The pool (1) is full: the newest takes the place of the oldest.
	dial(t, l)
	if !closedByServer(second, time.Second) {
		t.Fatal("the oldest overflow connection was not closed for the newest")
	}
	oc = accepted(t, ch)
	start := time.Now()
	_ = oc.SetReadDeadline(time.Time{}) // no deadline asked...
	_, err := oc.Read(make([]byte, 1))  // ...but the overflow life holds
	if took := time.Since(start); err == nil || took > time.Second {
		t.Fatalf("overflow read: err %v after %v, want a timeout within its 300 ms life", err, took)
	}
	oc.Close()
	if st := l.Stats(); st.Overflow != 0 || st.Overflowed != 2 || st.ShedOverflow != 1 || st.PeakOverflow != 1 || st.Open != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// At the cap, the connection idle the longest is closed to make room.
func TestIdleShed(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(inner, Config{MaxConnsPerAddr: 2, Overflow: -1})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		ConnState: l.ConnState, ConnContext: l.ConnContext}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	get := func(c net.Conn) {
		t.Helper()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// The client can read a response before the server marks its
	// connection idle; wait for the mark so the order is the test's.
	waitIdle := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(time.Millisecond) {
			l.mu.Lock()
			got := l.idle.Len()
			l.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d connections idle, want %d", got, n)
			}
		}
	}
	a := dial(t, l)
	get(a) // a is idle now (keep-alive)
	waitIdle(1)
	b := dial(t, l)
	get(b)
	waitIdle(2)
	c := dial(t, l)
	get(c) // admitted by closing a, idle the longest
	if !closedByServer(a, time.Second) {
		t.Fatal("the oldest idle connection was not closed to make room")
	}
	waitIdle(2) // b and c
	get(b)      // b survived
	waitIdle(2) // c, then b
	if st := l.Stats(); st.ShedIdle != 1 || st.Open != 2 {
		t.Fatalf("stats %+v", st)
	}
	// Idle now, longest first: c, then b (which was used again). New
	// connections take their places; connections that have not sent a
	// request yet (d, e) are not idle and are never shed: f is refused.
	dial(t, l)
	if !closedByServer(c, time.Second) {
		t.Fatal("c, idle the longest, was not closed for d")
	}
	dial(t, l)
	if !closedByServer(b, time.Second) {
		t.Fatal("b was not closed for e")
	}
	if !closedByServer(dial(t, l), time.Second) {
		t.Fatal("f was admitted although no connection was idle")
	}
	if st := l.Stats(); st.ShedIdle != 3 || st.Refused != 1 || st.Open != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFit(t *testing.T) {
	c, lowered := Config{}.Fit(20000, DefaultReserve)
	if lowered || c.MaxConns != DefaultMaxConns || c.MaxConnsPerAddr != DefaultMaxConnsPerAddr {
		t.Fatalf("20000 files: %+v lowered %v", c, lowered)
	}
	c, lowered = Config{}.Fit(1024, DefaultReserve)
	if want := (1024 - DefaultReserve - DefaultOverflow) / 2; !lowered || c.MaxConns != want || c.MaxConnsPerAddr != DefaultMaxConnsPerAddr {
		t.Fatalf("1024 files: %+v lowered %v, want max %d", c, lowered, want)
	}
	c, _ = Config{MaxConnsPerAddr: 1000}.Fit(1024, DefaultReserve)
	if c.MaxConnsPerAddr != c.MaxConns {
		t.Fatalf("per-address %d over the total %d", c.MaxConnsPerAddr, c.MaxConns)
	}
	if c, _ := (Config{}).Fit(10, DefaultReserve); c.MaxConns < 16 {
		t.Fatalf("tiny limit: %d", c.MaxConns)
	}
}

func TestFileLimit(t *testing.T) {
	n, err := FileLimit()
	if err != nil || n < 64 {
		t.Fatalf("FileLimit %d %v", n, err)
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{"FRAMEWISE_MAX_CONNS": "100", "FRAMEWISE_MAX_CONNS_PER_ADDR": "10"}
	c, err := FromEnv(func(k string) string { return env[k] })
	if err != nil || c.MaxConns != 100 || c.MaxConnsPerAddr != 10 {
		t.Fatalf("%+v %v", c, err)
	}
	env = map[string]string{"FRAMEWISE_MAX_CONNS": "0", "FRAMEWISE_MAX_CONNS_PER_ADDR": "x"}
	_, err = FromEnv(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "FRAMEWISE_MAX_CONNS:") || !strings.Contains(err.Error(), "FRAMEWISE_MAX_CONNS_PER_ADDR") {
		t.Fatalf("err %v", err)
	}
}

func TestAddrKey(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		{"192.0.2.7:1234", "192.0.2.7/32"},
		{"[::ffff:192.0.2.7]:1234", "192.0.2.7/32"},
		{"[2001:db8:1:2:aaaa::1]:80", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:80", "2001:db8:1:2::/64"},
	} {
		a, err := net.ResolveTCPAddr("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := addrKey(a); got != netip.MustParsePrefix(c.want) {
			t.Errorf("%s → %s, want %s", c.addr, got, c.want)
		}
	}
}
