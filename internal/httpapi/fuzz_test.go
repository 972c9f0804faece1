package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// fuzzRoutes are the API's paths; X stands for the fuzzed id.
var fuzzRoutes = []string{
	"/v1.3/analyze/tasks",
	"/v1.3/analyze/tasks/X",
	"/v1.3/assets",
	"/v1.3/assets/X",
	"/v1.3/assets/multipart-uploads",
	"/v1.3/assets/multipart-uploads/X",
	"/v1.3/assets/multipart-uploads/X/presigned-urls",
	"/uploads/X/1",
	"/uploads/X/X",
	"/healthz",
	"/v1.3/X",
}

var fuzzMethods = []string{"GET", "POST", "DELETE", "PUT", "OPTIONS", "PATCH", "HEAD"}

var fuzzTypes = []string{"application/json", "multipart/form-data; boundary=B", "application/x-www-form-urlencoded",
	"", "text/plain", "multipart/form-data", "application/octet-stream"}

// FuzzAPI sends arbitrary requests (method, route, id, query, body,
// content type, Idempotency-Key) through the whole handler over the real
// SQLite stores and checks the contract every endpoint shares: never a 5xx,
// every error is JSON with a code and a message in a documented shape, and
// a refused request stores nothing.
func FuzzAPI(f *testing.F) {
	s := newAssetServer(f)
	h := s.Config.Handler

	// Real objects, so that ids in the corpus reach stored rows.
	serve := func(method, target, ctype, body string) (int, map[string]any) {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("x-api-key", key)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var m map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &m)
		return rec.Code, m
	}
	st, m := serve("POST", "/v1.3/analyze/tasks", "application/json",
		`{"video":{"type":"url","url":"https://media.example/v.mp4"},"prompt":"p"}`)
	if st != 202 {
		f.Fatalf("seed task: %d %v", st, m)
	}
	taskID := m["task_id"].(string)
	st, m = serve("POST", "/v1.3/assets/multipart-uploads", "application/json",
		`{"filename":"a.mp4","type":"video","total_size":600000}`)
	if st != 201 {
		f.Fatalf("seed upload: %d %v", st, m)
	}
	uploadID, assetID := m["upload_id"].(string), m["asset_id"].(string)

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	mw.SetBoundary("B")
	mw.WriteField("method", "direct")
	fw, _ := mw.CreateFormFile("file", "a.mp4")
	fw.Write([]byte("\x00\x00\x00\x18ftypmp42"))
	mw.Close()

	add := func(method uint8, route uint8, id, query string, body []byte, ctype uint8, key bool) {
		f.Add(method, route, id, query, body, ctype, key, "")
	}
	add(1, 0, "", "", []byte(`{"video":{"type":"url","url":"https://x.test/a.mp4"},"prompt":"p","response_format":{"type":"json_schema","json_schema":{"type":"object"}}}`), 0, true)
	add(1, 0, "", "", []byte(`{"model_name":"pegasus1.5","video":{"type":"asset_id","asset_id":"`+assetID+`"},"analysis_mode":"time_based_metadata","response_format":{"type":"segment_definitions","segment_definitions":[{"id":"a","description":"d","fields":[{"name":"n","type":"timestamp"}]}]}}`), 0, true)
	add(0, 0, "", "page=2&page_limit=3&status=queued&video_url=x&analysis_mode=general", nil, 3, true)
	add(0, 1, taskID, "", nil, 3, true)
	add(2, 1, taskID, "", nil, 3, true)
	add(1, 2, "", "", form.Bytes(), 1, true)
	add(1, 2, "", "", []byte("--B\r\nContent-Disposition: form-data; name=\"method\"\r\n\r\nurl\r\n--B\r\nContent-Disposition: form-data; name=\"url\"\r\n\r\nhttp://10.0.0.1/a.mp4\r\n--B--\r\n"), 1, true)
	add(0, 2, "", "asset_ids=a,b&asset_types=video&filename=x&page=1", nil, 3, true)
	add(0, 3, assetID, "", nil, 3, true)
	add(2, 3, assetID, "", nil, 3, true)
	add(1, 4, "", "", []byte(`{"filename":"b.mp4","type":"video","total_size":1}`), 0, true)
	add(0, 4, "", "page=1&page_limit=10", nil, 3, true)
	add(0, 5, uploadID, "page=1&page_limit=1", nil, 3, true)
	add(1, 5, uploadID, "", []byte(`{"completed_chunks":[{"chunk_index":1,"proof":"abc","proof_type":"etag","chunk_size":5}]}`), 0, true)
	add(1, 6, uploadID, "", []byte(`{"start":1,"count":2}`), 0, true)
	add(3, 7, uploadID, "expires=1&nonce=n&sig=00", []byte("chunk"), 6, false)
	add(4, 8, uploadID, "", nil, 3, false)
	add(0, 9, "", "", nil, 3, false)
	add(0, 10, "", "", nil, 3, false)
	f.Add(uint8(1), uint8(0), "", "", []byte(`{"video":{"type":"url","url":"https://x.test/b.mp4"},"prompt":"p"}`), uint8(0), true, "order-1")

	// A refused request stores nothing: no transaction commits. SQLite's
	// data_version, read on a connection of its own, changes with every
	// commit made on any other connection — a constant-time check, where
	// counting rows through the list endpoints grew with every stored row
	// and took most of each execution.
	watch, err := s.db.Reader.Conn(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { watch.Close() })
	commits := func(t testing.TB) int64 {
		var v int64
		if err := watch.QueryRowContext(context.Background(), "PRAGMA data_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	// The check sees a commit: a create that succeeds changes it.
	v := commits(f)
	if st, m := serve("POST", "/v1.3/analyze/tasks", "application/json",
		`{"video":{"type":"url","url":"https://media.example/w.mp4"},"prompt":"p"}`); st != 202 || commits(f) == v {
		f.Fatalf("data_version did not change with a stored task: %d %v", st, m)
	}

	f.Fuzz(func(t *testing.T, method, route uint8, id, query string, body []byte, ctype uint8, withKey bool, idem string) {
		path := strings.ReplaceAll(fuzzRoutes[int(route)%len(fuzzRoutes)], "X", url.PathEscape(id))
		target := path
		if query != "" {
			target += "?" + strings.NewReplacer("#", "%23", " ", "%20").Replace(query)
		}
		if _, err := url.ParseRequestURI(target); err != nil {
			t.Skip()
		}
		meth := fuzzMethods[int(method)%len(fuzzMethods)]
		req, err := http.NewRequest(meth, "http://fw.test"+target, bytes.NewReader(body))
		if err != nil {
			t.Skip()
		}
		if withKey {
			req.Header.Set("x-api-key", key)
		}
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		if ct := fuzzTypes[int(ctype)%len(fuzzTypes)]; ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		before := commits(t)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		raw := rec.Body.Bytes()
		t.Logf("%s %s → %d %.200s", meth, target, rec.Code, raw)
		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", meth, target, rec.Code, raw)
		}
		if len(raw) > 0 && !json.Valid(raw) {
			t.Fatalf("%s %s: %d body is not JSON: %q", meth, target, rec.Code, raw)
		}
		if rec.Code >= 400 {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatalf("%s %s: %d error body %q", meth, target, rec.Code, raw)
			}
			if c, _ := code(m); c == "" || message(m) == "" {
				t.Fatalf("%s %s: %d error without code or message: %s", meth, target, rec.Code, raw)
			}
			if after := commits(t); after != before {
				t.Fatalf("%s %s: refused with %d but the database changed", meth, target, rec.Code)
			}
		}
	})
}

// message returns the message of a flat or nested error body.
func message(m map[string]any) string {
	if e, ok := m["error"].(map[string]any); ok {
		s, _ := e["message"].(string)
		return s
	}
	s, _ := m["message"].(string)
	return s
}
