// Package connlimit bounds the TCP connections an HTTP server holds: in
// total, so that sockets never use up the process's file descriptors, and
// per client address, so that one client cannot take them all.
//
// A connection over a cap is not simply dropped: it joins a small overflow
// pool (Config.Overflow) where it is served for a short time
// (Config.OverflowLife) so that the handler can answer /healthz and refuse
// everything else with a 503, and then it is closed. When the pool is full,
// its oldest connection is closed to make room, so that a flood of sockets
// that send nothing cannot keep a health check out, even from the flood's
// own address (a load balancer on the same host, a test on loopback). With
// no pool (Overflow -1) a connection over a cap is closed at once, before
// anything is read. When a cap is reached and a keep-alive connection is
// idle (between requests), the oldest idle one is closed to make room, so
// idle connections never keep working clients out.
package connlimit

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	DefaultMaxConns        = 4096
	DefaultMaxConnsPerAddr = 256
	DefaultOverflow        = 64
	DefaultOverflowLife    = 2 * time.Second
	// DefaultReserve is the file descriptors kept for everything but
	// client sockets: SQLite (database, WAL and shared-memory files of each
	// pooled connection), ffmpeg pipes, model-server connections, logs.
	DefaultReserve = 256
)

// Config sets the caps. Zero values are the defaults.
type Config struct {
	// MaxConns is the most client connections open at once (not counting
	// the overflow pool).
	MaxConns int
	// MaxConnsPerAddr is the most connections of one client address: an
	// IPv4 address, or an IPv6 /64 (one subscriber's usual allocation).
	MaxConnsPerAddr int
	// Overflow is how many connections over a cap may be served at once,
	// each for at most OverflowLife (to answer /healthz or a 503); when it
	// is full the oldest is closed for the newest. -1 is none: connections
	// over a cap are closed at once.
	Overflow int
	// OverflowLife bounds the whole life of an overflow connection.
	OverflowLife time.Duration
	// Log, when not nil, gets a warning (at most every 10 s) while
	// connections are refused or shed.
	Log *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxConnsPerAddr <= 0 {
		c.MaxConnsPerAddr = DefaultMaxConnsPerAddr
	}
	c.MaxConnsPerAddr = min(c.MaxConnsPerAddr, c.MaxConns)
	switch {
	case c.Overflow == 0:
		c.Overflow = DefaultOverflow
	case c.Overflow < 0:
		c.Overflow = 0
	}
	if c.OverflowLife <= 0 {
		c.OverflowLife = DefaultOverflowLife
	}
	return c
}

// FromEnv reads FRAMEWISE_MAX_CONNS and FRAMEWISE_MAX_CONNS_PER_ADDR over
// the defaults (empty means default).
func FromEnv(getenv func(string) string) (Config, error) {
	var c Config
	var errs []error
	for _, v := range []struct {
		name string
		dst  *int
	}{{"FRAMEWISE_MAX_CONNS", &c.MaxConns}, {"FRAMEWISE_MAX_CONNS_PER_ADDR", &c.MaxConnsPerAddr}} {
		s := getenv(v.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("%s: %q is not a whole number of at least 1", v.name, s))
			continue
		}
		*v.dst = n
	}
	return c, errors.Join(errs...)
}

// Fit lowers the caps so that every connection, overflow included, can
// hold its socket and one file (an upload being written) within nofile
// descriptors, less reserve for the rest of the process. lowered says
// whether MaxConns had to come down.
func (c Config) Fit(nofile uint64, reserve int) (fit Config, lowered bool) {
	c = c.withDefaults()
	budget := int(min(nofile, 1<<30)) - reserve - c.Overflow
	most := max(budget/2, 16)
	if c.MaxConns > most {
		c.MaxConns, lowered = most, true
	}
	c.MaxConnsPerAddr = min(c.MaxConnsPerAddr, c.MaxConns)
	return c, lowered
}

// Stats counts what a Listener did.
type Stats struct {
	Open, Overflow                          int // connections open now: within the caps, in the overflow pool
	PeakOpen, PeakPerAddr, PeakOverflow     int // the most at once since start
	Accepted, Overflowed, Refused, ShedIdle int64
	ShedOverflow                            int64 // overflow connections closed to make room for newer ones
}

// Listener wraps a net.Listener with the caps. Give its ConnState and
// ConnContext to the http.Server that serves it.
type Listener struct {
	net.Listener
	cfg Config

	mu       sync.Mutex
	open     int
	over     int
	perAddr  map[netip.Prefix]int
	idle     list.List // *Conn, longest idle first
	overflow list.List // *Conn in the overflow pool, oldest first
	stats    Stats
	lastWarn time.Time

	refused, shed, shedOver atomic.Int64
}

// NewListener returns ln with the caps of cfg (cfg.Fit it first).
func NewListener(ln net.Listener, cfg Config) *Listener {
	cfg = cfg.withDefaults()
	return &Listener{Listener: ln, cfg: cfg, perAddr: map[netip.Prefix]int{}}
}

// Config returns the caps in force.
func (l *Listener) Config() Config { return l.cfg }

// Stats returns the counters.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Open, s.Overflow = l.open, l.over
	s.Refused, s.ShedIdle, s.ShedOverflow = l.refused.Load(), l.shed.Load(), l.shedOver.Load()
	return s
}

// Accept returns the next connection within the caps; connections beyond
// them are closed here, before anything is read from them.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if wc := l.admit(c); wc != nil {
			return wc, nil
		}
		l.refused.Add(1)
		l.warn()
		_ = c.Close()
	}
}

