package httpapi_test

// The OpenAPI document api/openapi.json against the real handler: it is
// served at GET /v1.3/openapi.json, it lists exactly the routes of
// routes.go, the responses of every endpoint follow it, and the validator
// notices when a response drifts from it. The e2e tests validate every
// response of the whole suite the same way (e2e/openapi_test.go).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/framewise/framewise/internal/openapitest"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/internal/httpapi"
)

func openapiDoc(t *testing.T) *openapitest.Doc {
	t.Helper()
	d, err := openapitest.Load(api.OpenAPI)
	if err != nil {
		t.Fatalf("api/openapi.json: %v", err)
	}
	return d
}

// oasClient sends requests to a test server and validates every response
// against the document.
type oasClient struct {
	t    *testing.T
	d    *openapitest.Doc
	base string
}

// send sends a request and checks that the status is want and that the
// response follows the document. hdr holds header name, value pairs.
func (c *oasClient) send(method, target string, body []byte, want int, hdr ...string) (http.Header, map[string]any) {
	c.t.Helper()
	if !strings.HasPrefix(target, "http") {
		target = c.base + target
	}
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Errorf("%s %s: %d %s, want %d", method, req.URL.Path, resp.StatusCode, raw, want)
	}
	if key, problems := c.d.Check(method, req.URL.Path, resp.StatusCode, resp.Header, raw, false); len(problems) > 0 {
		c.t.Errorf("%s %s → %d (documented as %s) does not follow api/openapi.json:\n  body: %.600s\n  - %s",
			method, req.URL.Path, resp.StatusCode, key, raw, strings.Join(problems, "\n  - "))
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.Header, m
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	d := openapiDoc(t)
	s := newAssetServer(t) // with an API key
	c := &oasClient{t: t, d: d, base: s.URL}
	resp, err := http.Get(s.URL + "/v1.3/openapi.json") // no key needed
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(body, api.OpenAPI) {
		t.Fatalf("GET /v1.3/openapi.json: %d %q, %d bytes (want the %d bytes of api/openapi.json)",
			resp.StatusCode, resp.Header.Get("Content-Type"), len(body), len(api.OpenAPI))
	}
	c.send("GET", "/v1.3/openapi.json", nil, 200)
	if d.At("/openapi") != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", d.At("/openapi"))
	}
	// What no path can list: other methods and unknown routes, flat.
	for _, tc := range []struct {
		method, path, component string
		status                  int
	}{
		{"POST", "/v1.3/openapi.json", "MethodNotAllowed", 405},
		{"PATCH", "/v1.3/analyze/tasks", "MethodNotAllowed", 405},
		{"GET", "/v1.3/nothing", "RouteNotFound", 404},
	} {
		req, _ := http.NewRequest(tc.method, s.URL+tc.path, nil)
		req.Header.Set("x-api-key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
		if p := d.CheckResponse("/components/responses/"+tc.component, resp.Header, raw, false); len(p) > 0 {
			t.Errorf("%s %s: %s", tc.method, tc.path, strings.Join(p, "; "))
		}
	}
}

// TestOpenAPIListsEveryRoute compares the document's operations with the
// patterns registered in routes.go.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	t.Parallel()
	d := openapiDoc(t)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "routes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	routed := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "mux" {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok {
			return true
		}
		pattern, _ := strconv.Unquote(lit.Value)
		if method, path, ok := strings.Cut(pattern, " "); ok {
			routed[method+" "+strings.TrimSuffix(path, "{$}")] = true // "/{$}" is the exact path "/"
		} else if pattern != "/" {
			t.Errorf("routes.go: pattern %q has no method", pattern)
		}
		return true
	})
	if len(routed) < 10 {
		t.Fatalf("found only %d routes in routes.go: %v", len(routed), routed)
	}
	documented := map[string]bool{}
	for _, k := range d.ResponseKeys() {
		f := strings.Fields(k)
		documented[f[0]+" "+f[1]] = true
	}
	for r := range routed {
		if !documented[r] {
			t.Errorf("route %s is not in api/openapi.json", r)
		}
	}
	for r := range documented {
		if !routed[r] {
			t.Errorf("api/openapi.json lists %s, which routes.go does not serve", r)
		}
	}
}

