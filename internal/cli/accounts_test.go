package cli

import (
	"strings"
	"testing"
)

// The accounts and keys commands say what is missing before calling the server.
func TestAccountsUsage(t *testing.T) {
	t.Parallel()
	env := testEnv(map[string]string{"FRAMEWISE_URL": "http://127.0.0.1:1", "FRAMEWISE_ADMIN_KEY": "root"})
	noKey := testEnv(map[string]string{"FRAMEWISE_URL": "http://127.0.0.1:1"})
	for _, tc := range []struct {
		env    Env
		args   []string
		stderr string
	}{
		{env, []string{"accounts"}, "missing command"},
		{env, []string{"accounts", "create"}, "want one account name"},
		{env, []string{"accounts", "delete", "a", "b"}, "want one account name"},
		{env, []string{"accounts", "list", "x"}, "takes no arguments"},
		{env, []string{"accounts", "rename", "x"}, "unknown command"},
		{noKey, []string{"accounts", "list"}, "missing admin key"},
		{env, []string{"keys", "create"}, "--account"},
		{env, []string{"keys", "list", "acme"}, "--account"},
		{env, []string{"keys", "revoke"}, "one key id"},
		{noKey, []string{"keys", "revoke", "key_1"}, "missing admin key"},
	} {
		code, _, stderr := run(t, tc.env, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%v: code %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.stderr)
		}
	}
}
