package netguard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// No test here sends traffic to a non-loopback address: the public
// addresses below are only classified, never dialed.

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ip      string
		blocked bool
		reason  string // substring
	}{
		{"127.0.0.1", true, "loopback"},
		{"127.255.255.254", true, "loopback"},
		{"::1", true, "loopback"},
		{"10.0.0.1", true, "private"},
		{"172.16.0.1", true, "private"},
		{"172.31.255.255", true, "private"},
		{"172.32.0.1", false, ""},
		{"192.168.1.1", true, "private"},
		{"fc00::1", true, "unique local"},
		{"fd12:3456::1", true, "unique local"},
		{"169.254.169.254", true, "link-local"},
		{"fe80::1", true, "link-local"},
		{"fe80::1%eth0", true, "link-local"},
		{"224.0.0.1", true, "multicast"},
		{"239.255.255.250", true, "multicast"},
		{"ff02::1", true, "multicast"},
		{"0.0.0.0", true, "this network"},
		{"0.1.2.3", true, "this network"},
		{"::", true, "unspecified"},
		{"100.64.0.1", true, "carrier-grade NAT"},
		{"100.127.255.255", true, "carrier-grade NAT"},
		{"100.128.0.1", false, ""},
		{"255.255.255.255", true, "broadcast"},
		{"240.0.0.1", true, "reserved"},

		{"::ffff:127.0.0.1", true, "loopback address in IPv4-mapped form"},
		{"::ffff:10.1.2.3", true, "private"},
		{"::ffff:169.254.169.254", true, "link-local"},
		{"::ffff:8.8.8.8", false, ""},
		{"::127.0.0.1", true, "IPv4-compatible"},
		{"64:ff9b::10.0.0.1", true, "NAT64"},
		{"64:ff9b::8.8.8.8", false, ""},
		{"2002:7f00:1::", true, "6to4"},
		{"2002:0808:0808::", false, ""},

		{"8.8.8.8", false, ""},
		{"1.1.1.1", false, ""},
		{"93.184.216.34", false, ""},
		{"2606:4700:4700::1111", false, ""},
		{"2001:4860:4860::8888", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			t.Parallel()
			reason, blocked := Classify(netip.MustParseAddr(tt.ip))
			if blocked != tt.blocked || !strings.Contains(reason, tt.reason) {
				t.Errorf("Classify(%s) = %q, %v; want blocked=%v with %q", tt.ip, reason, blocked, tt.blocked, tt.reason)
			}
		})
	}
}

func TestCheckAndControl(t *testing.T) {
	t.Parallel()
	strict := Guard{}
	err := strict.Control("tcp4", "127.0.0.1:8080", nil)
	var be *BlockedError
	if !errors.As(err, &be) || !errors.Is(err, ErrBlocked) {
		t.Fatalf("Control(127.0.0.1) = %v, want *BlockedError", err)
	}
	msg := err.Error()
	for _, want := range []string{"127.0.0.1", "loopback", "--allow-private-urls"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if err := strict.Control("tcp6", "[fe80::1%lo]:80", nil); !errors.Is(err, ErrBlocked) {
		t.Errorf("Control(fe80::1%%lo) = %v, want blocked", err)
	}
	if err := strict.Control("tcp4", "8.8.8.8:443", nil); err != nil {
		t.Errorf("Control(8.8.8.8) = %v, want nil (no connection is made here)", err)
	}
	if err := strict.Control("tcp4", "garbage", nil); err == nil {
		t.Error("Control(garbage) = nil, want an error")
	}
	if err := (Guard{AllowPrivate: true}).Control("tcp4", "127.0.0.1:8080", nil); err != nil {
		t.Errorf("AllowPrivate: Control = %v, want nil", err)
	}
}

func okServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, c *http.Client, url string) (string, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestHTTPClientRefusesLoopback(t *testing.T) {
	t.Parallel()
	srv := okServer(t) // listens on 127.0.0.1

	_, err := get(t, Guard{}.HTTPClient(0), srv.URL)
	if !errors.Is(err, ErrBlocked) {
		t.Fatalf("strict guard: err = %v, want ErrBlocked", err)
	}
	var be *BlockedError
	if !errors.As(err, &be) || be.Addr != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("err = %#v, want the refused address", err)
	}

	// A host name is resolved first and the resolved address is checked.
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	if _, err := get(t, Guard{}.HTTPClient(0), "http://localhost:"+port+"/"); !errors.Is(err, ErrBlocked) {
		t.Errorf("localhost: err = %v, want ErrBlocked", err)
	}

	body, err := get(t, Guard{AllowPrivate: true}.HTTPClient(0), srv.URL)
	if err != nil || body != "ok" {
		t.Fatalf("AllowPrivate: body %q, err %v", body, err)
	}
}

// redirector answers every request with a redirect to target.
func redirector(t *testing.T, target string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.RedirectHandler(target, http.StatusFound))
	t.Cleanup(srv.Close)
	return srv
}

