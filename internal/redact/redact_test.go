package redact

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
)

// secrets appear in the inputs below and must never survive redaction.
var secrets = []string{"s3cr3t", "AKIAEXAMPLE", "pa55", "tok3n", "FwoGZX", "frag-secret"}

func noSecret(t *testing.T, got string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(got, s) {
			t.Errorf("%q still contains %q", got, s)
		}
	}
}

const s3 = "https://bucket.s3.us-east-1.amazonaws.com/videos/clip.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
	"&X-Amz-Credential=AKIAEXAMPLE%2F20260301%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260301T120000Z" +
	"&X-Amz-Expires=3600&X-Amz-Security-Token=FwoGZXIvYXdzE&X-Amz-SignedHeaders=host&X-Amz-Signature=s3cr3t"

func TestURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://media.example.com/v.mp4", "https://media.example.com/v.mp4"},
		{"", ""},
		{"https://media.example.com/v.mp4?sig=s3cr3t", "https://media.example.com/v.mp4?REDACTED"},
		{"https://media.example.com/v.mp4#frag-secret", "https://media.example.com/v.mp4"},
		{"https://media.example.com/v.mp4?token=tok3n#frag-secret", "https://media.example.com/v.mp4?REDACTED"},
		{"https://media.example.com/v.mp4#a?b=frag-secret", "https://media.example.com/v.mp4"},
		{"https://user:pa55@media.example.com/v.mp4", "https://REDACTED@media.example.com/v.mp4"},
		{"https://pa55@media.example.com:8443/v.mp4", "https://REDACTED@media.example.com:8443/v.mp4"},
		{"https://user:p@ss@pa55@media.example.com/v.mp4?x=s3cr3t", "https://REDACTED@media.example.com/v.mp4?REDACTED"},
		{"https://media.example.com/@user/v.mp4", "https://media.example.com/@user/v.mp4"},
		{"http://user:pa55@[::1]:8700/v.mp4?", "http://REDACTED@[::1]:8700/v.mp4?REDACTED"},
		{"https://user:pa55@media.example.com?tok3n", "https://REDACTED@media.example.com?REDACTED"},
		{s3, "https://bucket.s3.us-east-1.amazonaws.com/videos/clip.mp4?REDACTED"},
		{"https://storage.googleapis.com/b/v.mp4?X-Goog-Signature=s3cr3t&X-Goog-Credential=x", "https://storage.googleapis.com/b/v.mp4?REDACTED"},
		{"https://acct.blob.core.windows.net/c/v.mp4?sv=2022&sig=s3cr3t%3D", "https://acct.blob.core.windows.net/c/v.mp4?REDACTED"},
		// Malformed URLs that url.Parse refuses are redacted all the same.
		{"https://media.example.com/%zz.mp4?sig=s3cr3t", "https://media.example.com/%zz.mp4?REDACTED"},
		{"https://us er:pa55@media.example.com/v.mp4", "https://REDACTED@media.example.com/v.mp4"},
		{"media.example.com/v.mp4?sig=s3cr3t", "media.example.com/v.mp4?REDACTED"},
	}
	for _, tt := range tests {
		got := URL(tt.in)
		if got != tt.want {
			t.Errorf("URL(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
		noSecret(t, got)
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"no url here", "no url here"},
		{"downloading the video failed: the server answered 503 Service Unavailable", "downloading the video failed: the server answered 503 Service Unavailable"},
		{`Get "https://bucket.example/v.mp4?X-Amz-Signature=s3cr3t": dial tcp 203.0.113.7:443: connect: connection refused`,
			`Get "https://bucket.example/v.mp4?REDACTED": dial tcp 203.0.113.7:443: connect: connection refused`},
		{`Get "` + s3 + `": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
			`Get "https://bucket.s3.us-east-1.amazonaws.com/videos/clip.mp4?REDACTED": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`},
		{"download https://u:pa55@h.example/v.mp4?tok3n: connection reset", "download https://REDACTED@h.example/v.mp4?REDACTED: connection reset"},
		{"see https://docs.example/page.", "see https://docs.example/page."},
		{"fetch https://h.example/a.mp4?k=s3cr3t, then https://h.example/b.mp4#frag-secret.", "fetch https://h.example/a.mp4?REDACTED, then https://h.example/b.mp4."},
		{"<https://h.example/v.mp4?t=tok3n>", "<https://h.example/v.mp4?REDACTED>"},
		{`{"url":"https://h.example/v.mp4?a=1\u0026sig=s3cr3t"}`, `{"url":"https://h.example/v.mp4?REDACTED"}`},
		{`parse "HTTPS://h.example/%zz?sig=s3cr3t": invalid URL escape "%zz"`, `parse "HTTPS://h.example/%zz?REDACTED": invalid URL escape "%zz"`},
		{"two: http://a.example/?x=s3cr3t http://b.example/?y=tok3n", "two: http://a.example/?REDACTED http://b.example/?REDACTED"},
	}
	for _, tt := range tests {
		got := Text(tt.in)
		if got != tt.want {
			t.Errorf("Text(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
		noSecret(t, got)
	}
}

func TestErrorKeepsTheChain(t *testing.T) {
	t.Parallel()
	if Error(nil) != nil {
		t.Fatal("Error(nil) != nil")
	}
	plain := errors.New("no url")
	if Error(plain) != plain {
		t.Error("an error without a URL must come back unchanged")
	}
	cause := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	err := fmt.Errorf("download: %w", &url.Error{Op: "Get", URL: s3, Err: cause})
	red := Error(err)
	noSecret(t, red.Error())
	if !errors.Is(red, syscall.ECONNREFUSED) {
		t.Error("the redacted error lost its cause")
	}
	if !strings.Contains(red.Error(), `Get "https://bucket.s3.us-east-1.amazonaws.com/videos/clip.mp4?REDACTED": dial tcp: connection refused`) {
		t.Errorf("message = %q", red.Error())
	}
}

func TestURLError(t *testing.T) {
	t.Parallel()
	inner := &url.Error{Op: "Get", URL: "https://u:pa55@redirect.example/v.mp4?tok3n#frag-secret", Err: io.EOF}
	outer := &url.Error{Op: "Get", URL: s3, Err: inner}
	URLError(fmt.Errorf("wrapped: %w", outer))
	noSecret(t, outer.URL)
	noSecret(t, inner.URL)
	noSecret(t, outer.Error())
	if inner.URL != "https://REDACTED@redirect.example/v.mp4?REDACTED" {
		t.Errorf("inner URL = %q", inner.URL)
	}
	URLError(nil)
	URLError(errors.New("x"))
}

type stringer string

func (s stringer) String() string { return string(s) }

func TestHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(Handler(slog.NewJSONHandler(&buf, nil)))
	u, _ := url.Parse("https://h.example/v.mp4?sig=s3cr3t")
	req, _ := http.NewRequest("GET", "https://h.example/w.mp4?token=tok3n", nil)
	log = log.With("source", "https://u:pa55@h.example/x.mp4")
	log.WithGroup("g").Info("fetching https://h.example/m.mp4?X-Amz-Signature=s3cr3t",
		"url", "https://h.example/v.mp4?X-Amz-Credential=AKIAEXAMPLE",
		"parsed", u,
		"req_url", req.URL,
		"named", stringer("https://h.example/n.mp4#frag-secret"),
		"err", fmt.Errorf("download: %w", &url.Error{Op: "Get", URL: s3, Err: io.ErrUnexpectedEOF}),
		slog.Group("inner", "u", "https://h.example/i.mp4?FwoGZX"),
		"n", 3)
	out := buf.String()
	noSecret(t, out)
	for _, want := range []string{`"msg":"fetching https://h.example/m.mp4?REDACTED"`, `"url":"https://h.example/v.mp4?REDACTED"`,
		`"source":"https://REDACTED@h.example/x.mp4"`, `"n":3`, `"u":"https://h.example/i.mp4?REDACTED"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log line lacks %s:\n%s", want, out)
		}
	}
	if Handler(Handler(slog.DiscardHandler)) == nil {
		t.Fatal("nil handler")
	}
}