// addrKey is the per-address key of a remote address: the IPv4 address,
// or the /64 of an IPv6 address. Anything else (a Unix socket) shares one
// key.
func addrKey(a net.Addr) netip.Prefix {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			ip = ap.Addr()
		}
	}
	ip = ip.Unmap()
	switch {
	case ip.Is4():
		return netip.PrefixFrom(ip, 32)
	case ip.Is6():
		p, _ := ip.Prefix(64)
		return p
	}
	return netip.Prefix{}
}

func (l *Listener) admit(c net.Conn) *Conn {
	key := addrKey(c.RemoteAddr())
	for {
		l.mu.Lock()
		full := l.open >= l.cfg.MaxConns
		addrFull := l.perAddr[key] >= l.cfg.MaxConnsPerAddr
		if !full && !addrFull {
			l.open++
			l.perAddr[key]++
			l.stats.Accepted++
			l.stats.PeakOpen = max(l.stats.PeakOpen, l.open)
			l.stats.PeakPerAddr = max(l.stats.PeakPerAddr, l.perAddr[key])
			l.mu.Unlock()
			return &Conn{Conn: c, l: l, key: key}
		}
		// Make room by closing the connection idle the longest: of this
		// address when it is the address that is full, else any.
		var victim *Conn
		for e := l.idle.Front(); e != nil; e = e.Next() {
			if ic := e.Value.(*Conn); !addrFull || ic.key == key {
				victim = ic
				l.idle.Remove(e)
				ic.elem = nil
				break
			}
		}
		if victim != nil {
			l.mu.Unlock()
			l.shed.Add(1)
			_ = victim.Close() // releases its place
			continue
		}
		if l.cfg.Overflow == 0 {
			l.mu.Unlock()
			return nil
		}
		if l.over >= l.cfg.Overflow {
			// The pool is full: its oldest connection makes room.
			e := l.overflow.Front()
			oldest := e.Value.(*Conn)
			l.overflow.Remove(e)
			oldest.elem = nil
			l.mu.Unlock()
			l.shedOver.Add(1)
			_ = oldest.Close()
			continue
		}
		until := time.Now().Add(l.cfg.OverflowLife)
		oc := &Conn{Conn: c, l: l, key: key, overflow: true, until: until}
		oc.elem = l.overflow.PushBack(oc)
		l.over++
		l.stats.Overflowed++
		l.stats.PeakOverflow = max(l.stats.PeakOverflow, l.over)
		l.mu.Unlock()
		_ = c.SetDeadline(until)
		l.warn()
		return oc
	}
}

func (l *Listener) release(c *Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c.closed = true
	if c.overflow {
		if c.elem != nil {
			l.overflow.Remove(c.elem)
			c.elem = nil
		}
		l.over--
		return
	}
	if c.elem != nil {
		l.idle.Remove(c.elem)
		c.elem = nil
	}
	l.open--
	if n := l.perAddr[c.key] - 1; n > 0 {
		l.perAddr[c.key] = n
	} else {
		delete(l.perAddr, c.key)
	}
}

// warn logs, at most every 10 s, that connections are being refused.
func (l *Listener) warn() {
	if l.cfg.Log == nil {
		return
	}
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.lastWarn) < 10*time.Second {
		l.mu.Unlock()
		return
	}
	l.lastWarn = now
	open, over := l.open, l.over
	l.mu.Unlock()
	l.cfg.Log.Warn("too many connections: the ones over the caps get 503 (or /healthz) and are closed",
		"open", open, "max_conns", l.cfg.MaxConns, "max_conns_per_addr", l.cfg.MaxConnsPerAddr,
		"overflow_open", over, "overflow_closed_total", l.shedOver.Load(), "refused_total", l.refused.Load(), "idle_closed_total", l.shed.Load())
}

// ConnState is the http.Server hook that tells the Listener which
// connections are idle between requests.
func (l *Listener) ConnState(nc net.Conn, st http.ConnState) {
	c, ok := nc.(*Conn)
	if !ok || c.overflow {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.closed {
		return
	}
	switch st {
	case http.StateIdle:
		if c.elem == nil {
			c.elem = l.idle.PushBack(c)
		}
	default:
		if c.elem != nil {
			l.idle.Remove(c.elem)
			c.elem = nil
		}
	}
}

type overflowKey struct{}

// ConnContext is the http.Server hook that marks the requests of overflow
// connections (see Overflowed).
func (l *Listener) ConnContext(ctx context.Context, nc net.Conn) context.Context {
	if c, ok := nc.(*Conn); ok && c.overflow {
		return context.WithValue(ctx, overflowKey{}, true)
	}
	return ctx
}

// Overflowed reports whether a request came on a connection over the caps:
// it should be answered briefly (a 503, or /healthz) and the connection
// closed.
func Overflowed(ctx context.Context) bool {
	v, _ := ctx.Value(overflowKey{}).(bool)
	return v
}

// Conn is an admitted connection; closing it gives its place back.
type Conn struct {
	net.Conn
	l        *Listener
	key      netip.Prefix
	overflow bool
	until    time.Time // overflow connections: no deadline may pass this

	once   sync.Once
	elem   *list.Element // in l.idle, or l.overflow for an overflow connection; guarded by l.mu
	closed bool          // guarded by l.mu
}

// Close closes the connection and gives its place back (once).
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}

// CloseWrite half-closes a TCP connection; http.Server uses it to send
// FIN before closing a connection whose request body it did not read.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *Conn) clamp(t time.Time) time.Time {
	if c.overflow && (t.IsZero() || t.After(c.until)) {
		return c.until
	}
	return t
}

// SetDeadline, SetReadDeadline and SetWriteDeadline never let an overflow
// connection live past its end.
func (c *Conn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(c.clamp(t)) }

func (c *Conn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(c.clamp(t)) }

func (c *Conn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.clamp(t)) }
