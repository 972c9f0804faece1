// Package webui is framewise's web UI: plain HTML, CSS and JavaScript
// modules, embedded in the binary (no build step), served at / to
// browsers and under Prefix. The UI talks only to the public /v1.3 API
// with the user's API key, so it shows exactly what the API allows; it
// loads nothing from other hosts, so it works on an air-gapped machine.
package webui

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// Prefix is the path under which the UI's files are served.
const Prefix = "/ui/"

//go:embed static
var files embed.FS

// CSP returns the Content-Security-Policy of every UI response:
// everything from this origin only, no inline script or style, no frames,
// no plugins; uploads (XHR PUTs of chunks) may also go to the origins in
// uploads (an object store taking chunks at its own presigned URLs).
func CSP(uploads ...string) string {
	connect := "'self'"
	for _, o := range uploads {
		if o != "" {
			connect += " " + o
		}
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; " +
		"connect-src " + connect + "; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// Handler serves the UI: index.html at any path outside Prefix (the
// server routes only GET / from browsers here) and the embedded files
// under Prefix. uploads are origins besides this one that chunk uploads go
// to (see CSP).
func Handler(uploads ...string) http.Handler {
	csp := CSP(uploads...)
	static := Files()
	assets := http.StripPrefix(Prefix, http.FileServerFS(static))
	index, _ := fs.ReadFile(static, "index.html")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		// Fetched again on each load (embedded files have no modification
		// time to revalidate with), so an upgraded server is never paired
		// with old scripts; the files are small.
		h.Set("Cache-Control", "no-cache")
		switch {
		case !strings.HasPrefix(r.URL.Path, Prefix):
			h.Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(index)
		case strings.HasSuffix(r.URL.Path, "/"):
			http.NotFound(w, r) // no directory listings
		default:
			assets.ServeHTTP(w, r)
		}
	})
}

// Files are the UI's embedded files (index.html, app.css, js/…).
func Files() fs.FS {
	static, _ := fs.Sub(files, "static")
	return static
}
