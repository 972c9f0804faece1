package webui_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/framewise/framewise/internal/webui"
)

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestUIFiles: the page and every file it names are served from the
// embedded files, with the security headers, and nothing refers to
// another host.
func TestUIFiles(t *testing.T) {
	h := webui.Handler()
	resp, page := get(t, h, "/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(page, `<main id="main"`) {
		t.Fatalf("GET /: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), page)
	}
	refs := regexp.MustCompile(`(?:src|href)="(/ui/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 2 {
		t.Fatalf("the page names %d UI files, want the stylesheet and the script", len(refs))
	}
	types := map[string]string{".css": "text/css", ".js": "text/javascript"}
	for _, ref := range refs {
		resp, body := get(t, h, ref[1])
		want := types[ref[1][strings.LastIndex(ref[1], "."):]]
		if resp.StatusCode != 200 || len(body) == 0 || !strings.HasPrefix(resp.Header.Get("Content-Type"), want) {
			t.Errorf("GET %s: %d %q, %d bytes", ref[1], resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
	for _, p := range []string{"/", "/ui/js/app.js", "/ui/app.css", "/ui/nothing.js"} {
		resp, _ := get(t, h, p)
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: CSP %q, X-Content-Type-Options %q", p, csp, resp.Header.Get("X-Content-Type-Options"))
		}
	}
	if resp, _ := get(t, h, "/ui/nothing.js"); resp.StatusCode != 404 {
		t.Errorf("a missing file: %d, want 404", resp.StatusCode)
	}
	if resp, body := get(t, h, "/ui/js/"); resp.StatusCode != 404 || strings.Contains(body, "app.js") {
		t.Errorf("a folder: %d %q, want 404 without a listing", resp.StatusCode, body)
	}
}

// TestUICSPUploads: an object store's origin that takes chunks is allowed
// for uploads (connect-src) and nothing else.
func TestUICSPUploads(t *testing.T) {
	resp, _ := get(t, webui.Handler("http://127.0.0.1:7070"), "/")
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "connect-src 'self' http://127.0.0.1:7070;") || strings.Count(csp, "7070") != 1 {
		t.Errorf("CSP %q", csp)
	}
}

// TestUINoExternalOrInline: no file loads from another host, and the page
// has no inline script or style (the CSP would block them).
func TestUINoExternalOrInline(t *testing.T) {
	h := webui.Handler()
	_, page := get(t, h, "/")
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle="|\son[a-z]+="`).MatchString(page) {
		t.Error("index.html has inline script, style or an event handler attribute")
	}
	external := regexp.MustCompile(`(?i)(?:src|href)\s*=\s*["']?(?:https?:)?//|@import\s+url\(\s*["']?(?:https?:)?//|fetch\(\s*["'](?:https?:)?//`)
	err := fs.WalkDir(webui.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(webui.Files(), p)
		if err != nil {
			return err
		}
		if m := external.Find(b); m != nil {
			t.Errorf("%s loads from another host: %q", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
