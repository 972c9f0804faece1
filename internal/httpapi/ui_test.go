package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/framewise/framewise/internal/httpapi"
	"github.com/framewise/framewise/internal/webui"
)

// TestRootUI: GET / answers browsers with the web UI and every other
// client with the JSON service description; the UI's files are under
// /ui/ without a key; with the UI off, browsers get the JSON too.
func TestRootUI(t *testing.T) {
	t.Parallel()
	on, _ := newServerOpts(t, httpapi.Options{APIKeys: []string{key}, UI: webui.Handler()})
	off, _ := newServerOpts(t, httpapi.Options{APIKeys: []string{key}})
	get := func(base, path, accept string) (*http.Response, string) {
		t.Helper()
		resp, b := doRaw(t, "GET", base+path, "", "Accept", accept)
		return resp, string(b)
	}
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	isJSON := func(resp *http.Response, body string) bool {
		return resp.StatusCode == 200 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && strings.Contains(body, `"api":"/v1.3"`)
	}
	resp, body := get(on.URL, "/", browser)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "/ui/js/app.js") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("browser GET /: %d %v\n%.200s", resp.StatusCode, resp.Header, body)
	}
	for _, accept := range []string{"", "*/*", "application/json", "text/html;q=0"} {
		if resp, body := get(on.URL, "/", accept); !isJSON(resp, body) {
			t.Errorf("GET / with Accept %q: %d %q %.200s", accept, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	if resp, body := get(off.URL, "/", browser); !isJSON(resp, body) {
		t.Errorf("UI off, browser GET /: %d %.200s", resp.StatusCode, body)
	}
	if resp, body := get(on.URL, "/ui/js/app.js", ""); resp.StatusCode != 200 || !strings.Contains(body, "import") {
		t.Errorf("GET /ui/js/app.js: %d", resp.StatusCode)
	}
	if resp, _ := get(off.URL, "/ui/js/app.js", ""); resp.StatusCode != 401 && resp.StatusCode != 404 {
		t.Errorf("UI off, GET /ui/js/app.js: %d, want no file", resp.StatusCode)
	}
}
