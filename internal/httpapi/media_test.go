package httpapi_test

// The media route: POST /v1.3/analyze/tasks/{id}/media signs a short-lived
// URL of the task's stored video (account-scoped like every task route),
// and GET /media/tasks/{id} serves it with range requests to whoever holds
// the URL, refusing a bad or expired signature.

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/account"
	"github.com/framewise/framewise/internal/asset"
	"github.com/framewise/framewise/internal/httpapi"
)

func TestMediaRoute(t *testing.T) {
	t.Parallel()
	signer, _ := asset.NewSigner(bytes.Repeat([]byte("m"), 32))
	srv, _ := newServerOpts(t, httpapi.Options{APIKeys: []string{key}, AdminKeys: []string{"adm"}, MediaSigner: signer})
	k := []string{"x-api-key", key, "Content-Type", "application/json"}

	path := testVideo(t, 5)
	video, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	resp, m := do(t, "POST", srv.URL+"/v1.3/analyze/tasks",
		`{"video":{"type":"base64_string","base64_string":"`+base64.StdEncoding.EncodeToString(video)+`"},"prompt":"p"}`, k...)
	if resp.StatusCode != 202 {
		t.Fatalf("create: %d %v", resp.StatusCode, m)
	}
	id := m["task_id"].(string)

	resp, m = do(t, "POST", srv.URL+"/v1.3/analyze/tasks/"+id+"/media", "", k...)
	if resp.StatusCode != 200 {
		t.Fatalf("POST media: %d %v", resp.StatusCode, m)
	}
	mediaURL, _ := m["url"].(string)
	exp, err := time.Parse(time.RFC3339, m["expires_at"].(string))
	if !strings.HasPrefix(mediaURL, srv.URL+"/media/tasks/"+id+"?") || err != nil ||
		exp.Before(time.Now().Add(httpapi.MediaTTL-time.Minute)) || exp.After(time.Now().Add(httpapi.MediaTTL+time.Minute)) {
		t.Fatalf("POST media = %v (expires %v, %v)", m, exp, err)
	}

	// The whole file, then a range (no API key: the signature authorizes).
	r, body := doRaw(t, "GET", mediaURL, "")
	if r.StatusCode != 200 || !bytes.Equal(body, video) || r.Header.Get("Content-Type") != "video/mp4" ||
		r.Header.Get("Accept-Ranges") != "bytes" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("GET media: %d %v, %d bytes (want %d)", r.StatusCode, r.Header, len(body), len(video))
	}
	r, body = doRaw(t, "GET", mediaURL, "", "Range", "bytes=100-199")
	if r.StatusCode != http.StatusPartialContent || !bytes.Equal(body, video[100:200]) ||
		r.Header.Get("Content-Range") != "bytes 100-199/"+strconv.Itoa(len(video)) {
		t.Fatalf("GET media Range: %d %q, %d bytes", r.StatusCode, r.Header.Get("Content-Range"), len(body))
	}

	// A bad or expired signature: 403, flat, saying which.
	u, _ := url.Parse(mediaURL)
	q := u.Query()
	q.Set("sig", strings.Repeat("0", 64))
	r, body = doRaw(t, "GET", srv.URL+u.Path+"?"+q.Encode(), "")
	if r.StatusCode != 403 || !strings.Contains(string(body), `"media_url_invalid"`) {
		t.Errorf("bad signature: %d %s", r.StatusCode, body)
	}
	r, body = doRaw(t, "GET", srv.URL+"/media/tasks/"+id+"?"+signer.SignMedia(account.Default, "other-task", time.Now().Add(time.Hour)), "")
	if r.StatusCode != 403 {
		t.Errorf("another task's signature: %d %s", r.StatusCode, body)
	}
	r, body = doRaw(t, "GET", srv.URL+"/media/tasks/"+id+"?"+signer.SignMedia(account.Default, id, time.Now().Add(-time.Second)), "")
	if r.StatusCode != 403 || !strings.Contains(string(body), `"media_url_expired"`) {
		t.Errorf("expired: %d %s", r.StatusCode, body)
	}
	r, body = doRaw(t, "GET", srv.URL+"/media/tasks/"+id, "")
	if r.StatusCode != 403 {
		t.Errorf("no signature: %d %s", r.StatusCode, body)
	}

	// Another account: the same 404 as a task that does not exist, for
	// the signing route and for a URL signed for that account.
	resp, m = do(t, "POST", srv.URL+"/admin/v1/accounts", `{"name":"other"}`, "x-api-key", "adm")
	if resp.StatusCode != 201 {
		t.Fatalf("create account: %d %v", resp.StatusCode, m)
	}
	otherKey := m["api_key"].(string)
	resp, other := do(t, "POST", srv.URL+"/v1.3/analyze/tasks/"+id+"/media", "", "x-api-key", otherKey)
	resp2, missing := do(t, "POST", srv.URL+"/v1.3/analyze/tasks/nosuchtask/media", "", "x-api-key", otherKey)
	if resp.StatusCode != 404 || resp2.StatusCode != 404 || errCode(other) != "resource_not_exist" || errCode(missing) != "resource_not_exist" {
		t.Errorf("other account: %d %v; missing task: %d %v", resp.StatusCode, other, resp2.StatusCode, missing)
	}
	r, body = doRaw(t, "GET", srv.URL+"/media/tasks/"+id+"?"+signer.SignMedia("other", id, time.Now().Add(time.Hour)), "")
	if r.StatusCode != 404 {
		t.Errorf("URL signed for another account: %d %s", r.StatusCode, body)
	}
	// The JSON answers follow api/openapi.json (its validator reads JSON
	// bodies only; the video ones are checked above).
	c := &oasClient{t: t, d: openapiDoc(t), base: srv.URL}
	c.send("POST", "/v1.3/analyze/tasks/"+id+"/media", nil, 200, "x-api-key", key)
	c.send("POST", "/v1.3/analyze/tasks/nosuchtask/media", nil, 404, "x-api-key", key)
	c.send("GET", srv.URL+"/media/tasks/"+id+"?"+signer.SignMedia(account.Default, id, time.Now().Add(-time.Second)), nil, 403)
	c.send("GET", srv.URL+"/media/tasks/nosuchtask?"+signer.SignMedia(account.Default, "nosuchtask", time.Now().Add(time.Hour)), nil, 404)

	// A URL video is not stored before its task starts: 409 media_not_ready.
	resp, m = do(t, "POST", srv.URL+"/v1.3/analyze/tasks", `{"video":{"type":"url","url":"https://example.com/v.mp4"},"prompt":"p"}`, k...)
	if resp.StatusCode != 202 {
		t.Fatalf("create url task: %d %v", resp.StatusCode, m)
	}
	resp, m = do(t, "POST", srv.URL+"/v1.3/analyze/tasks/"+m["task_id"].(string)+"/media", "", k...)
	if resp.StatusCode != 409 || errCode(m) != "media_not_ready" {
		t.Errorf("URL task not started: %d %v", resp.StatusCode, m)
	}
	// Without a key: 401, as every task route.
	resp, m = do(t, "POST", srv.URL+"/v1.3/analyze/tasks/"+id+"/media", "")
	if resp.StatusCode != 401 {
		t.Errorf("no key: %d %v", resp.StatusCode, m)
	}
}