// TestOpenAPIResponses sends requests that reach nearly every documented
// response (not a 500, nor a delete while processing, which needs a running
// job) and validates each one against the document.
func TestOpenAPIResponses(t *testing.T) {
	t.Parallel()
	d := openapiDoc(t)
	s := newAssetServer(t)
	c := &oasClient{t: t, d: d, base: s.URL}
	k := []string{"x-api-key", key}
	jsonK := append([]string{"Content-Type", "application/json"}, k...)

	c.send("GET", "/healthz", nil, 200)
	starting := httptest.NewServer(httpapi.New(nil, httpapi.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer starting.Close()
	c.send("GET", starting.URL+"/healthz", nil, 503)

	// Assets: a ready video, a ready image, a failed file, one processing.
	form := func(fields map[string]string, name string, data []byte) ([]byte, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		for k, v := range fields {
			mw.WriteField(k, v)
		}
		if name != "" {
			w, _ := mw.CreateFormFile("file", name)
			w.Write(data)
		}
		mw.Close()
		return b.Bytes(), mw.FormDataContentType()
	}
	upload := func(name string, data []byte, process bool) string {
		t.Helper()
		body, ct := form(map[string]string{"method": "direct", "user_metadata": `{"camera":"front","take":3,"ok":true}`}, name, data)
		_, m := c.send("POST", "/v1.3/assets", body, 201, append([]string{"Content-Type", ct}, k...)...)
		id, _ := m["_id"].(string)
		if process {
			_ = s.assets.Process(context.Background(), id, 5, 5)
		}
		return id
	}
	video, _ := os.ReadFile(testVideo(t, 6))
	vid := upload("v.mp4", video, true)
	img, _ := os.ReadFile(gen(t, "i.png", "-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1"))
	imgID := upload("i.png", img, true)
	broken := upload("broken.mp4", []byte("\x00\x00\x00\x18ftypmp42 and nothing else"), true)
	processing := upload("p.mp4", video, false)
	for id, status := range map[string]string{vid: "ready", imgID: "ready", broken: "failed", processing: "processing"} {
		if _, m := c.send("GET", "/v1.3/assets/"+id, nil, 200, k...); m["status"] != status {
			t.Errorf("asset %s is %v, want %s", id, m["status"], status)
		}
	}
	c.send("GET", "/v1.3/assets?page_limit=2&asset_types=video,image&filename=MP4", nil, 200, k...)
	c.send("GET", "/v1.3/assets?asset_types=pdf", nil, 400, k...)
	c.send("GET", "/v1.3/assets", nil, 401)
	c.send("GET", "/v1.3/assets/000000000000000000000000", nil, 404, k...)
	c.send("POST", "/v1.3/assets", []byte("x"), 400, append([]string{"Content-Type", "text/plain"}, k...)...)
	pdf, ct := form(map[string]string{"method": "direct"}, "a.pdf", []byte("%PDF-1.4\n"))
	c.send("POST", "/v1.3/assets", pdf, 400, append([]string{"Content-Type", ct}, k...)...)
	big, ct := form(map[string]string{"method": "direct"}, "big.mp4", append([]byte("\x00\x00\x00\x18ftypmp42"), make([]byte, 3<<20)...))
	c.send("POST", "/v1.3/assets", big, 413, append([]string{"Content-Type", ct}, k...)...)
	byURL, ct := form(map[string]string{"method": "url", "url": "https://media.example/clip"}, "", nil)
	c.send("POST", "/v1.3/assets", byURL, 201, append([]string{"Content-Type", ct}, k...)...)

	// Tasks.
	urlTask := []byte(`{"video":{"type":"url","url":"https://media.example/cat.mp4"},"prompt":"What happens?","custom_id":"c-1"}`)
	_, m := c.send("POST", "/v1.3/analyze/tasks", urlTask, 202, jsonK...)
	t1, _ := m["task_id"].(string)
	c.send("POST", "/v1.3/analyze/tasks", urlTask, 202, append([]string{"Idempotency-Key", "k-1"}, jsonK...)...)
	if h, _ := c.send("POST", "/v1.3/analyze/tasks", urlTask, 202, append([]string{"Idempotency-Key", "k-1"}, jsonK...)...); h.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay without Idempotent-Replayed: %v", h)
	}
	c.send("POST", "/v1.3/analyze/tasks", []byte(`{"video":{"type":"url","url":"https://media.example/dog.mp4"},"prompt":"p"}`), 422,
		append([]string{"Idempotency-Key", "k-1"}, jsonK...)...)
	c.send("POST", "/v1.3/analyze/tasks", []byte(`{"video":{"type":"url","url":"https://x.test/a.mp4"},"prompt":"p",
		"response_format":{"type":"json_schema","json_schema":{"type":"string","minLength":1}}}`), 422, jsonK...)
	c.send("POST", "/v1.3/analyze/tasks", []byte(`{"video":{"type":"url","url":"https://x.test/a.mp4"},"prompt":"p","colour":1}`), 400, jsonK...)
	c.send("POST", "/v1.3/analyze/tasks", []byte(`{"video":{"type":"asset_id","asset_id":"`+imgID+`"},"prompt":"p"}`), 400, jsonK...)
	c.send("POST", "/v1.3/analyze/tasks", []byte(`{"video":{"type":"asset_id","asset_id":"`+processing+`"},"prompt":"p"}`), 400, jsonK...)
	c.send("POST", "/v1.3/analyze/tasks", []byte(`{"prompt":"`+strings.Repeat("x", 2<<20)+`"}`), 413, jsonK...)
	c.send("POST", "/v1.3/analyze/tasks", urlTask, 401)
	tbm := []byte(`{"model_name":"pegasus1.5","video":{"type":"asset_id","asset_id":"` + vid + `"},"analysis_mode":"time_based_metadata",
		"max_segment_duration":3,"response_format":{"type":"segment_definitions","segment_time_format":"hh:mm:ss",
		"segment_definitions":[{"id":"shots","description":"Each shot","fields":[{"name":"at","type":"timestamp","format":"seconds"},
		{"name":"tags","type":"array","items":{"type":"string"},"enum":["a","b"]}],"media_sources":[{"name":"logo","media_type":"image","asset_id":"` + imgID + `"}]},
		{"id":"black","description":"Black frames"}]}}`)
	_, m = c.send("POST", "/v1.3/analyze/tasks", tbm, 202, jsonK...)
	t2, _ := m["task_id"].(string)
	v2 := []byte(`{"model_name":"pegasus1.5","video":{"type":"url","url":"https://media.example/cat.mp4"},"start_time":1,"end_time":9,
		"prompt_v2":{"input_text":"Is <@logo> shown in this long clip of a cat?","media_sources":[{"name":"logo","media_type":"image","url":"https://media.example/logo.png"}]}}`)
	_, m = c.send("POST", "/v1.3/analyze/tasks", v2, 202, jsonK...)
	t3, _ := m["task_id"].(string)
	for _, id := range []string{t1, t2, t3} {
		c.send("GET", "/v1.3/analyze/tasks/"+id, nil, 200, k...)
	}
	c.send("GET", "/v1.3/analyze/tasks?page_limit=50", nil, 200, k...)
	c.send("GET", "/v1.3/analyze/tasks?status=queued&analysis_mode=time_based_metadata&asset_id="+vid, nil, 200, k...)
	c.send("GET", "/v1.3/analyze/tasks?page=99", nil, 200, k...)
	c.send("GET", "/v1.3/analyze/tasks?sdk_extra=1&page_limit=1", nil, 200, k...) // unknown query parameters are ignored
	c.send("GET", "/v1.3/analyze/tasks?status=done", nil, 400, k...)
	c.send("GET", "/v1.3/analyze/tasks", nil, 401)
	c.send("GET", "/v1.3/analyze/tasks/"+t1, nil, 401)
	c.send("DELETE", "/v1.3/assets/"+vid+"?force=maybe", nil, 400, k...)
	c.send("DELETE", "/v1.3/assets/"+vid, nil, 409, k...) // the queued task t2 needs it
	c.send("DELETE", "/v1.3/assets/"+broken+"?force=true", nil, 204, k...)
	c.send("DELETE", "/v1.3/assets/"+broken, nil, 404, k...)
	c.send("DELETE", "/v1.3/analyze/tasks/"+t1, nil, 204, k...)
	c.send("DELETE", "/v1.3/analyze/tasks/"+t1, nil, 404, k...)
	c.send("GET", "/v1.3/analyze/tasks/"+t1, nil, 404, k...)

	// A multipart upload of three chunks (the test server's chunks are 256 KiB).
	const size = 600000
	file := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	_, m = c.send("POST", "/v1.3/assets/multipart-uploads", []byte(fmt.Sprintf(`{"filename":"big.mp4","type":"video","total_size":%d,"user_metadata":{"team":"a"}}`, size)), 201, jsonK...)
	uid, _ := m["upload_id"].(string)
	urls, _ := m["upload_urls"].([]any)
	if len(urls) != 3 {
		t.Fatalf("upload_urls %v", m["upload_urls"])
	}
	cs := 256 << 10
	chunk := func(i int) []byte { return file[(i-1)*cs : min(i*cs, size)] }
	urlOf := func(u any) string { return u.(map[string]any)["url"].(string) }
	octet := []string{"Content-Type", "application/octet-stream"}
	c.send("POST", "/v1.3/assets/multipart-uploads", []byte(`{"filename":"a.pdf","type":"video","total_size":5}`), 400, jsonK...)
	c.send("POST", "/v1.3/assets/multipart-uploads", []byte(`{"filename":"a.png","type":"image","total_size":99999999999}`), 400, jsonK...)
	c.send("POST", "/v1.3/assets/multipart-uploads", []byte(`{"filename":"`+strings.Repeat("x", 2<<20)+`"}`), 413, jsonK...)
	c.send("POST", "/v1.3/assets/multipart-uploads", []byte(`{"filename":"a.mp4","type":"video","total_size":5}`), 421,
		append([]string{"Host", "fw.example.com"}, jsonK...)...) // upload URLs would point at a Host that is not this server
	c.send("OPTIONS", urlOf(urls[0]), nil, 204)
	h, _ := c.send("PUT", urlOf(urls[0]), chunk(1), 200, octet...)
	etag1 := h.Get("ETag")
	c.send("PUT", urlOf(urls[0]), chunk(1), 403, octet...) // single-use
	c.send("PUT", urlOf(urls[1]), chunk(3), 400, octet...) // wrong size
	// Refused before the body is read: a bad signature closes the
	// connection at once, so these send a small body that the client has
	// finished writing when the answer comes (else it may see a reset).
	c.send("PUT", strings.Replace(urlOf(urls[1]), "/2?", "/x?", 1), []byte("x"), 404, octet...)
	c.send("PUT", strings.Replace(urlOf(urls[1]), "sig=", "sig=0", 1), []byte("x"), 403, octet...)
	c.send("GET", "/v1.3/assets/multipart-uploads/"+uid+"?page_limit=2", nil, 200, k...)
	c.send("GET", "/v1.3/assets/multipart-uploads/"+uid+"?page_limit=0", nil, 400, k...)
	c.send("GET", "/v1.3/assets/multipart-uploads/000000000000000000000000", nil, 404, k...)
	c.send("GET", "/v1.3/assets/multipart-uploads", nil, 200, k...)
	c.send("GET", "/v1.3/assets/multipart-uploads?page=0", nil, 400, k...)
	report := func(i int, proof string, want int) map[string]any {
		_, m := c.send("POST", "/v1.3/assets/multipart-uploads/"+uid, []byte(fmt.Sprintf(
			`{"completed_chunks":[{"chunk_index":%d,"proof":%q,"proof_type":"etag","chunk_size":%d}]}`, i, proof, len(chunk(i)))), want, jsonK...)
		return m
	}
	report(1, "0000", 400)
	report(1, etag1, 200)
	c.send("POST", "/v1.3/assets/multipart-uploads/"+uid, []byte(`{"completed_chunks":[{"chunk_index":1}]}`), 400, jsonK...)
	c.send("POST", "/v1.3/assets/multipart-uploads/000000000000000000000000", []byte(`{"completed_chunks":[]}`), 404, jsonK...)
	_, m = c.send("POST", "/v1.3/assets/multipart-uploads/"+uid+"/presigned-urls", []byte(`{"start":1,"count":50}`), 200, jsonK...)
	fresh, _ := m["upload_urls"].([]any)
	c.send("PUT", urlOf(fresh[0]), chunk(1), 409, octet...) // chunk 1 is reported
	c.send("POST", "/v1.3/assets/multipart-uploads/"+uid+"/presigned-urls", []byte(`{"start":9,"count":1}`), 400, jsonK...)
	c.send("POST", "/v1.3/assets/multipart-uploads/000000000000000000000000/presigned-urls", []byte(`{"start":1,"count":1}`), 404, jsonK...)
	for i := 2; i <= 3; i++ {
		h, _ := c.send("PUT", urlOf(fresh[i-1]), chunk(i), 200, octet...)
		m = report(i, h.Get("ETag"), 200)
	}
	if m["url"] == nil {
		t.Errorf("the report completing the upload has no url: %v", m)
	}
	c.send("GET", "/v1.3/assets/"+m["asset_id"].(string), nil, 200, k...)
	c.send("POST", "/v1.3/assets/multipart-uploads/"+uid+"/presigned-urls", []byte(`{"start":1,"count":1}`), 400, jsonK...)

	// The rate limit: headers on every API answer, 429 in both shapes.
	limited, _ := newServerOpts(t, httpapi.Options{APIKeys: []string{key}, RateLimit: 1})
	lc := &oasClient{t: t, d: d, base: limited.URL}
	lc.send("GET", "/v1.3/analyze/tasks", nil, 200, k...)
	lc.send("GET", "/v1.3/analyze/tasks", nil, 429, k...)
	lc.send("GET", "/v1.3/analyze/tasks/"+t2, nil, 429, k...)
	lc.send("POST", "/v1.3/analyze/tasks", urlTask, 429, jsonK...)
}

// TestOpenAPICatchesDrift: responses that differ from the document in a
// field, a status, a path, a header or the data of a result are reported.
func TestOpenAPICatchesDrift(t *testing.T) {
	t.Parallel()
	d := openapiDoc(t)
	hdr := http.Header{"X-Request-Id": {"0123456789abcdef"}, "X-Api-Version": {"1.3"}, "Content-Type": {"application/json; charset=utf-8"}}
	created := `{"task_id":"6760c4a1e4a1b37f8a9c5d12","status":"queued"}`
	ready := func(format, data string) string {
		rf := `"response_format":{"type":"segment_definitions","segment_definitions":[{"id":"shots","description":"d"}]`
		if format != "" {
			rf += `,"segment_time_format":"` + format + `"`
		}
		return `{"task_id":"6760c4a1e4a1b37f8a9c5d12","custom_id":null,"video_source":{"type":"base64_string","system_metadata":{"duration":6}},
			"request_params":{"analysis_mode":"time_based_metadata",` + rf + `},"temperature":0.2,"max_tokens":32768},
			"status":"ready","created_at":"2026-12-02T10:00:00.123Z","completed_at":"2026-12-02T10:00:05Z",
			"result":{"generation_id":"gen_0123456789abcdef01234567","data":` + strconv.Quote(data) + `,"finish_reason":"stop","usage":{"output_tokens":3}}}`
	}
	withoutID := hdr.Clone()
	withoutID.Del("X-Request-Id")
	asText := hdr.Clone()
	asText.Set("Content-Type", "text/plain")
	for _, tc := range []struct {
		name, method, path string
		status             int
		header             http.Header
		body               string
		ok                 bool
	}{
		{"as documented", "POST", "/v1.3/analyze/tasks", 202, hdr, created, true},
		{"an extra field", "POST", "/v1.3/analyze/tasks", 202, hdr, `{"task_id":"6760c4a1e4a1b37f8a9c5d12","status":"queued","eta":3}`, false},
		{"another status value", "POST", "/v1.3/analyze/tasks", 202, hdr, `{"task_id":"6760c4a1e4a1b37f8a9c5d12","status":"pending"}`, false},
		{"an undocumented status", "POST", "/v1.3/analyze/tasks", 201, hdr, created, false},
		{"an undocumented path", "GET", "/v1.3/analyze/batches", 200, hdr, `{}`, false},
		{"an undocumented method", "PATCH", "/v1.3/analyze/tasks/x", 200, hdr, created, false},
		{"a missing header", "POST", "/v1.3/analyze/tasks", 202, withoutID, created, false},
		{"another content type", "POST", "/v1.3/analyze/tasks", 202, asText, created, false},
		{"a flat error where it is nested", "POST", "/v1.3/analyze/tasks", 400, hdr, `{"code":"parameter_invalid","message":"m"}`, false},
		{"an undocumented code", "POST", "/v1.3/analyze/tasks", 400, hdr, `{"error":{"code":"bad","message":"m"}}`, false},
		{"a nested error where it is flat", "GET", "/v1.3/analyze/tasks", 400, hdr, `{"error":{"code":"parameter_invalid","message":"m"}}`, false},
		{"a body where none is documented", "DELETE", "/v1.3/analyze/tasks/x", 204, hdr, `{}`, false},
		{"segments in seconds", "GET", "/v1.3/analyze/tasks/x", 200, hdr,
			ready("", `{"shots":[{"start_time":0,"end_time":2.5,"metadata":{},"framewise_evidence":"measured"}]}`), true},
		{"segments in hh:mm:ss", "GET", "/v1.3/analyze/tasks/x", 200, hdr,
			ready("hh:mm:ss", `{"shots":[{"start_time":"00:00:00","end_time":"00:00:03","metadata":{}}]}`), true},
		{"segments in another format", "GET", "/v1.3/analyze/tasks/x", 200, hdr,
			ready("hh:mm:ss", `{"shots":[{"start_time":0,"end_time":2.5,"metadata":{}}]}`), false},
		{"segments that are not JSON", "GET", "/v1.3/analyze/tasks/x", 200, hdr, ready("", `shots: 0–2.5`), false},
		{"a segment with an extra key", "GET", "/v1.3/analyze/tasks/x", 200, hdr,
			ready("", `{"shots":[{"start_time":0,"end_time":2.5,"metadata":{},"confidence":1}]}`), false},
		{"a ready task without completed_at", "GET", "/v1.3/analyze/tasks/x", 200, hdr,
			strings.Replace(ready("", `{"shots":[]}`), `"completed_at":"2026-12-02T10:00:05Z",`, "", 1), false},
		{"input_tokens on a pegasus1.5 task", "GET", "/v1.3/analyze/tasks/x", 200, hdr,
			strings.Replace(ready("", `{"shots":[]}`), `"output_tokens":3`, `"output_tokens":3,"input_tokens":9`, 1), false},
	} {
		_, problems := d.Check(tc.method, tc.path, tc.status, tc.header, []byte(tc.body), false)
		if ok := len(problems) == 0; ok != tc.ok {
			t.Errorf("%s: valid = %v, want %v; problems: %v", tc.name, ok, tc.ok, problems)
		}
	}
}
