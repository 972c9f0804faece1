package webhook

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framewise/framewise/client/webhook"
	"github.com/framewise/framewise/internal/netguard"
	"github.com/framewise/framewise/internal/task"
)

type memStore struct {
	mu        sync.Mutex
	endpoints map[string]*Endpoint
	deliv     map[string]*Delivery
}

func newMem() *memStore {
	return &memStore{endpoints: map[string]*Endpoint{}, deliv: map[string]*Delivery{}}
}

func (m *memStore) CreateEndpoint(_ context.Context, e *Endpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.endpoints[e.ID] = e
	return nil
}
func (m *memStore) Endpoints(context.Context, string) ([]Endpoint, error) { return nil, nil }
func (m *memStore) Endpoint(_ context.Context, id string) (*Endpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.endpoints[id]; e != nil {
		return e, nil
	}
	return nil, ErrNotFound
}
func (m *memStore) DeleteEndpoint(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.endpoints, id)
	return nil
}
func (m *memStore) Delivery(_ context.Context, id string) (*Delivery, *Endpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.deliv[id]
	if d == nil {
		return nil, nil, ErrNotFound
	}
	c := *d
	return &c, m.endpoints[d.EndpointID], nil
}
func (m *memStore) RecordAttempt(_ context.Context, id string, ok bool, lastErr string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.deliv[id]
	d.Attempts++
	d.Delivered, d.LastError = ok, lastErr
	return nil
}
func (m *memStore) Redeliver(context.Context, string, string) (int, error) { return 0, nil }

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestDeliver(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	answers := []int{500, 302, 200}
	var bodies []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify("sec", r.Header.Get(webhook.SignatureHeader), body, time.Minute); err != nil {
			t.Errorf("receiver: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, string(body))
		code := answers[0]
		answers = answers[1:]
		if code == 302 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(code)
	}))
	defer recv.Close()
	store := newMem()
	svc := New(store, netguard.Guard{AllowPrivate: true}, quietLog())
	now := time.Now()
	tk := &task.Task{ID: "t1", Status: task.Failed, CreatedAt: now, CompletedAt: &now, ErrorMessage: "boom"}
	typ, body, err := Event(tk, "whe_1", now)
	if err != nil || typ != webhook.EventTaskFailed || !strings.Contains(string(body), `"error":{"message":"boom"}`) ||
		!strings.Contains(string(body), `"custom_id":null`) {
		t.Fatalf("event %s %s %v", typ, body, err)
	}
	store.endpoints["wh"] = &Endpoint{ID: "wh", URL: recv.URL, Secret: "sec", Enabled: true}
	store.deliv["whe_1"] = &Delivery{ID: "whe_1", TaskID: "t1", EndpointID: "wh", URL: recv.URL + "/hook", Event: typ, Payload: body}
	ctx := context.Background()
	var ae *AttemptError
	if err := svc.Deliver(ctx, "whe_1"); !errors.As(err, &ae) || ae.Message != "HTTP 500" {
		t.Fatalf("attempt 1 = %v", err)
	}
	if err := svc.Deliver(ctx, "whe_1"); !errors.As(err, &ae) || !strings.HasPrefix(ae.Message, "HTTP 302") {
		t.Fatalf("attempt 2 (redirect) = %v", err)
	}
	if err := svc.Deliver(ctx, "whe_1"); err != nil {
		t.Fatalf("attempt 3 = %v", err)
	}
	if err := svc.Deliver(ctx, "whe_1"); err != nil { // delivered: nothing sent
		t.Fatalf("after delivery = %v", err)
	}
	d := store.deliv["whe_1"]
	if !d.Delivered || d.Attempts != 3 || d.LastError != "" || len(bodies) != 3 || bodies[0] != string(body) || bodies[2] != string(body) {
		t.Fatalf("delivery %+v, %d bodies", d, len(bodies))
	}
	// Unknown delivery (task deleted): done. Removed endpoint: recorded, done.
	if err := svc.Deliver(ctx, "whe_gone"); err != nil {
		t.Fatal(err)
	}
	store.deliv["whe_2"] = &Delivery{ID: "whe_2", EndpointID: "wh_removed", URL: recv.URL, Payload: body}
	if err := svc.Deliver(ctx, "whe_2"); err != nil || store.deliv["whe_2"].LastError != "the webhook endpoint was removed" {
		t.Fatalf("removed endpoint: %v %+v", err, store.deliv["whe_2"])
	}
}

func TestGuardRefusesPrivateURLs(t *testing.T) {
	t.Parallel()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("a refused address was reached") }))
	defer recv.Close()
	ctx := context.Background()
	strict := New(newMem(), netguard.Guard{}, quietLog())
	for _, u := range []string{recv.URL, "http://10.1.2.3/hook", "http://localhost:9/x", "http://[::1]/", "ftp://example.com/", "http://u:p@example.com/", ""} {
		var ie *InvalidError
		if _, err := strict.Add(ctx, "", u, ""); !errors.As(err, &ie) || ie.Param != "url" {
			t.Errorf("Add(%q) = %v, want an InvalidError", u, err)
		}
	}
	// At delivery time the guard refuses too (DNS may have changed since Add).
	store := newMem()
	svc := New(store, netguard.Guard{}, quietLog())
	store.endpoints["wh"] = &Endpoint{ID: "wh", URL: recv.URL, Secret: "s", Enabled: true}
	store.deliv["d"] = &Delivery{ID: "d", EndpointID: "wh", URL: recv.URL, Payload: []byte("{}")}
	var ae *AttemptError
	if err := svc.Deliver(ctx, "d"); !errors.As(err, &ae) || !strings.Contains(ae.Message, "--allow-private-urls") {
		t.Fatalf("delivery to loopback = %v", err)
	}
	open := New(newMem(), netguard.Guard{AllowPrivate: true}, quietLog())
	e, err := open.Add(ctx, "", recv.URL, "local")
	if err != nil || e.AccountID != "default" || !strings.HasPrefix(e.Secret, "whsec_") || len(e.Secret) != 38 {
		t.Fatalf("Add with --allow-private-urls = %+v, %v", e, err)
	}
}

func TestDelayDoubles(t *testing.T) {
	t.Parallel()
	var total time.Duration
	for a := 1; a < MaxAttempts; a++ {
		total += Delay(DefaultBackoff, a)
	}
	if Delay(DefaultBackoff, 1) != time.Minute || Delay(DefaultBackoff, 3) != 4*time.Minute || total < time.Hour || MaxAttempts < 6 {
		t.Fatalf("retries span %s over %d attempts", total, MaxAttempts)
	}
}
