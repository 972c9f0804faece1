package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// batchBody is a create-batch body of the given items on asset, with
// per-item JSON added to each item when extra is set.
func batchBody(asset string, n int, extra string) []byte {
	var items []string
	for i := range n {
		items = append(items, fmt.Sprintf(`{"video":{"type":"asset_id","asset_id":%q},"custom_id":"c%d"%s}`, asset, i, extra))
	}
	return []byte(`{"model_name":"pegasus1.5","analysis_mode":"general","defaults":{"prompt":{"input_text":"describe"}},"requests":[` +
		strings.Join(items, ",") + `]}`)
}

// TestBatchEndpoints drives every batch route through its statuses, each
// response checked against api/openapi.json. No queue runs here, so the
// batches stay pending until canceled.
func TestBatchEndpoints(t *testing.T) {
	t.Parallel()
	s := newAssetServer(t)
	c := &oasClient{t: t, d: openapiDoc(t), base: s.URL}
	k := []string{"x-api-key", key}
	jk := append([]string{"Content-Type", "application/json"}, k...)
	video := s.upload(t, testVideo(t, 6), true)["_id"].(string)
	junk := filepath.Join(t.TempDir(), "broken.mp4")
	if err := os.WriteFile(junk, []byte("\x00\x00\x00\x18ftypmp42 and nothing else"), 0o600); err != nil {
		t.Fatal(err)
	}
	failed := s.upload(t, junk, true)["_id"].(string)
	processing := s.upload(t, testVideo(t, 6), false)["_id"].(string)

	// Refusals name the item.
	_, m := c.send("POST", "/v1.3/analyze/batches", batchBody(video, 2, `,"max_tokens":0`), 400, jk...)
	if e := m["error"].(map[string]any); e["details"].(map[string]any)["parameter"] != "requests[0].max_tokens" || !strings.Contains(e["message"].(string), `custom_id "c0"`) {
		t.Errorf("invalid item: %v", m)
	}
	dup := bytes.Replace(batchBody(video, 2, ""), []byte(`"c1"`), []byte(`"c0"`), 1)
	if _, m := c.send("POST", "/v1.3/analyze/batches", dup, 400, jk...); !strings.Contains(fmt.Sprint(m), "already used by requests[0]") {
		t.Errorf("duplicate custom_id: %v", m)
	}
	c.send("POST", "/v1.3/analyze/batches", []byte(`{"model_name":"pegasus1.5","analysis_mode":"general","requests":[]}`), 400, jk...)
	c.send("POST", "/v1.3/analyze/batches", []byte(`{"analysis_mode":"general","requests":[]}`), 400, jk...)
	c.send("POST", "/v1.3/analyze/batches", []byte(`{"model_name":"pegasus1.5","analysis_mode":"general","requests":[],"x":1}`), 400, jk...)
	c.send("POST", "/v1.3/analyze/batches", []byte(`[`), 400, jk...)
	c.send("POST", "/v1.3/analyze/batches", batchBody(video, 1, `,"video":{"type":"url","url":"https://e.com/v.mp4"}`), 400, jk...)
	c.send("POST", "/v1.3/analyze/batches", batchBody(video, 1001, ""), 400, jk...)
	if _, m := c.send("POST", "/v1.3/analyze/batches", batchBody(video, 7, ""), 400, jk...); !strings.Contains(fmt.Sprint(m), "content hours") {
		t.Errorf("over the content hours: %v", m)
	}
	c.send("POST", "/v1.3/analyze/batches", batchBody("000000000000000000000000", 1, ""), 404, jk...)
	if _, m := c.send("POST", "/v1.3/analyze/batches", batchBody(processing, 1, ""), 409, jk...); !strings.Contains(fmt.Sprint(m), "asset_not_ready") {
		t.Errorf("processing asset: %v", m)
	}
	c.send("POST", "/v1.3/analyze/batches", batchBody(failed, 1, ""), 409, jk...)
	c.send("POST", "/v1.3/analyze/batches", bytes.Repeat([]byte(" "), 2<<20), 413, jk...)
	c.send("POST", "/v1.3/analyze/batches", batchBody(video, 1, ""), 401)

	// Five pending batches, then 429.
	var ids []string
	for range 5 {
		_, m := c.send("POST", "/v1.3/analyze/batches", batchBody(video, 3, ""), 201, jk...)
		ids = append(ids, m["batch_id"].(string))
		if m["status"] != "pending" || len(m["items"].([]any)) != 3 {
			t.Errorf("created: %v", m)
		}
	}
	h, _ := c.send("POST", "/v1.3/analyze/batches", batchBody(video, 1, ""), 429, jk...)
	if h.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}

	if _, m := c.send("GET", "/v1.3/analyze/batches/"+ids[0], nil, 200, k...); m["status"] != "pending" || m["queued_items"] != 3.0 {
		t.Errorf("retrieve: %v", m)
	}
	c.send("GET", "/v1.3/analyze/batches/000000000000000000000000", nil, 404, k...)
	if _, m := c.send("GET", "/v1.3/analyze/batches?status=pending&status=processing&analysis_mode=general&page_limit=2", nil, 200, k...); len(m["data"].([]any)) != 2 || m["page_info"].(map[string]any)["total_results"] != 5.0 {
		t.Errorf("list: %v", m)
	}
	c.send("GET", "/v1.3/analyze/batches?status=failed", nil, 400, k...)
	c.send("GET", "/v1.3/analyze/batches?analysis_mode=x", nil, 400, k...)
	c.send("GET", "/v1.3/analyze/batches?page=0", nil, 400, k...)
	c.send("GET", "/v1.3/analyze/batches/"+ids[0]+"/results", nil, 200, k...)
	c.send("GET", "/v1.3/analyze/batches/000000000000000000000000/results", nil, 404, k...)

	if _, m := c.send("DELETE", "/v1.3/analyze/batches/"+ids[0], nil, 409, k...); !strings.Contains(fmt.Sprint(m), "batch_not_terminal") {
		t.Errorf("delete pending: %v", m)
	}
	if _, m := c.send("POST", "/v1.3/analyze/batches/"+ids[0]+"/cancel", nil, 202, k...); m["status"] != "canceled" || m["canceled_items"] != 3.0 || m["canceled_at"] == nil {
		t.Errorf("cancel: %v", m)
	}
	if _, m := c.send("POST", "/v1.3/analyze/batches/"+ids[0]+"/cancel", nil, 409, k...); !strings.Contains(fmt.Sprint(m), "batch_canceled") {
		t.Errorf("second cancel: %v", m)
	}
	c.send("POST", "/v1.3/analyze/batches/000000000000000000000000/cancel", nil, 404, k...)
	req, _ := http.NewRequest("GET", s.URL+"/v1.3/analyze/batches/"+ids[0]+"/results", nil)
	req.Header.Set("x-api-key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	dec := json.NewDecoder(resp.Body)
	for dec.More() {
		var l map[string]any
		if err := dec.Decode(&l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	resp.Body.Close()
	if len(lines) != 3 || lines[2]["custom_id"] != "c2" || lines[0]["status"] != "canceled" || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Errorf("results of the canceled batch: %v %v", resp.Header, lines)
	}
	// Its items are tasks, failed with the batch's message.
	if _, m := c.send("GET", "/v1.3/analyze/tasks/"+lines[0]["task_id"].(string), nil, 200, k...); m["status"] != "failed" || fmt.Sprint(m["error"]) != "map[message:canceled with its batch]" {
		t.Errorf("canceled item's task: %v", m)
	}
	c.send("POST", "/v1.3/analyze/batches", batchBody(video, 1, ""), 201, jk...)
	c.send("DELETE", "/v1.3/analyze/batches/"+ids[0], nil, 204, k...)
	c.send("DELETE", "/v1.3/analyze/batches/"+ids[0], nil, 404, k...)
	if resp, _ := do(t, "PUT", s.URL+"/v1.3/analyze/batches/"+ids[1], "", k...); resp.StatusCode != 405 {
		t.Errorf("PUT on a batch: %d, want 405", resp.StatusCode)
	}
}
