package fetch

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/netguard"
)

// All servers listen on loopback, so the fetchers under test turn the guard
// off (AllowPrivate) except where the guard itself is tested.

var video = bytes.Repeat([]byte("\x00\x00\x00\x20ftypisom"), 100) // 1200 bytes that sniff as video

func newFetcher(maxBytes int64, opts ...netguard.Option) *Fetcher {
	return &Fetcher{Client: netguard.Guard{AllowPrivate: true}.HTTPClient(0, opts...), MaxBytes: maxBytes}
}

func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func videoHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Content-Length", strconv.Itoa(len(video)))
	w.Write(video)
}

// chunked streams body in pieces without a Content-Length.
func chunked(ct string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ct)
		for len(body) > 0 {
			k := min(100, len(body))
			w.Write(body[:k])
			w.(http.Flusher).Flush()
			body = body[k:]
		}
	}
}

// wantErr checks that err is a *Error with the given temporariness, that
// it matches target (when set) and that its message contains msg.
func wantErr(t *testing.T, err error, temporary bool, target error, msg string) *Error {
	t.Helper()
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v (%T), want *fetch.Error", err, err)
	}
	if IsTemporary(err) != temporary {
		t.Errorf("IsTemporary = %v, want %v (err %q, cause %v)", !temporary, temporary, err, fe.Err)
	}
	if target != nil && !errors.Is(err, target) {
		t.Errorf("err = %q (cause %v), want errors.Is %v", err, fe.Err, target)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("message = %q, want it to contain %q", err.Error(), msg)
	}
	return fe
}

func TestFetchSuccess(t *testing.T) {
	t.Parallel()
	url := serve(t, videoHandler)
	var buf bytes.Buffer
	n, ct, err := newFetcher(int64(len(video))).Fetch(context.Background(), url+"/v.mp4", &buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(video)) || ct != "video/mp4" || !bytes.Equal(buf.Bytes(), video) {
		t.Fatalf("n=%d ct=%q body equal=%v", n, ct, bytes.Equal(buf.Bytes(), video))
	}
}

func TestFetchChunkedAtTheLimit(t *testing.T) {
	t.Parallel()
	url := serve(t, chunked("application/octet-stream", video))
	var buf bytes.Buffer
	n, _, err := newFetcher(int64(len(video))).Fetch(context.Background(), url, &buf)
	if err != nil || n != int64(len(video)) {
		t.Fatalf("n=%d err=%v; a body of exactly MaxBytes must pass", n, err)
	}
}

func TestFetchStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code      int
		temporary bool
		msg       string
	}{
		{404, false, "the server answered 404 Not Found; check the URL"},
		{403, false, "403 Forbidden; the URL must be publicly accessible"},
		{400, false, "400 Bad Request"},
		{410, false, "410 Gone"},
		{408, true, "408 Request Timeout"},
		{429, true, "429 Too Many Requests"},
		{500, true, "500 Internal Server Error"},
		{503, true, "503 Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			t.Parallel()
			url := serve(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "nope", tt.code) })
			var buf bytes.Buffer
			n, _, err := newFetcher(0).Fetch(context.Background(), url, &buf)
			fe := wantErr(t, err, tt.temporary, ErrStatus, tt.msg)
			if fe.StatusCode != tt.code || n != 0 || buf.Len() != 0 {
				t.Errorf("status %d, n %d, written %d", fe.StatusCode, n, buf.Len())
			}
		})
	}
}

func TestFetchTooLargeByContentLength(t *testing.T) {
	t.Parallel()
	url := serve(t, videoHandler)
	var buf bytes.Buffer
	n, _, err := newFetcher(1000).Fetch(context.Background(), url, &buf)
	wantErr(t, err, false, ErrTooLarge, "the video file is 1.2 KiB, larger than the limit of 1000 B")
	if n != 0 || buf.Len() != 0 {
		t.Errorf("wrote %d bytes; a Content-Length over the limit must stop before reading", buf.Len())
	}
}

