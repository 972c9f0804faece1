package e2e

// Every response the e2e tests receive through (*server).client() is
// recorded, and validated against the OpenAPI document api/openapi.json when
// the package's tests are done (TestMain calls checkRecordedResponses): a
// path or method the document does not list, an undocumented status, a
// missing required header or a body that does not follow the documented
// schema fails the run with the details. So neither the server nor the
// document can drift from the other unnoticed.

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"github.com/framewise/framewise/internal/openapitest"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/framewise/framewise/api"
)

// Bounds of the recorder: identical exchanges (same method, path pattern,
// status and body, as when a task is polled) are kept once; beyond these
// limits exchanges are counted but not kept.
const (
	maxRecorded      = 5000
	maxRecordedBytes = 64 << 20
	maxRecordedBody  = 4 << 20 // a longer body is kept but not validated
)

// exchange is one recorded response.
type exchange struct {
	test      string // the test that started the server
	method    string
	path      string // the request's path
	pattern   string // the document's path template, or the path when none matches
	status    int
	header    http.Header
	body      []byte
	truncated bool // the body was longer than maxRecordedBody or broke off
}

// recorder keeps the exchanges of the whole package run.
var recorder struct {
	mu      sync.Mutex
	seen    map[[32]byte]bool
	list    []exchange
	bytes   int
	total   int // every exchange, kept or not
	dropped int // distinct exchanges not kept because of the bounds
}

func (r *exchange) key() [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s %d\n", r.method, r.pattern, r.status)
	h.Write(r.body)
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

func record(x exchange) {
	recorder.mu.Lock()
	defer recorder.mu.Unlock()
	recorder.total++
	k := x.key()
	if recorder.seen[k] {
		return
	}
	if len(recorder.list) >= maxRecorded || recorder.bytes+len(x.body) > maxRecordedBytes {
		recorder.dropped++
		return
	}
	if recorder.seen == nil {
		recorder.seen = map[[32]byte]bool{}
	}
	recorder.seen[k] = true
	recorder.bytes += len(x.body)
	recorder.list = append(recorder.list, x)
}

// recordingClient is an http.Client that records every response it
// receives, for test t.
func recordingClient(t *testing.T) *http.Client {
	return &http.Client{Transport: &recordingTransport{base: http.DefaultTransport, test: t.Name()}}
}

type recordingTransport struct {
	base http.RoundTripper
	test string
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/x-ndjson" {
		// A stream is passed on as it arrives and recorded when the
		// caller has read it (or stopped reading it).
		resp.Body = &recordedStream{rt: rt, req: req, resp: resp, body: resp.Body}
		return resp, nil
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxRecordedBody+1))
	rt.record(req, resp, body, rerr != nil || len(body) > maxRecordedBody)
	// The caller reads what was read, then the rest.
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
	return resp, nil
}

// record keeps one exchange for the check against the document.
func (rt *recordingTransport) record(req *http.Request, resp *http.Response, body []byte, truncated bool) {
	x := exchange{test: rt.test, method: req.Method, path: req.URL.Path, status: resp.StatusCode,
		header: resp.Header.Clone(), body: body, truncated: truncated}
	x.pattern = x.path
	if d, err := loadedDoc(); err == nil {
		if p := d.Match(x.path); p != "" {
			x.pattern = p
		}
	}
	record(x)
	scanResponse(rt.test, req, resp.StatusCode, body)
}

// recordedStream records a streamed body once it is read to its end or
// closed; a stream closed early is recorded as truncated.
type recordedStream struct {
	rt   *recordingTransport
	req  *http.Request
	resp *http.Response
	body io.ReadCloser
	buf  bytes.Buffer
	done bool
}

func (r *recordedStream) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	if r.buf.Len() <= maxRecordedBody {
		r.buf.Write(p[:n])
	}
	if err == io.EOF && !r.done {
		r.done = true
		r.rt.record(r.req, r.resp, r.buf.Bytes(), r.buf.Len() > maxRecordedBody)
	}
	return n, err
}

func (r *recordedStream) Close() error {
	if !r.done {
		r.done = true
		r.rt.record(r.req, r.resp, r.buf.Bytes(), true)
	}
	return r.body.Close()
}

