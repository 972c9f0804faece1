// Package fetch downloads a video from a URL a user gave us (video.url).
// It owns the rules of that download: only http and https, the SSRF guard
// (through a netguard client), timeouts, a size limit enforced while
// streaming on the bytes of the file (no compression is asked for; a body
// gzipped anyway is inflated with the limit on the inflated bytes), and
// refusing web pages. Every failure is an *Error whose message the user can
// act on and which says whether trying again later may help (IsTemporary),
// so the job can retry or fail for good. Neither the message nor the cause
// carries the URL's query, fragment or userinfo: presigned URLs hold
// credentials there (see internal/redact).
package fetch

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/framewise/framewise/internal/netguard"
	"github.com/framewise/framewise/internal/redact"
)

// Causes an *Error can wrap; test them with errors.Is. SSRF refusals wrap
// netguard.ErrBlocked, redirect problems netguard.ErrTooManyRedirects or
// netguard.ErrRedirectScheme.
var (
	ErrBadURL   = errors.New("invalid video URL")
	ErrStatus   = errors.New("unexpected HTTP status")
	ErrTooLarge = errors.New("video file too large")
	ErrWebPage  = errors.New("the URL points to a web page, not a media file; use a direct link to the video file")
	ErrStalled  = errors.New("download stalled")
	ErrEncoding = errors.New("unsupported or damaged content encoding")
)

// Error is a failed download. Error() is the message for the user; Err
// is the cause, for errors.Is/As and for the log.
type Error struct {
	Msg        string
	StatusCode int  // the HTTP status when the server answered with one
	Temporary  bool // trying again later may succeed
	Err        error
}

func (e *Error) Error() string { return e.Msg }

func (e *Error) Unwrap() error { return e.Err }

// IsTemporary reports whether a failed download may succeed when tried
// again later: 5xx, 408, 429, timeouts, stalls, reset or refused
// connections, a cancelled context. Refusals by the guard, 4xx, a body that
// is too large, web pages and bad URLs are permanent.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Temporary
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Fetcher downloads one URL at a time into a writer. The zero value is
// usable: it refuses private addresses and has no size limit.
type Fetcher struct {
	// Client makes the requests. Build it with netguard.Guard.HTTPClient
	// (with Timeout 0: long downloads are bounded by Timeout and ctx).
	// Nil means netguard.Guard{}.HTTPClient(0).
	Client *http.Client
	// MaxBytes refuses bodies larger than this many bytes, by
	// Content-Length before reading and by counting while streaming.
	// 0 means no limit.
	MaxBytes int64
	// Timeout bounds the whole download; 0 leaves it to ctx.
	Timeout time.Duration
	// StallTimeout fails a download that receives no data for this long
	// (waiting for headers included); 0 means no stall detection.
	StallTimeout time.Duration
	// UserAgent is sent with each request; default "framewise".
	UserAgent string
}

