package httpapi_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/framewise/framewise/internal/httpapi"
	"github.com/framewise/framewise/internal/netguard"
	"github.com/framewise/framewise/internal/store"
	"github.com/framewise/framewise/internal/webhook"
)

// The webhook admin routes: admin keys only, URLs checked by the SSRF
// guard, secrets only where documented, answers that follow the document.
func TestAdminWebhooks(t *testing.T) {
	t.Parallel()
	d := openapiDoc(t)
	db, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hooks := store.NewWebhooks(db, func(context.Context, *sql.Tx, string) error { return nil })
	svc := webhook.New(hooks, netguard.Guard{}, slog.New(slog.NewTextHandler(io.Discard, nil)))

	off, _ := newServerOpts(t, httpapi.Options{APIKeys: []string{"user"}, Webhooks: svc})
	if _, m := (&oasClient{t: t, d: d, base: off.URL}).send("GET", "/admin/v1/webhooks", nil, 403, "x-api-key", "user"); m != nil {
		if c, _ := code(m); c != "admin_disabled" {
			t.Errorf("without admin keys: %s", c)
		}
	}
	srv, _ := newServerOpts(t, httpapi.Options{APIKeys: []string{"user"}, AdminKeys: []string{"root"}, Webhooks: svc})
	oas := &oasClient{t: t, d: d, base: srv.URL}
	oas.send("GET", "/admin/v1/webhooks", nil, 401, "x-api-key", "user")
	for _, body := range []string{`{"url":"http://127.0.0.1:9/hook"}`, `{"url":"http://10.0.0.1/"}`, `{"url":"ftp://example.com/"}`, `{"url":""}`, `{"uri":"x"}`} {
		if _, m := oas.send("POST", "/admin/v1/webhooks", []byte(body), 400, "x-api-key", "root", "Content-Type", "application/json"); m != nil {
			if c, _ := code(m); c != "parameter_invalid" {
				t.Errorf("%s: %s, want parameter_invalid", body, c)
			}
		}
	}
	_, m := oas.send("POST", "/admin/v1/webhooks", []byte(`{"url":"http://93.184.216.34/hook","description":"d"}`), 201,
		"x-api-key", "root", "Content-Type", "application/json")
	id, _ := m["id"].(string)
	if secret, _ := m["secret"].(string); id == "" || len(secret) < 20 || m["account"] != "default" || m["enabled"] != true {
		t.Fatalf("created %v", m)
	}
	_, m = oas.send("GET", "/admin/v1/webhooks", nil, 200, "x-api-key", "root")
	if list, _ := m["data"].([]any); len(list) != 1 || list[0].(map[string]any)["secret"] != nil {
		t.Errorf("list %v: want one endpoint without its secret", m)
	}
	_, m = oas.send("GET", "/admin/v1/webhooks?account=other", nil, 200, "x-api-key", "root")
	if list, _ := m["data"].([]any); len(list) != 0 {
		t.Errorf("another account's list: %v", m)
	}
	if _, m = oas.send("GET", "/admin/v1/webhooks/"+id, nil, 200, "x-api-key", "root"); m["secret"] == nil {
		t.Errorf("get %v: want the secret", m)
	}
	oas.send("POST", "/admin/v1/tasks/6760c4a1e4a1b37f8a9c5d12/webhooks/redeliver", nil, 404, "x-api-key", "root")
	oas.send("DELETE", "/admin/v1/webhooks/"+id, nil, 204, "x-api-key", "root")
	oas.send("DELETE", "/admin/v1/webhooks/"+id, nil, 404, "x-api-key", "root")
	oas.send("POST", "/admin/v1/webhooks/"+id+"/test", nil, 404, "x-api-key", "root")
}
