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
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/framewise/framewise/api"
	"github.com/santhosh-tekuri/jsonschema/v6"
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
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxRecordedBody+1))
	x := exchange{test: rt.test, method: req.Method, path: req.URL.Path, status: resp.StatusCode,
		header: resp.Header.Clone(), body: body, truncated: rerr != nil || len(body) > maxRecordedBody}
	// The caller reads what was read, then the rest.
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
	x.pattern = x.path
	if d, err := loadedDoc(); err == nil {
		if p := d.match(x.path); p != "" {
			x.pattern = p
		}
	}
	record(x)
	return resp, nil
}

var (
	docOnce sync.Once
	docVal  *openapiDoc
	docErr  error
)

func loadedDoc() (*openapiDoc, error) {
	docOnce.Do(func() { docVal, docErr = loadOpenAPI(api.OpenAPI) })
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
		key, problems := d.check(x.method, x.path, x.status, x.header, x.body, x.truncated)
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
			for _, k := range d.responseKeys() {
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
	} else if len(d.responseKeys()) < 40 {
		t.Errorf("the document lists only %d responses", len(d.responseKeys()))
	}
}

// ---- validation against the document (internal/httpapi/openapi_test.go
// has a copy of this part; keep them in step).

// openapiDoc validates HTTP responses against an OpenAPI 3.1 document.
type openapiDoc struct {
	doc     map[string]any
	paths   []string
	mu      sync.Mutex
	c       *jsonschema.Compiler
	schemas map[string]*jsonschema.Schema
}

const docURL = "https://framewise.invalid/openapi.json"

