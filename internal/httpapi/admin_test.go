package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/framewise/framewise/internal/httpapi"
)

// The admin cancel route: off without admin keys, its own keys, 200 with
// the failed task, 409 once the task is final, 404 for an unknown task.
func TestAdminCancel(t *testing.T) {
	t.Parallel()
	d := openapiDoc(t)
	off, _ := newServerOpts(t, httpapi.Options{APIKeys: []string{"user"}})
	_, m := (&oasClient{t: t, d: d, base: off.URL}).send("POST", "/v1.3/admin/tasks/6760c4a1e4a1b37f8a9c5d12/cancel", nil, 403, "x-api-key", "user")
	if c, _ := code(m); c != "admin_disabled" {
		t.Errorf("without admin keys: %s, want admin_disabled", c)
	}

	srv, _ := newServerOpts(t, httpapi.Options{APIKeys: []string{"user"}, AdminKeys: []string{"root"}})
	u := srv.URL
	oas := &oasClient{t: t, d: d, base: u}
	resp, m := do(t, "POST", u+"/v1.3/analyze/tasks", `{"video":{"type":"url","url":"https://example.com/v.mp4"},"prompt":"p"}`, "x-api-key", "user")
	id, _ := m["task_id"].(string)
	if resp.StatusCode != 202 || id == "" {
		t.Fatalf("create: %d %v", resp.StatusCode, m)
	}
	cancel := u + "/v1.3/admin/tasks/" + id + "/cancel"
	for _, tc := range []struct {
		name, method, url, key string
		status                 int
		code                   string
	}{
		{"no key", "POST", cancel, "", 401, "api_key_invalid"},
		{"an API key is not an admin key", "POST", cancel, "user", 401, "api_key_invalid"},
		{"unknown task", "POST", u + "/v1.3/admin/tasks/6760c4a1e4a1b37f8a9c5d12/cancel", "root", 404, "resource_not_exist"},
		{"wrong method", "GET", cancel, "user", 405, "method_not_allowed"},
		{"cancel", "POST", cancel, "root", 200, ""},
		{"cancel again", "POST", cancel, "root", 409, "task_finished"},
	} {
		var m map[string]any
		if tc.method == "POST" {
			_, m = oas.send(tc.method, tc.url, nil, tc.status, "x-api-key", tc.key) // checks the status and the document
		} else {
			var resp *http.Response
			if resp, m = do(t, tc.method, tc.url, "", "x-api-key", tc.key); resp.StatusCode != tc.status {
				t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.status)
			}
		}
		c, shape := code(m)
		if want := map[bool]string{true: "flat", false: "nested"}[tc.status == 405]; c != tc.code || (c != "" && shape != want) {
			t.Errorf("%s: %s (%s), want %s %s", tc.name, c, shape, tc.code, want)
		}
		if tc.name == "cancel" {
			e, _ := m["error"].(map[string]any)
			if m["status"] != "failed" || e["message"] != "The task was canceled by an operator." || m["task_id"] != id {
				t.Errorf("cancel answered %v, want the failed task with the operator's message", m)
			}
		}
	}
	resp, m = do(t, "GET", u+"/v1.3/analyze/tasks/"+id, "", "x-api-key", "user")
	if e, _ := m["error"].(map[string]any); resp.StatusCode != 200 || m["status"] != "failed" || e["message"] != "The task was canceled by an operator." {
		t.Errorf("the canceled task reads %d %v", resp.StatusCode, m)
	}
}