var (
	docOnce sync.Once
	docVal  *openapitest.Doc
	docErr  error
)

func loadedDoc() (*openapitest.Doc, error) {
	docOnce.Do(func() { docVal, docErr = openapitest.Load(api.OpenAPI) })
	return docVal, docErr
}

// checkRecordedResponses validates every recorded response against the
// document and returns the exit code of the package run: code, or 1 when
// a response does not follow the document.
func checkRecordedResponses(code int) int {
	d, err := loadedDoc()
	if err != nil {
		fmt.Fprintf(os.Stderr, "openapi: api/openapi.json: %v\n", err)
		return 1
	}
	recorder.mu.Lock()
	list := recorder.list
	total, dropped := recorder.total, recorder.dropped
	recorder.mu.Unlock()

	var failures []string
	covered := map[string]bool{}
	for _, x := range list {
		key, problems := d.Check(x.method, x.path, x.status, x.header, x.body, x.truncated)
		covered[key] = true
		if len(problems) == 0 {
			continue
		}
		body := x.body
		if len(body) > 600 {
			body = append(body[:600:600], "…"...)
		}
		failures = append(failures, fmt.Sprintf("%s: %s %s → %d (documented as %s)\n  body: %s\n  - %s",
			x.test, x.method, x.path, x.status, key, body, strings.Join(problems, "\n  - ")))
	}
	if testing.Verbose() || len(failures) > 0 {
		fmt.Fprintf(os.Stderr, "openapi: %d responses (%d distinct, %d not kept) checked against api/openapi.json\n", total, len(list), dropped)
		if testing.Verbose() {
			var missing []string
			for _, k := range d.ResponseKeys() {
				if !covered[k] {
					missing = append(missing, k)
				}
			}
			fmt.Fprintf(os.Stderr, "openapi: documented responses no e2e test received (%d): %s\n", len(missing), strings.Join(missing, ", "))
		}
	}
	if len(failures) == 0 {
		return code
	}
	const show = 20
	fmt.Fprintf(os.Stderr, "FAIL openapi: %d responses do not follow api/openapi.json:\n", len(failures))
	for i, f := range failures {
		if i == show {
			fmt.Fprintf(os.Stderr, "… and %d more\n", len(failures)-show)
			break
		}
		fmt.Fprintf(os.Stderr, "%s\n", f)
	}
	return 1
}

// TestOpenAPIServed: the running binary serves the embedded document
// without an API key, and the routes the other e2e tests rarely reach
// answer as documented (the recorder validates them at the end).
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	hc := recordingClient(t)
	get := func(path string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+srv.addr+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := get("/v1.3/openapi.json")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(body, api.OpenAPI) {
		t.Fatalf("GET /v1.3/openapi.json: %d %q, %d bytes (want the %d bytes of api/openapi.json)",
			resp.StatusCode, resp.Header.Get("Content-Type"), len(body), len(api.OpenAPI))
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("document: %v %q", err, doc.OpenAPI)
	}
	if resp, _ := get("/healthz"); resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	// Errors in both shapes, with and without a key.
	for _, tc := range []struct {
		path   string
		key    string
		status int
	}{
		{"/v1.3/analyze/tasks/000000000000000000000000", testKey, 404},
		{"/v1.3/analyze/tasks/000000000000000000000000", "wrong", 401},
		{"/v1.3/analyze/tasks?page_limit=51", testKey, 400},
		{"/v1.3/analyze/tasks?page=2", testKey, 200},
		{"/v1.3/assets/000000000000000000000000", testKey, 404},
		{"/v1.3/assets?asset_types=document", testKey, 200},
		{"/v1.3/assets/multipart-uploads/000000000000000000000000", testKey, 404},
		{"/v1.3/assets/multipart-uploads", testKey, 200},
	} {
		if resp, b := get(tc.path, "x-api-key", tc.key); resp.StatusCode != tc.status {
			t.Errorf("GET %s: %d %s, want %d", tc.path, resp.StatusCode, b, tc.status)
		}
	}
	if d, err := loadedDoc(); err != nil {
		t.Fatal(err)
	} else if len(d.ResponseKeys()) < 40 {
		t.Errorf("the document lists only %d responses", len(d.ResponseKeys()))
	}
}