func loadOpenAPI(raw []byte) (*openapiDoc, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a JSON object")
	}
	d := &openapiDoc{doc: m, c: jsonschema.NewCompiler(), schemas: map[string]*jsonschema.Schema{}}
	d.c.AssertFormat()
	d.c.AssertContent()
	if err := d.c.AddResource(docURL, v); err != nil {
		return nil, err
	}
	paths, _ := m["paths"].(map[string]any)
	for p := range paths {
		d.paths = append(d.paths, p)
	}
	sort.Strings(d.paths)
	// Compile every component schema, so that a broken one fails at load.
	comps, _ := m["components"].(map[string]any)
	schemas, _ := comps["schemas"].(map[string]any)
	for name := range schemas {
		if _, err := d.schema("/components/schemas/" + escapeToken(name)); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func escapeToken(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// at returns the value at JSON pointer ptr ("" is the whole document).
func (d *openapiDoc) at(ptr string) any {
	var v any = d.doc
	if ptr == "" {
		return v
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch x := v.(type) {
		case map[string]any:
			v = x[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// object returns the object at ptr, following OpenAPI $refs, and its pointer.
func (d *openapiDoc) object(ptr string) (map[string]any, string) {
	for range 8 {
		m, ok := d.at(ptr).(map[string]any)
		if !ok {
			return nil, ptr
		}
		r, ok := m["$ref"].(string)
		if !ok {
			return m, ptr
		}
		ptr = strings.TrimPrefix(r, "#")
	}
	return nil, ptr
}

func (d *openapiDoc) schema(ptr string) (*jsonschema.Schema, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.schemas[ptr]; ok {
		return s, nil
	}
	frag := (&url.URL{Fragment: ptr}).EscapedFragment()
	s, err := d.c.Compile(docURL + "#" + frag)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", ptr, err)
	}
	d.schemas[ptr] = s
	return s, nil
}

// match returns the path template of the document that path falls under
// ("" for none); a template with more literal segments wins.
func (d *openapiDoc) match(path string) string {
	segs := strings.Split(path, "/")
	best, bestLit := "", -1
	for _, p := range d.paths {
		ps := strings.Split(p, "/")
		if len(ps) != len(segs) {
			continue
		}
		lit, ok := 0, true
		for i := range ps {
			switch {
			case strings.HasPrefix(ps[i], "{"):
				ok = ok && segs[i] != ""
			case ps[i] == segs[i]:
				lit++
			default:
				ok = false
			}
		}
		if ok && lit > bestLit {
			best, bestLit = p, lit
		}
	}
	return best
}

// responseKeys lists every documented response as "METHOD template status".
func (d *openapiDoc) responseKeys() []string {
	var out []string
	for _, p := range d.paths {
		item, _ := d.object("/paths/" + escapeToken(p))
		for method, op := range item {
			ops, ok := op.(map[string]any)
			if !ok || method == "parameters" {
				continue
			}
			rs, _ := ops["responses"].(map[string]any)
			for st := range rs {
				out = append(out, strings.ToUpper(method)+" "+p+" "+st)
			}
		}
	}
	sort.Strings(out)
	return out
}

// check validates one response and returns the documented response it was
// checked against ("METHOD template status") and the problems found.
func (d *openapiDoc) check(method, path string, status int, header http.Header, body []byte, truncated bool) (string, []string) {
	tmpl := d.match(path)
	if tmpl == "" {
		return "nothing", []string{fmt.Sprintf("the path %s is not in the document", path)}
	}
	opPtr := "/paths/" + escapeToken(tmpl) + "/" + strings.ToLower(method)
	if op, _ := d.object(opPtr); op == nil {
		return "nothing", []string{fmt.Sprintf("%s %s is not in the document", method, tmpl)}
	}
	st := strconv.Itoa(status)
	key := method + " " + tmpl + " " + st
	for _, k := range []string{st, st[:1] + "XX", "default"} {
		if p := opPtr + "/responses/" + k; d.at(p) != nil {
			return key, d.checkResponse(p, header, body, truncated)
		}
	}
	return key, []string{fmt.Sprintf("status %d of %s %s is not documented", status, method, tmpl)}
}

// checkResponse validates a response against the response object at
// respPtr (an OpenAPI $ref is followed).
func (d *openapiDoc) checkResponse(respPtr string, header http.Header, body []byte, truncated bool) []string {
	resp, respPtr := d.object(respPtr)
	if resp == nil {
		return []string{fmt.Sprintf("no response object at %s", respPtr)}
	}
	var problems []string
	headers, _ := resp["headers"].(map[string]any)
	for name := range headers {
		h, hPtr := d.object(respPtr + "/headers/" + escapeToken(name))
		if h == nil {
			problems = append(problems, fmt.Sprintf("header %s: broken reference", name))
			continue
		}
		v := header.Values(name)
		if len(v) == 0 {
			if req, _ := h["required"].(bool); req {
				problems = append(problems, fmt.Sprintf("header %s is required but missing", name))
			}
			continue
		}
		s, err := d.schema(hPtr + "/schema")
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		// Header values are strings; a schema of a number validates the
		// value read as a number.
		ok := s.Validate(v[0]) == nil
		if _, err := strconv.ParseFloat(v[0], 64); !ok && err == nil {
			ok = s.Validate(json.Number(v[0])) == nil
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("header %s: %q does not follow %s/schema", name, v[0], hPtr))
		}
	}
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(body) > 0 {
			problems = append(problems, fmt.Sprintf("the response has a body of %d bytes, but none is documented", len(body)))
		}
		return problems
	}
	if _, ok := content["application/json"]; !ok {
		return append(problems, "only application/json bodies are checked")
	}
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt != "application/json" {
		problems = append(problems, fmt.Sprintf("Content-Type %q, documented application/json", header.Get("Content-Type")))
	}
	if truncated {
		return problems
	}
	s, err := d.schema(respPtr + "/content/application~1json/schema")
	if err != nil {
		return append(problems, err.Error())
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return append(problems, fmt.Sprintf("the body is not JSON: %v", err))
	}
	if err := s.Validate(v); err != nil {
		problems = append(problems, strings.ReplaceAll(fmt.Sprint(err), "\n", "\n    "))
	}
	return problems
}
