package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/framewise/framewise/internal/httpapi"
)

// The admin cancel route: off without admin keys, its own keys, 200 with
// the failed task, 409 once the task is final, 404 for an unknown task.
func TestAdminCancel(t *testing.T) {
	t.Parallel()
	d := openapiDoc(t)
	off, _ := newServerOpts(t, httpapi.Options{APIKeys: []string{"user"}})
	_, m := (&oasClient{t: t, d: d, base: off.URL}).send("POST", "/admin/v1/tasks/6760c4a1e4a1b37f8a9c5d12/cancel", nil, 403, "x-api-key", "user")
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
	cancel := u + "/admin/v1/tasks/" + id + "/cancel"
	for _, tc := range []struct {
		name, method, url, key string
		status                 int
		code                   string
	}{
		{"no key", "POST", cancel, "", 401, "api_key_invalid"},
		{"an API key is not an admin key", "POST", cancel, "user", 401, "api_key_invalid"},
		{"unknown task", "POST", u + "/admin/v1/tasks/6760c4a1e4a1b37f8a9c5d12/cancel", "root", 404, "resource_not_exist"},
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

// The admin routes of accounts and keys, every answer checked against
// api/openapi.json: a key works for its account until it is revoked, and
// an account that owns a task cannot be deleted.
func TestAdminAccounts(t *testing.T) {
	t.Parallel()
	srv, _ := newServerOpts(t, httpapi.Options{APIKeys: []string{"user"}, AdminKeys: []string{"root"}})
	oas := &oasClient{t: t, d: openapiDoc(t), base: srv.URL}
	root := []string{"x-api-key", "root"}
	_, m := oas.send("POST", "/admin/v1/accounts", []byte(`{"name":"acme"}`), 201, root...)
	key, _ := m["api_key"].(string)
	firstID, _ := m["key_id"].(string)
	oas.send("POST", "/admin/v1/accounts", []byte(`{"name":"acme"}`), 409, root...)
	oas.send("POST", "/admin/v1/accounts", []byte(`{"name":"Not OK"}`), 400, root...)
	oas.send("POST", "/admin/v1/accounts", []byte(`{"name":"x"}`), 401, "x-api-key", "user")
	_, m = oas.send("GET", "/admin/v1/accounts", nil, 200, root...)
	if data, _ := m["data"].([]any); len(data) != 2 {
		t.Errorf("accounts: %v", m)
	}
	_, m = oas.send("POST", "/admin/v1/accounts/acme/keys", nil, 201, root...)
	key2, _ := m["api_key"].(string)
	oas.send("POST", "/admin/v1/accounts/nobody/keys", nil, 404, root...)
	_, m = oas.send("GET", "/admin/v1/accounts/acme/keys", nil, 200, root...)
	if data, _ := m["data"].([]any); len(data) != 2 || strings.Contains(fmt.Sprint(m), key) {
		t.Errorf("keys: %v", m)
	}

	// The account's key creates a task; the account cannot go while it has it.
	resp, task := do(t, "POST", srv.URL+"/v1.3/analyze/tasks", `{"video":{"type":"url","url":"https://example.com/v.mp4"},"prompt":"p"}`, "x-api-key", key)
	if resp.StatusCode != 202 {
		t.Fatalf("create with the account's key: %d %v", resp.StatusCode, task)
	}
	oas.send("DELETE", "/admin/v1/accounts/acme", nil, 409, root...)
	oas.send("DELETE", "/admin/v1/accounts/default", nil, 409, root...)
	oas.send("DELETE", "/admin/v1/accounts/nobody", nil, 404, root...)

	// Revoked: refused at its next request; the other key still works.
	_, m = oas.send("DELETE", "/admin/v1/keys/"+firstID, nil, 200, root...)
	if m["revoked_at"] == nil {
		t.Errorf("revoke answered %v", m)
	}
	oas.send("DELETE", "/admin/v1/keys/key_nope", nil, 404, root...)
	if resp, m := do(t, "GET", srv.URL+"/v1.3/analyze/tasks", "", "x-api-key", key); resp.StatusCode != 401 || !strings.Contains(fmt.Sprint(m), "revoked") {
		t.Errorf("revoked key: %d %v", resp.StatusCode, m)
	}
	if resp, _ := do(t, "GET", srv.URL+"/v1.3/analyze/tasks/"+task["task_id"].(string), "", "x-api-key", key2); resp.StatusCode != 200 {
		t.Errorf("second key: %d", resp.StatusCode)
	}
	// The default account's key does not see acme's task.
	if resp, _ := do(t, "GET", srv.URL+"/v1.3/analyze/tasks/"+task["task_id"].(string), "", "x-api-key", "user"); resp.StatusCode != 404 {
		t.Errorf("default account reads acme's task: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "DELETE", srv.URL+"/v1.3/analyze/tasks/"+task["task_id"].(string), "", "x-api-key", key2); resp.StatusCode != 204 {
		t.Errorf("delete the task: %d", resp.StatusCode)
	}
	oas.send("DELETE", "/admin/v1/accounts/acme", nil, 204, root...)
	if resp, _ := do(t, "GET", srv.URL+"/v1.3/analyze/tasks", "", "x-api-key", key2); resp.StatusCode != 401 {
		t.Errorf("key of a deleted account: %d", resp.StatusCode)
	}

	// Without admin keys the routes are off.
	off, _ := newServerOpts(t, httpapi.Options{APIKeys: []string{"user"}})
	(&oasClient{t: t, d: oas.d, base: off.URL}).send("GET", "/admin/v1/accounts", nil, 403, "x-api-key", "user")
}

// In the open mode (no --api-key) a request without a key, or with a key
// that is no account's, acts for the default account, and an account's
// key for its account.
func TestOpenModeAccounts(t *testing.T) {
	t.Parallel()
	srv, _ := newServerOpts(t, httpapi.Options{AdminKeys: []string{"root"}})
	key := newAccount(t, srv.URL, "root", "acme")
	resp, m := do(t, "POST", srv.URL+"/v1.3/analyze/tasks", `{"video":{"type":"url","url":"https://example.com/v.mp4"},"prompt":"p"}`, "x-api-key", key)
	id, _ := m["task_id"].(string)
	if resp.StatusCode != 202 {
		t.Fatalf("create: %d %v", resp.StatusCode, m)
	}
	for _, k := range []string{"", "anything"} {
		if resp, _ := do(t, "GET", srv.URL+"/v1.3/analyze/tasks/"+id, "", "x-api-key", k); resp.StatusCode != 404 {
			t.Errorf("key %q reads acme's task: %d", k, resp.StatusCode)
		}
	}
	if resp, _ := do(t, "GET", srv.URL+"/v1.3/analyze/tasks/"+id, "", "x-api-key", key); resp.StatusCode != 200 {
		t.Errorf("acme reads its task: %d", resp.StatusCode)
	}
}