// Fetch GETs rawURL and streams the body into w without holding it in
// memory. It returns the bytes written and the response's Content-Type.
// On error n is what was written before the failure; the caller discards it.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string, w io.Writer) (n int64, contentType string, err error) {
	u, err := checkURL(rawURL)
	if err != nil {
		return 0, "", err
	}
	client := f.Client
	if client == nil {
		client = netguard.Guard{}.HTTPClient(0)
		defer client.CloseIdleConnections()
	}
	if f.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.Timeout)
		defer cancel()
	}
	ctx, cancelCause := context.WithCancelCause(ctx)
	defer cancelCause(nil)
	var stall *time.Timer
	if f.StallTimeout > 0 {
		stall = time.AfterFunc(f.StallTimeout, func() { cancelCause(ErrStalled) })
		defer stall.Stop()
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, "", &Error{Msg: "the video URL is not valid", Err: errors.Join(ErrBadURL, err)}
	}
	ua := f.UserAgent
	if ua == "" {
		ua = "framewise"
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept", "*/*")
	// The file as it is stored: with no compression asked for, the bytes
	// on the wire are the file's, so Content-Length and the byte cap
	// measure the file (net/http would otherwise ask for gzip and inflate
	// it out of sight of the cap). A server that compresses anyway is
	// handled below.
	req.Header.Set("Accept-Encoding", "identity")

	resp, err := client.Do(req)
	if err != nil {
		return 0, "", f.transportError(ctx, err)
	}
	defer resp.Body.Close()
	contentType = resp.Header.Get("Content-Type")

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return 0, contentType, statusError(resp)
	}
	if isHTML(contentType) {
		return 0, contentType, &Error{Msg: ErrWebPage.Error(), Err: ErrWebPage}
	}
	encoding, err := contentEncoding(resp.Header)
	if err != nil {
		return 0, contentType, err
	}
	if f.MaxBytes > 0 && encoding == "" && resp.ContentLength > f.MaxBytes {
		return 0, contentType, &Error{
			Msg: fmt.Sprintf("the video file is %s, larger than the limit of %s", humanBytes(resp.ContentLength), humanBytes(f.MaxBytes)),
			Err: ErrTooLarge,
		}
	}

	var body io.Reader = resp.Body
	if stall != nil {
		body = &stallReader{r: body, timer: stall, d: f.StallTimeout}
	}
	if encoding != "" {
		// Sent compressed although we asked for identity (an object
		// stored gzip-encoded, say): inflate it here, where the cap below
		// counts the inflated bytes, so a small compressed body cannot
		// expand past it.
		zr, err := gzip.NewReader(body)
		if err == io.EOF {
			return 0, contentType, nil // an empty body
		}
		if err != nil {
			return 0, contentType, f.bodyError(ctx, err)
		}
		defer zr.Close()
		body = zr
	}
	if f.MaxBytes > 0 {
		// One byte more than the cap tells that the file is larger;
		// nothing beyond is read, or inflated, even into a buffer.
		body = io.LimitReader(body, f.MaxBytes+1)
	}
	br := bufio.NewReaderSize(body, 32<<10)
	// A server may call a page a video; the first bytes tell.
	if head, _ := br.Peek(512); len(head) > 0 && strings.HasPrefix(http.DetectContentType(head), "text/html") {
		return 0, contentType, &Error{Msg: ErrWebPage.Error(), Err: ErrWebPage}
	}

	dst := writerOnly{w}
	if f.MaxBytes <= 0 {
		n, err = io.Copy(dst, br)
		return n, contentType, f.bodyError(ctx, err)
	}
	n, err = io.Copy(dst, io.LimitReader(br, f.MaxBytes))
	if err != nil {
		return n, contentType, f.bodyError(ctx, err)
	}
	if _, err := br.ReadByte(); err == nil {
		return n, contentType, &Error{
			Msg: fmt.Sprintf("the video file is larger than the limit of %s", humanBytes(f.MaxBytes)),
			Err: ErrTooLarge,
		}
	} else if err != io.EOF {
		return n, contentType, f.bodyError(ctx, err)
	}
	return n, contentType, nil
}

// FetchFile is Fetch into a new file at path. On error the file is removed.
func (f *Fetcher) FetchFile(ctx context.Context, rawURL, path string) (n int64, contentType string, err error) {
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, "", &Error{Msg: "storing the downloaded video failed", Temporary: true, Err: err}
	}
	n, contentType, err = f.Fetch(ctx, rawURL, file)
	if cerr := file.Close(); err == nil && cerr != nil {
		err = &Error{Msg: "storing the downloaded video failed", Temporary: true, Err: cerr}
	}
	if err != nil {
		os.Remove(path)
		return n, contentType, err
	}
	return n, contentType, nil
}

// writerOnly hides a destination's ReadFrom (io.Copy would hand it the
// network reader) and marks its errors as ours, not the network's.
type writerOnly struct{ io.Writer }

func (w writerOnly) Write(p []byte) (int, error) {
	n, err := w.Writer.Write(p)
	if err != nil {
		err = &writeError{err}
	}
	return n, err
}

func checkURL(raw string) (*url.URL, error) {
	bad := func(why string, cause error) error {
		return &Error{Msg: "the video URL " + why + "; use an absolute http or https URL that points to the video file",
			Err: errors.Join(ErrBadURL, cause)}
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, bad("is not a valid URL", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, bad(fmt.Sprintf("has the scheme %q", u.Scheme), nil)
	}
	if u.Hostname() == "" {
		return nil, bad("has no host", nil)
	}
	if u.User != nil {
		return nil, bad("contains credentials (user:password@)", nil)
	}
	return u, nil
}

func isHTML(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(contentType))
	}
	return mt == "text/html" || mt == "application/xhtml+xml"
}

func statusError(resp *http.Response) *Error {
	code := resp.StatusCode
	status := strings.TrimSpace(resp.Status)
	if status == "" {
		status = fmt.Sprintf("%d %s", code, http.StatusText(code))
	}
	e := &Error{StatusCode: code, Err: fmt.Errorf("%w: %s", ErrStatus, status)}
	switch {
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		e.Temporary = true
		e.Msg = fmt.Sprintf("downloading the video failed: the server answered %s", status)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		e.Msg = fmt.Sprintf("downloading the video failed: the server answered %s; the URL must be publicly accessible (or presigned)", status)
	case code == http.StatusNotFound || code == http.StatusGone:
		e.Msg = fmt.Sprintf("downloading the video failed: the server answered %s; check the URL", status)
	default:
		e.Msg = fmt.Sprintf("downloading the video failed: the server answered %s", status)
	}
	return e
}

// transportError classifies a failure of client.Do (nothing received yet).
func (f *Fetcher) transportError(ctx context.Context, err error) *Error {
	redact.URLError(err)
	var blocked *netguard.BlockedError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	var invalidErr x509.CertificateInvalidError
	var recErr tls.RecordHeaderError
	switch {
	case ctx.Err() != nil:
		return f.contextError(ctx, err)
	case errors.As(err, &blocked):
		return &Error{Msg: "downloading the video failed: " + blocked.Error(), Err: err}
	case errors.Is(err, netguard.ErrBlocked):
		return &Error{Msg: "downloading the video failed: the address is not allowed", Err: err}
	case errors.Is(err, netguard.ErrTooManyRedirects):
		return &Error{Msg: fmt.Sprintf("downloading the video failed: the URL redirected more than %d times; use the final URL of the video file", netguard.MaxRedirects), Err: err}
	case errors.Is(err, netguard.ErrRedirectScheme):
		return &Error{Msg: "downloading the video failed: the URL redirected to a URL that is not http or https", Err: err}
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return &Error{Msg: fmt.Sprintf("downloading the video failed: the host %q does not exist; check the URL", dnsErr.Name), Err: err}
		}
		return &Error{Msg: fmt.Sprintf("downloading the video failed: the host %q could not be resolved right now", dnsErr.Name), Temporary: true, Err: err}
	case errors.As(err, &certErr), errors.As(err, &hostErr), errors.As(err, &authErr), errors.As(err, &invalidErr):
		return &Error{Msg: "downloading the video failed: the server's TLS certificate is not valid", Err: err}
	case errors.As(err, &recErr):
		return &Error{Msg: "downloading the video failed: the server does not speak TLS; check http:// versus https://", Err: err}
	case isTimeout(err):
		return &Error{Msg: "downloading the video failed: the server did not answer in time", Temporary: true, Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &Error{Msg: "downloading the video failed: the server refused the connection", Temporary: true, Err: err}
	default:
		// Resets, EOFs, unreachable networks: assume the network's fault.
		return &Error{Msg: "downloading the video failed: the connection to the server failed", Temporary: true, Err: err}
	}
}

// bodyError classifies a failure while streaming the body (nil stays nil).
func (f *Fetcher) bodyError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return f.contextError(ctx, err)
	}
	var we *writeError
	if errors.As(err, &we) {
		return &Error{Msg: "storing the downloaded video failed", Temporary: true, Err: we.err}
	}
	var corrupt flate.CorruptInputError
	if errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) || errors.As(err, &corrupt) {
		return &Error{Msg: "downloading the video failed: the server sent it gzip-compressed and the compressed data is damaged",
			Err: errors.Join(ErrEncoding, err)}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Msg: "downloading the video failed: the connection closed before the whole file was received", Temporary: true, Err: err}
	}
	if isTimeout(err) {
		return &Error{Msg: "downloading the video failed: the server stopped sending data", Temporary: true, Err: err}
	}
	return &Error{Msg: "downloading the video failed: the connection broke during the download", Temporary: true, Err: err}
}

func (f *Fetcher) contextError(ctx context.Context, err error) *Error {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, ErrStalled):
		return &Error{Msg: fmt.Sprintf("downloading the video failed: no data received for %s", f.StallTimeout), Temporary: true, Err: errors.Join(ErrStalled, err)}
	case errors.Is(cause, context.DeadlineExceeded):
		msg := "downloading the video took too long"
		if f.Timeout > 0 {
			msg = fmt.Sprintf("downloading the video took longer than %s", f.Timeout)
		}
		return &Error{Msg: msg, Temporary: true, Err: errors.Join(context.DeadlineExceeded, err)}
	default:
		return &Error{Msg: "downloading the video was cancelled", Temporary: true, Err: errors.Join(cause, err)}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// contentEncoding returns "gzip" for a gzip-encoded body, "" for an
// unencoded one, and an *Error for encodings that are not decoded here.
func contentEncoding(h http.Header) (string, error) {
	var codings []string
	for _, v := range h.Values("Content-Encoding") {
		for _, c := range strings.Split(v, ",") {
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" && c != "identity" {
				codings = append(codings, c)
			}
		}
	}
	switch {
	case len(codings) == 0:
		return "", nil
	case len(codings) == 1 && (codings[0] == "gzip" || codings[0] == "x-gzip"):
		return "gzip", nil
	}
	return "", &Error{
		Msg: fmt.Sprintf("downloading the video failed: the server sent it compressed (Content-Encoding: %s); serve the file uncompressed", strings.Join(codings, ", ")),
		Err: ErrEncoding,
	}
}

// stallReader pushes the stall deadline back whenever data arrives.
type stallReader struct {
	r     io.Reader
	timer *time.Timer
	d     time.Duration
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.timer.Reset(s.d)
	}
	return n, err
}

// writeError marks a failure of the destination writer, as opposed to the network.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

// humanBytes prints a size in binary units: "512 B", "1.5 MiB", "2 GiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	s := fmt.Sprintf("%.1f", v)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + string("KMGTPE"[exp]) + "iB"
}
