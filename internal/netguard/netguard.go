// Package netguard is framewise's one guard against server-side request
// forgery. Every outgoing connection to a user-supplied URL (video
// downloads, webhook deliveries) dials through a Guard, which checks the IP
// address actually being connected to — after DNS resolution and on every
// redirect — and refuses loopback, private, link-local, multicast and other
// non-public addresses unless the server runs with --allow-private-urls.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrBlocked matches (errors.Is) every *BlockedError.
var ErrBlocked = errors.New("address not allowed")

// BlockedError is a connection the guard refused.
type BlockedError struct {
	Addr   netip.Addr // the resolved address that was refused
	Reason string     // e.g. "loopback address"
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("refused to connect to %s (%s): URLs that resolve to private or local addresses are not allowed "+
		"unless the server is started with --allow-private-urls", e.Addr, e.Reason)
}

// Is makes errors.Is(err, ErrBlocked) true.
func (e *BlockedError) Is(target error) bool { return target == ErrBlocked }

// Guard decides which addresses outgoing connections may reach. The zero
// value refuses every non-public address.
type Guard struct {
	// AllowPrivate turns the guard off (--allow-private-urls), for
	// deployments that fetch from or deliver to their own network.
	AllowPrivate bool

	// classify replaces Classify in tests, so a redirect from an "allowed"
	// loopback address to a "refused" one can be simulated without any
	// traffic leaving the machine.
	classify func(netip.Addr) (reason string, blocked bool)
}

// Check returns a *BlockedError when ip may not be connected to.
func (g Guard) Check(ip netip.Addr) error {
	if g.AllowPrivate {
		return nil
	}
	classify := Classify
	if g.classify != nil {
		classify = g.classify
	}
	if reason, blocked := classify(ip); blocked {
		return &BlockedError{Addr: ip, Reason: reason}
	}
	return nil
}

// Control is a net.Dialer Control function. The dialer calls it with the
// resolved "ip:port" of each connection attempt, so it sees the address
// that is really used whatever the host name said.
func (g Guard) Control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("netguard: unexpected dial address %q: %w", address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("netguard: dial address %q is not an IP: %w", address, ErrBlocked) // fail closed
	}
	return g.Check(ip)
}

// Dialer returns a net.Dialer that enforces the guard.
func (g Guard) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: g.Control}
}

// DialContext dials through the guard with a 10 s connect timeout.
func (g Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return g.Dialer(DefaultDialTimeout).DialContext(ctx, network, address)
}

// Defaults for HTTPClient.
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 30 * time.Second
	MaxRedirects                 = 5
)

// Redirect errors; the client stops and returns them (wrapped in *url.Error).
var (
	ErrTooManyRedirects = errors.New("too many redirects")
	ErrRedirectScheme   = errors.New("redirect to a URL that is not http or https")
)

// Option adjusts HTTPClient.
type Option func(*clientConfig)

type clientConfig struct {
	dial, tlsHandshake, responseHeader time.Duration
	maxRedirects                       int
}

// WithDialTimeout bounds establishing the TCP connection (default 10 s).
func WithDialTimeout(d time.Duration) Option { return func(c *clientConfig) { c.dial = d } }

// WithResponseHeaderTimeout bounds the wait for response headers after the
// request is sent (default 30 s). It does not limit reading the body.
func WithResponseHeaderTimeout(d time.Duration) Option {
	return func(c *clientConfig) { c.responseHeader = d }
}

// WithMaxRedirects lowers the number of redirects followed (default and
// maximum 5; 0 follows none).
func WithMaxRedirects(n int) Option {
	return func(c *clientConfig) { c.maxRedirects = min(max(n, 0), MaxRedirects) }
}

// HTTPClient returns a client whose every connection goes through the
// guard. timeout bounds a whole exchange including the body (0: no bound;
// use a context deadline for long downloads). Proxies from the environment
// are ignored, since a proxy would dial on our behalf and bypass the check.
// At most 5 redirects are followed, only to http and https URLs, without
// a Referer header; each redirect dials anew and is checked again. Bodies
// are not decompressed transparently (DisableCompression).
func (g Guard) HTTPClient(timeout time.Duration, opts ...Option) *http.Client {
	cfg := clientConfig{
		dial:           DefaultDialTimeout,
		tlsHandshake:   DefaultTLSHandshakeTimeout,
		responseHeader: DefaultResponseHeaderTimeout,
		maxRedirects:   MaxRedirects,
	}
	for _, o := range opts {
		o(&cfg)
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           g.Dialer(cfg.dial).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   cfg.tlsHandshake,
		ResponseHeaderTimeout: cfg.responseHeader,
		ExpectContinueTimeout: time.Second,
		// No transparent gzip: a body is received as sent, so a size
		// limit counts the bytes of the file, not of an inflated stream.
		DisableCompression: true,
	}
	maxRedirects := cfg.maxRedirects
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("%w: stopped after %d", ErrTooManyRedirects, maxRedirects)
			}
			if s := req.URL.Scheme; s != "http" && s != "https" {
				return fmt.Errorf("%w (%s:)", ErrRedirectScheme, s)
			}
			// net/http sets Referer to the previous URL, query included:
			// a presigned URL's signature would go to the redirect target.
			req.Header.Del("Referer")
			return nil
		},
	}
}