func TestFetchTooLargeWhileStreaming(t *testing.T) {
	t.Parallel()
	url := serve(t, chunked("video/mp4", video))
	var buf bytes.Buffer
	n, _, err := newFetcher(1000).Fetch(context.Background(), url, &buf)
	wantErr(t, err, false, ErrTooLarge, "larger than the limit of 1000 B")
	if n != 1000 || buf.Len() != 1000 {
		t.Errorf("n = %d, wrote %d; want exactly the limit and no more", n, buf.Len())
	}
}

func TestFetchWebPage(t *testing.T) {
	t.Parallel()
	page := []byte("<!DOCTYPE html><html><head><title>Watch</title></head><body>video player</body></html>")
	for name, h := range map[string]http.HandlerFunc{
		"by content type": chunked("text/html; charset=utf-8", page),
		"xhtml":           chunked("application/xhtml+xml", page),
		"by content":      chunked("application/octet-stream", page),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			_, _, err := newFetcher(0).Fetch(context.Background(), serve(t, h), &buf)
			wantErr(t, err, false, ErrWebPage, "the URL points to a web page, not a media file; use a direct link to the video file")
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes of a web page", buf.Len())
			}
		})
	}
}

// redirectChain returns a URL that redirects hops times before the video.
func redirectChain(t *testing.T, hops int) string {
	t.Helper()
	url := serve(t, videoHandler)
	for range hops {
		url = serve(t, http.RedirectHandler(url, http.StatusFound).ServeHTTP)
	}
	return url
}

func TestFetchRedirects(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if n, _, err := newFetcher(0).Fetch(context.Background(), redirectChain(t, 5), &buf); err != nil || n != int64(len(video)) {
		t.Fatalf("5 redirects: n=%d err=%v, want the video", n, err)
	}
	_, _, err := newFetcher(0).Fetch(context.Background(), redirectChain(t, 6), io.Discard)
	wantErr(t, err, false, netguard.ErrTooManyRedirects, "redirected more than 5 times")
}

func TestFetchGuardRefusesLoopback(t *testing.T) {
	t.Parallel()
	url := serve(t, videoHandler)
	for name, f := range map[string]*Fetcher{
		"zero Fetcher":      {},
		"guarded client":    {Client: netguard.Guard{}.HTTPClient(0)},
		"with a size limit": {Client: netguard.Guard{}.HTTPClient(0), MaxBytes: 1 << 20},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, _, err := f.Fetch(context.Background(), url, io.Discard)
			wantErr(t, err, false, netguard.ErrBlocked, "--allow-private-urls")
		})
	}
}

// slow blocks until the client goes away.
func slow(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

func TestFetchHeaderTimeout(t *testing.T) {
	t.Parallel()
	f := newFetcher(0, netguard.WithResponseHeaderTimeout(100*time.Millisecond))
	start := time.Now()
	_, _, err := f.Fetch(context.Background(), serve(t, slow), io.Discard)
	wantErr(t, err, true, nil, "did not answer in time")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestFetchOverallTimeout(t *testing.T) {
	t.Parallel()
	f := newFetcher(0)
	f.Timeout = 100 * time.Millisecond
	_, _, err := f.Fetch(context.Background(), serve(t, slow), io.Discard)
	wantErr(t, err, true, context.DeadlineExceeded, "took longer than 100ms")
}

func TestFetchStall(t *testing.T) {
	t.Parallel()
	// Headers and a first piece arrive, then nothing.
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		w.Write(video[:600])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	f := newFetcher(0)
	f.StallTimeout = 150 * time.Millisecond
	n, _, err := f.Fetch(context.Background(), url, io.Discard)
	wantErr(t, err, true, ErrStalled, "no data received for 150ms")
	if n != 600 {
		t.Errorf("n = %d, want the 600 bytes received before the stall", n)
	}
}

func TestFetchCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		cancel()
		<-r.Context().Done()
	})
	_, _, err := newFetcher(0).Fetch(ctx, url, io.Discard)
	wantErr(t, err, true, context.Canceled, "cancelled")
}

func TestFetchConnectionClosedEarly(t *testing.T) {
	t.Parallel()
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Content-Length", strconv.Itoa(len(video)))
		w.Write(video[:500])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // closes the connection mid-body
	})
	_, _, err := newFetcher(0).Fetch(context.Background(), url, io.Discard)
	wantErr(t, err, true, io.ErrUnexpectedEOF, "closed before the whole file was received")
}

func TestFetchConnectionRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, _, err = newFetcher(0).Fetch(context.Background(), "http://"+addr+"/v.mp4", io.Discard)
	wantErr(t, err, true, syscall.ECONNREFUSED, "refused the connection")
}

func TestFetchBadURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "not a url", "ftp://example.com/v.mp4", "file:///etc/passwd", "http://", "/relative/v.mp4", "http://user:pw@example.com/v.mp4"} {
		_, _, err := (&Fetcher{}).Fetch(context.Background(), u, io.Discard)
		wantErr(t, err, false, ErrBadURL, "use an absolute http or https URL")
	}
}

type failingWriter struct{}

func (failingWriter) Write(p []byte) (int, error) { return 0, errors.New("disk full") }

func TestFetchWriterError(t *testing.T) {
	t.Parallel()
	_, _, err := newFetcher(0).Fetch(context.Background(), serve(t, videoHandler), failingWriter{})
	fe := wantErr(t, err, true, nil, "storing the downloaded video failed")
	if fe.Err == nil || fe.Err.Error() != "disk full" {
		t.Errorf("cause = %v, want the writer's error", fe.Err)
	}
}

func TestFetchFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.mp4")
	n, _, err := newFetcher(0).FetchFile(context.Background(), serve(t, videoHandler), ok)
	if err != nil || n != int64(len(video)) {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if got, _ := os.ReadFile(ok); !bytes.Equal(got, video) {
		t.Error("file content differs")
	}

	bad := filepath.Join(dir, "bad.mp4")
	_, _, err = newFetcher(1000).FetchFile(context.Background(), serve(t, chunked("video/mp4", video)), bad)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(bad); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial file left behind: %v", err)
	}
}

// Errors that cannot be produced on loopback alone (DNS, certificates) are
// classified from synthetic values.
func TestTransportErrorClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		err       error
		temporary bool
		msg       string
	}{
		{"no such host", &net.DNSError{Name: "nope.example", Err: "no such host", IsNotFound: true}, false, `the host "nope.example" does not exist`},
		{"dns server failure", &net.DNSError{Name: "x.example", Err: "server misbehaving", IsTemporary: true}, true, "could not be resolved right now"},
		{"bad certificate", x509.UnknownAuthorityError{}, false, "TLS certificate is not valid"},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true, "connection to the server failed"},
		{"EOF before a response", io.EOF, true, "connection to the server failed"},
	}
	f := &Fetcher{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wrapped := fmt.Errorf("Get %q: %w", "http://x/", tt.err)
			wantErr(t, f.transportError(context.Background(), wrapped), tt.temporary, tt.err, tt.msg)
		})
	}
}

func TestIsTemporaryOnPlainErrors(t *testing.T) {
	t.Parallel()
	if IsTemporary(nil) || IsTemporary(errors.New("x")) {
		t.Error("nil and plain errors are not temporary")
	}
	if !IsTemporary(fmt.Errorf("x: %w", context.DeadlineExceeded)) {
		t.Error("a deadline is temporary")
	}
}

// The cause of a failed download goes to the log: the URL in it must have
// lost its query, fragment and userinfo, whichever URL of a redirect chain failed.
func TestFetchErrorsCarryNoCredentials(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	hop := serve(t, http.RedirectHandler(dead+"/v.mp4?token=hop-secret#frag-secret", http.StatusFound).ServeHTTP)
	for _, u := range []string{
		dead + "/v.mp4?X-Amz-Credential=AKIA-secret&X-Amz-Signature=sig-secret#frag-secret",
		hop + "/v.mp4?X-Amz-Signature=sig-secret",
	} {
		_, _, err := newFetcher(0).Fetch(context.Background(), u, io.Discard)
		fe := wantErr(t, err, true, syscall.ECONNREFUSED, "refused the connection")
		for _, text := range []string{fe.Error(), fe.Err.Error(), fmt.Sprintf("%+v", fe.Err)} {
			if strings.Contains(text, "secret") {
				t.Errorf("error text carries a credential: %s", text)
			}
		}
		if !strings.Contains(fe.Err.Error(), "/v.mp4?REDACTED") {
			t.Errorf("cause = %q, want the URL with its query redacted", fe.Err)
		}
	}
}

