// Package openapitest checks HTTP responses against framewise's OpenAPI
// 3.1 document (api/openapi.json): the path, the status, the documented
// headers and the body's schema. The unit tests of internal/httpapi and the
// e2e suite use it; no production code imports it.
package openapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Doc validates HTTP responses against an OpenAPI 3.1 document.
type Doc struct {
	doc     map[string]any
	paths   []string
	mu      sync.Mutex
	c       *jsonschema.Compiler
	schemas map[string]*jsonschema.Schema
}

const docURL = "https://framewise.invalid/openapi.json"

func Load(raw []byte) (*Doc, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a JSON object")
	}
	d := &Doc{doc: m, c: jsonschema.NewCompiler(), schemas: map[string]*jsonschema.Schema{}}
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
		if _, err := d.Schema("/components/schemas/" + escapeToken(name)); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func escapeToken(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// at returns the value at JSON pointer ptr ("" is the whole document).
func (d *Doc) At(ptr string) any {
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
func (d *Doc) Object(ptr string) (map[string]any, string) {
	for range 8 {
		m, ok := d.At(ptr).(map[string]any)
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

func (d *Doc) Schema(ptr string) (*jsonschema.Schema, error) {
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
func (d *Doc) Match(path string) string {
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
func (d *Doc) ResponseKeys() []string {
	var out []string
	for _, p := range d.paths {
		item, _ := d.Object("/paths/" + escapeToken(p))
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
func (d *Doc) Check(method, path string, status int, header http.Header, body []byte, truncated bool) (string, []string) {
	tmpl := d.Match(path)
	if tmpl == "" {
		return "nothing", []string{fmt.Sprintf("the path %s is not in the document", path)}
	}
	opPtr := "/paths/" + escapeToken(tmpl) + "/" + strings.ToLower(method)
	if op, _ := d.Object(opPtr); op == nil {
		return "nothing", []string{fmt.Sprintf("%s %s is not in the document", method, tmpl)}
	}
	st := strconv.Itoa(status)
	key := method + " " + tmpl + " " + st
	for _, k := range []string{st, st[:1] + "XX", "default"} {
		if p := opPtr + "/responses/" + k; d.At(p) != nil {
			return key, d.CheckResponse(p, header, body, truncated)
		}
	}
	return key, []string{fmt.Sprintf("status %d of %s %s is not documented", status, method, tmpl)}
}

// checkResponse validates a response against the response object at
// respPtr (an OpenAPI $ref is followed).
func (d *Doc) CheckResponse(respPtr string, header http.Header, body []byte, truncated bool) []string {
	resp, respPtr := d.Object(respPtr)
	if resp == nil {
		return []string{fmt.Sprintf("no response object at %s", respPtr)}
	}
	var problems []string
	headers, _ := resp["headers"].(map[string]any)
	for name := range headers {
		h, hPtr := d.Object(respPtr + "/headers/" + escapeToken(name))
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
		s, err := d.Schema(hPtr + "/schema")
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
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt == ndjson {
		if _, ok := content[ndjson]; !ok {
			return append(problems, "an NDJSON body, but none is documented")
		}
		return append(problems, d.checkLines(respPtr, header, body, truncated)...)
	}
	if _, ok := content["application/json"]; !ok && content[ndjson] != nil {
		return append(problems, d.checkLines(respPtr, header, body, truncated)...)
	}
	if _, ok := content["application/json"]; !ok {
		return append(problems, "only application/json and application/x-ndjson bodies are checked")
	}
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt != "application/json" {
		problems = append(problems, fmt.Sprintf("Content-Type %q, documented application/json", header.Get("Content-Type")))
	}
	if truncated {
		return problems
	}
	s, err := d.Schema(respPtr + "/content/application~1json/schema")
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

// ndjson is the media type of a stream of JSON lines (POST /v1.3/analyze,
// batch results).
const ndjson = "application/x-ndjson"

// checkLines checks a JSON Lines body (application/x-ndjson): each line
// follows the documented schema.
func (d *Doc) checkLines(respPtr string, header http.Header, body []byte, truncated bool) []string {
	var problems []string
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt != "application/x-ndjson" {
		problems = append(problems, fmt.Sprintf("Content-Type %q, documented application/x-ndjson", header.Get("Content-Type")))
	}
	s, err := d.Schema(respPtr + "/content/application~1x-ndjson/schema")
	if err != nil {
		return append(problems, err.Error())
	}
	lines := bytes.Split(body, []byte("\n"))
	if truncated && len(lines) > 0 {
		lines = lines[:len(lines)-1] // the last line may be cut
	}
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(line))
		if err != nil {
			return append(problems, fmt.Sprintf("line %d is not JSON: %v", i+1, err))
		}
		if err := s.Validate(v); err != nil {
			return append(problems, fmt.Sprintf("line %d: %s", i+1, strings.ReplaceAll(fmt.Sprint(err), "\n", "\n    ")))
		}
	}
	return problems
}
