package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/framewise/framewise/api"
)

// tasks cancel sends the admin key as x-api-key to the admin route and
// prints the canceled task's message; a final task and a wrong key say
// what to do.
func TestTasksCancel(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := strings.CutPrefix(r.URL.Path, "/admin/v1/tasks/")
		id, ok2 := strings.CutSuffix(id, "/cancel")
		switch {
		case r.Method != "POST" || !ok || !ok2:
			writeTestJSON(w, 404, api.FlatError{Code: api.CodeNotFound, Message: "no route " + r.URL.Path})
		case r.Header.Get("x-api-key") != "root":
			writeTestJSON(w, 401, api.NestedError{Error: api.ErrorObject{Code: api.CodeAPIKeyInvalid, Message: "The admin key is missing or invalid."}})
		case id == "done":
			writeTestJSON(w, 409, api.NestedError{Error: api.ErrorObject{Code: "task_finished", Message: "The task is already ready."}})
		default:
			writeTestJSON(w, 200, api.Task{TaskID: id, Status: api.StatusFailed, Error: &api.TaskError{Message: "The task was canceled by an operator."}})
		}
	}))
	t.Cleanup(srv.Close)
	env := testEnv(map[string]string{"FRAMEWISE_URL": srv.URL, "FRAMEWISE_API_KEY": "user"})
	withEnvKey := testEnv(map[string]string{"FRAMEWISE_URL": srv.URL, "FRAMEWISE_ADMIN_KEY": "root"})
	for _, tc := range []struct {
		name           string
		env            Env
		args           []string
		code           int
		stdout, stderr string
	}{
		{"no admin key", env, []string{"t1"}, 2, "", "missing admin key"},
		{"flag", env, []string{"t1", "--admin-key", "root"}, 0, "canceled t1: The task was canceled by an operator.\n", ""},
		{"env", withEnvKey, []string{"t1"}, 0, "canceled t1: The task was canceled by an operator.\n", ""},
		{"final task", withEnvKey, []string{"done"}, 1, "", "nothing to cancel"},
		{"wrong key", env, []string{"t1", "--admin-key", "user"}, 1, "", "check --admin-key"},
	} {
		code, stdout, stderr := run(t, tc.env, append([]string{"tasks", "cancel"}, tc.args...)...)
		if code != tc.code || stdout != tc.stdout || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%s: code %d, stdout %q, stderr %q; want %d, %q, %q", tc.name, code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
		}
	}
}
