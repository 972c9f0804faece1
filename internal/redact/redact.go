// Package redact removes credentials from URLs before they reach a log line
// or an error message. Presigned URLs (S3's X-Amz-Signature, GCS's
// X-Goog-Signature, Azure SAS tokens), API tokens and user:password@ ride
// in the query, the fragment and the userinfo of a URL; the scheme, host
// and path are kept so that a log still says which file was meant.
//
// URL redacts one URL, Text every URL inside a message (such as the error
// of net/http: `Get "https://…?X-Amz-Signature=…": dial tcp …`), Error an
// error's message. Everything that logs or reports a user's URL goes
// through them.
package redact

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
)

// Marker replaces a query and userinfo that were removed.
const Marker = "REDACTED"

// URL returns raw with its userinfo replaced by REDACTED, its query by
// "?REDACTED" and its fragment removed: "https://bucket.example/v.mp4?REDACTED".
// It works on text, not on a parsed URL, so malformed URLs are redacted
// too. A string without a query, fragment or userinfo is returned as is.
func URL(raw string) string {
	// The query and fragment: everything from the first '?' or '#'.
	rest := ""
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		if raw[i] == '?' {
			rest = "?" + Marker
		}
		raw = raw[:i]
	}
	// The userinfo: what precedes the last '@' of the authority.
	if i := strings.Index(raw, "//"); i >= 0 {
		auth := raw[i+2:]
		if j := strings.IndexAny(auth, `/\`); j >= 0 {
			auth = auth[:j]
		}
		if k := strings.LastIndexByte(auth, '@'); k >= 0 {
			raw = raw[:i+2] + Marker + raw[i+2+k:]
		}
	}
	return raw + rest
}

// urlInText finds URLs with a scheme in free text. A URL ends at white
// space, a quote or an angle bracket, as when Go formats it with %q or
// an HTTP server echoes it.
var urlInText = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.\-]*://[^\s"'<>` + "`" + `]+`)

// Text returns s with every URL in it passed through URL. Punctuation
// that ends a URL (a colon or period of the sentence) is kept after it.
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlInText.ReplaceAllStringFunc(s, func(u string) string {
		trail := len(u)
		for trail > 0 && strings.IndexByte(".,:;!)]}", u[trail-1]) >= 0 {
			trail--
		}
		return URL(u[:trail]) + u[trail:]
	})
}

// Error returns err with its message redacted by Text, nil for nil. The
// result unwraps to err, so errors.Is and errors.As still see the causes;
// it is err itself when its message needed no change.
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := Text(msg)
	if red == msg {
		return err
	}
	return &redacted{msg: red, err: err}
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// URLError redacts, in place, the URL of every *url.Error in err's chain:
// net/http puts the full request URL there, and whoever unwraps the error
// (to log its cause) would otherwise print it.
func URLError(err error) {
	for err != nil {
		var ue *url.Error
		if !errors.As(err, &ue) {
			return
		}
		ue.URL = URL(ue.URL)
		err = ue.Err
	}
}

// Handler wraps a slog.Handler so that every string and error attribute,
// and the message, of every record is passed through Text: a URL logged
// by any package, ours or a library's, loses its credentials.
func Handler(h slog.Handler) slog.Handler {
	if _, ok := h.(*handler); ok {
		return h
	}
	return &handler{h}
}

type handler struct{ h slog.Handler }

func (r *handler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, Text(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(attr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r *handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = attr(a)
	}
	return &handler{r.h.WithAttrs(red)}
}

func (r *handler) WithGroup(name string) slog.Handler { return &handler{r.h.WithGroup(name)} }

func attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); strings.Contains(s, "://") {
			return slog.String(a.Key, Text(s))
		}
	case slog.KindGroup:
		g := v.Group()
		red := make([]slog.Attr, len(g))
		for i, x := range g {
			red[i] = attr(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(red...)}
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.Any(a.Key, Error(err))
		}
		if s, ok := v.Any().(interface{ String() string }); ok {
			if str := s.String(); strings.Contains(str, "://") {
				return slog.String(a.Key, Text(str))
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