func TestFetchRedirectSendsNoReferer(t *testing.T) {
	t.Parallel()
	referers := make(chan []string, 1)
	target := serve(t, func(w http.ResponseWriter, r *http.Request) {
		referers <- r.Header.Values("Referer")
		videoHandler(w, r)
	})
	from := serve(t, http.RedirectHandler(target+"/v.mp4", http.StatusFound).ServeHTTP)
	// A real client from netguard, as the server builds it.
	f := &Fetcher{Client: netguard.Guard{AllowPrivate: true}.HTTPClient(0)}
	if _, _, err := f.Fetch(context.Background(), from+"/v.mp4?X-Amz-Signature=secret", io.Discard); err != nil {
		t.Fatal(err)
	}
	if ref := <-referers; len(ref) > 0 {
		t.Errorf("redirect target got Referer %q; want none", ref)
	}
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// encoded serves body with a Content-Encoding and Content-Length, and
// reports the Accept-Encoding it was asked with.
func encoded(encoding string, body []byte, asked chan<- string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case asked <- r.Header.Get("Accept-Encoding"):
		default:
		}
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Content-Encoding", encoding)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}
}

// The cap counts the bytes of the file. Fetch asks for identity; a server
// that gzips anyway is inflated here with the cap on the inflated bytes, so
// a tiny compressed body cannot expand past it.
func TestFetchGzipCap(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	bomb := gzipped(t, append(append([]byte{}, video...), make([]byte, 8<<20)...)) // 8 MiB inflated, a few KiB on the wire
	if len(bomb) >= limit {
		t.Fatalf("bomb is %d bytes compressed; want it under the limit", len(bomb))
	}
	asked := make(chan string, 1)
	url := serve(t, encoded("gzip", bomb, asked))
	var buf bytes.Buffer
	n, _, err := newFetcher(limit).Fetch(context.Background(), url, &buf)
	wantErr(t, err, false, ErrTooLarge, "larger than the limit of 64 KiB")
	if n != limit || buf.Len() != limit {
		t.Errorf("n = %d, wrote %d; want the limit and not a byte more", n, buf.Len())
	}
	if ae := <-asked; ae != "identity" {
		t.Errorf("Accept-Encoding = %q, want identity", ae)
	}

	// Under the cap: the file, inflated.
	buf.Reset()
	n, _, err = newFetcher(limit).Fetch(context.Background(), serve(t, encoded("gzip", gzipped(t, video), nil)), &buf)
	if err != nil || n != int64(len(video)) || !bytes.Equal(buf.Bytes(), video) {
		t.Fatalf("gzip under the cap: n=%d err=%v equal=%v", n, err, bytes.Equal(buf.Bytes(), video))
	}

	// Unencoded, the Content-Length is the file size and is checked first.
	n, _, err = newFetcher(1000).Fetch(context.Background(), serve(t, encoded("identity", video, nil)), io.Discard)
	wantErr(t, err, false, ErrTooLarge, "the video file is 1.2 KiB, larger than the limit of 1000 B")
	if n != 0 {
		t.Errorf("n = %d, want nothing read", n)
	}
}

func TestFetchContentEncodingRefused(t *testing.T) {
	t.Parallel()
	damaged := gzipped(t, video)
	damaged[len(damaged)-5] ^= 0xff // the CRC
	for name, tc := range map[string]struct {
		h   http.HandlerFunc
		msg string
	}{
		"brotli":       {encoded("br", video, nil), "compressed (Content-Encoding: br)"},
		"two codings":  {encoded("gzip, gzip", gzipped(t, gzipped(t, video)), nil), "compressed (Content-Encoding: gzip, gzip)"},
		"not gzip":     {encoded("gzip", video, nil), "compressed data is damaged"},
		"bad checksum": {encoded("gzip", damaged, nil), "compressed data is damaged"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, _, err := newFetcher(0).Fetch(context.Background(), serve(t, tc.h), io.Discard)
			wantErr(t, err, false, ErrEncoding, tc.msg)
		})
	}
}