// listenOn starts an "ok" server on a specific loopback address.
func listenOn(t *testing.T, ip string) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// Only loopback traffic is possible here, so a public host is simulated:
// 127.0.0.1 plays a public server and 127.0.0.2 an internal one. The test
// proves the property that matters — the guard runs on every dial, including
// the one a redirect causes, and judges the address of that dial.
func TestRedirectToRefusedAddressIsRefused(t *testing.T) {
	t.Parallel()
	internal := listenOn(t, "127.0.0.2")
	public := redirector(t, internal.URL+"/secret")

	g := Guard{classify: func(ip netip.Addr) (string, bool) {
		if ip == netip.MustParseAddr("127.0.0.1") {
			return "", false // plays a public address
		}
		return Classify(ip)
	}}
	// Sanity: the "public" server itself is reachable.
	if _, err := get(t, g.HTTPClient(0), okServer(t).URL); err != nil {
		t.Fatalf("simulated public server: %v", err)
	}
	_, err := get(t, g.HTTPClient(0), public.URL)
	var be *BlockedError
	if !errors.As(err, &be) || be.Addr != netip.MustParseAddr("127.0.0.2") {
		t.Fatalf("redirect to internal host: err = %v, want refusal of 127.0.0.2", err)
	}
	// With the guard off, the same redirect is followed.
	if body, err := get(t, Guard{AllowPrivate: true}.HTTPClient(0), public.URL); err != nil || body != "ok" {
		t.Fatalf("AllowPrivate: body %q, err %v", body, err)
	}
}

func chain(t *testing.T, hops int) string {
	t.Helper()
	url := okServer(t).URL
	for range hops {
		url = redirector(t, url).URL
	}
	return url
}

func TestRedirectLimit(t *testing.T) {
	t.Parallel()
	c := Guard{AllowPrivate: true}.HTTPClient(0)
	if body, err := get(t, c, chain(t, 5)); err != nil || body != "ok" {
		t.Errorf("5 redirects: body %q, err %v; want them followed", body, err)
	}
	if _, err := get(t, c, chain(t, 6)); !errors.Is(err, ErrTooManyRedirects) {
		t.Errorf("6 redirects: err = %v, want ErrTooManyRedirects", err)
	}
	one := Guard{AllowPrivate: true}.HTTPClient(0, WithMaxRedirects(1))
	if _, err := get(t, one, chain(t, 2)); !errors.Is(err, ErrTooManyRedirects) {
		t.Errorf("WithMaxRedirects(1), 2 redirects: err = %v", err)
	}
}

func TestRedirectSchemeRefused(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/"} {
		srv := redirector(t, target)
		_, err := get(t, Guard{AllowPrivate: true}.HTTPClient(0), srv.URL)
		if !errors.Is(err, ErrRedirectScheme) {
			t.Errorf("redirect to %s: err = %v, want ErrRedirectScheme", target, err)
		}
	}
}

// A redirect must not tell its target where it came from: the Referer
// net/http would set is the previous URL, presigned query included.
func TestRedirectSendsNoReferer(t *testing.T) {
	t.Parallel()
	headers := make(chan http.Header, 1)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers <- r.Header.Clone()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(target.Close)
	from := redirector(t, target.URL+"/v.mp4")
	body, err := get(t, Guard{AllowPrivate: true}.HTTPClient(0), from.URL+"/v.mp4?X-Amz-Signature=secret")
	if err != nil || body != "ok" {
		t.Fatalf("body %q, err %v", body, err)
	}
	h := <-headers
	if ref, ok := h["Referer"]; ok {
		t.Errorf("the redirect target got Referer %q; want none", ref)
	}
	for k, vs := range h {
		for _, v := range vs {
			if strings.Contains(v, "secret") {
				t.Errorf("the redirect target got header %s: %q", k, v)
			}
		}
	}
}

// The client asks for no compression and inflates nothing: a size limit
// on the body counts the bytes the server sent.
func TestNoTransparentDecompression(t *testing.T) {
	t.Parallel()
	gotAE := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAE <- r.Header.Get("Accept-Encoding")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write([]byte("\x1f\x8b not really gzip"))
	}))
	t.Cleanup(srv.Close)
	resp, err := Guard{AllowPrivate: true}.HTTPClient(0).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ae := <-gotAE; ae != "" {
		t.Errorf("Accept-Encoding %q sent; want none", ae)
	}
	if resp.Uncompressed || string(body) != "\x1f\x8b not really gzip" || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("body %q (Uncompressed %v, Content-Encoding %q): want the bytes as sent", body, resp.Uncompressed, resp.Header.Get("Content-Encoding"))
	}
}

// Go never proxies loopback requests, so this cannot be shown with traffic;
// the transport is inspected instead.
func TestProxyFromEnvironmentIgnored(t *testing.T) {
	t.Parallel()
	tr, ok := Guard{}.HTTPClient(0).Transport.(*http.Transport)
	if !ok || tr.Proxy != nil || tr.DialContext == nil {
		t.Fatalf("transport = %#v, want no proxy and the guarded dialer", tr)
	}
}

func ExampleGuard_HTTPClient() {
	client := Guard{AllowPrivate: false}.HTTPClient(0)
	_, err := client.Get("http://127.0.0.1:9/")
	fmt.Println(errors.Is(err, ErrBlocked))
	// Output: true
}
