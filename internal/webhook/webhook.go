// Package webhook owns webhook notifications on the server side: the
// endpoints of an account (their URL, signing secret, enabled flag), the
// event a task sends when it becomes ready or failed, and its delivery: a
// POST signed with client/webhook.Sign (a fresh timestamp on every
// attempt), through the SSRF guard, 10 s per attempt, redirects not
// followed. Retries and their backoff belong to the job queue, which calls
// Deliver once per attempt; the store writes a task's final state and the
// jobs of its deliveries in one transaction.
package webhook

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	accounts "github.com/framewise/framewise/internal/account"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/framewise/framewise/client/webhook"
	"github.com/framewise/framewise/internal/netguard"
	"github.com/framewise/framewise/internal/task"
)

// Delivery policy. With the default first delay of DefaultBackoff the
// MaxAttempts attempts span about two hours (1+2+4+…+64 minutes).
const (
	Timeout        = 10 * time.Second
	MaxAttempts    = 8
	DefaultBackoff = time.Minute
)

// Delay is the wait after failed attempt n (1-based): backoff, doubling.
func Delay(backoff time.Duration, attempt int) time.Duration {
	return backoff << min(max(attempt-1, 0), 20)
}

// Endpoint is a URL that receives the notifications of one account.
type Endpoint struct {
	ID          string
	AccountID   string
	URL         string
	Secret      string
	Enabled     bool
	Description string
	CreatedAt   time.Time
}

// Delivery is one notification of a task to one endpoint. ID is the
// event's id, the same on every attempt, and Payload its exact body.
type Delivery struct {
	ID         string
	TaskID     string
	EndpointID string
	URL        string
	Event      string
	Payload    []byte
	Delivered  bool
	Attempts   int
	LastError  string
}

// Errors that survive the trip to HTTP.
var (
	ErrNotFound = errors.New("webhook endpoint not found")
	// ErrNotFinished: a task's event is redelivered before the task is ready or failed.
	ErrNotFinished = errors.New("the task is not ready or failed yet")
)

// InvalidError is a refused endpoint: Message says what to change.
type InvalidError struct {
	Param   string
	Message string
}

func (e *InvalidError) Error() string { return e.Message }

// Store keeps endpoints and deliveries.
type Store interface {
	CreateEndpoint(ctx context.Context, e *Endpoint) error
	Endpoints(ctx context.Context, account string) ([]Endpoint, error)
	// Endpoint returns ErrNotFound for an unknown id.
	Endpoint(ctx context.Context, id string) (*Endpoint, error)
	DeleteEndpoint(ctx context.Context, id string) error
	// Delivery returns a delivery and its endpoint (nil when removed), or ErrNotFound.
	Delivery(ctx context.Context, id string) (*Delivery, *Endpoint, error)
	// RecordAttempt counts one attempt and its outcome.
	RecordAttempt(ctx context.Context, id string, delivered bool, lastError string) error
	// Redeliver queues the task's event again for its account's enabled
	// endpoints (only endpointID when set) and returns how many.
	Redeliver(ctx context.Context, taskID, endpointID string) (int, error)
}

// NewEventID returns a notification id: "whe_" and 32 hex characters.
func NewEventID() string { return "whe_" + randomHex(16) }

// NewSecret returns a signing secret: "whsec_" and 192 random bits.
func NewSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Event returns the notification of a task that has just become ready or
// failed: its type and body, with id as the event id.
func Event(t *task.Task, id string, now time.Time) (typ string, body []byte, err error) {
	typ = webhook.EventTaskReady
	if t.Status == task.Failed {
		typ = webhook.EventTaskFailed
	}
	data := webhook.TaskData{ID: t.ID, Status: string(t.Status), CreatedAt: t.CreatedAt.UTC().Truncate(time.Millisecond)}
	if t.Spec.CustomID != "" {
		c := t.Spec.CustomID
		data.CustomID = &c
	}
	if t.CompletedAt != nil {
		c := t.CompletedAt.UTC().Truncate(time.Millisecond)
		data.CompletedAt = &c
	}
	if t.Status == task.Failed && t.ErrorMessage != "" {
		data.Error = &webhook.TaskError{Message: t.ErrorMessage}
	}
	body, err = json.Marshal(webhook.Event{ID: id, CreatedAt: now.UTC().Truncate(time.Millisecond), Type: typ, Data: data})
	return typ, body, err
}

// BatchEvent returns the notification of a batch that has just ended
// (completed, canceled or expired), with id as the event id.
func BatchEvent(b *task.Batch, id string, now time.Time) (typ string, body []byte, err error) {
	data := webhook.TaskData{ID: b.ID, Status: b.Status(), CreatedAt: b.CreatedAt.UTC().Truncate(time.Millisecond),
		Batch: &webhook.BatchCounts{TotalItems: b.Total, ReadyItems: b.Counts.Ready, FailedItems: b.Counts.Failed, CanceledItems: b.Counts.Canceled}}
	if b.FinishedAt != nil {
		c := b.FinishedAt.UTC().Truncate(time.Millisecond)
		data.CompletedAt = &c
	}
	body, err = json.Marshal(webhook.Event{ID: id, CreatedAt: now.UTC().Truncate(time.Millisecond), Type: webhook.EventBatchCompleted, Data: data})
	return webhook.EventBatchCompleted, body, err
}

// Service manages endpoints and delivers notifications.
type Service struct {
	store Store
	guard netguard.Guard
	http  *http.Client
	log   *slog.Logger
	now   func() time.Time
}

// New returns a Service whose deliveries go through guard.
func New(store Store, guard netguard.Guard, log *slog.Logger) *Service {
	hc := guard.HTTPClient(Timeout, netguard.WithResponseHeaderTimeout(Timeout))
	// A redirect is an answer, not a new destination: a 3xx fails the attempt.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Service{store: store, guard: guard, http: hc, log: log, now: time.Now}
}

// Add registers an endpoint of account for url, with a new signing
// secret. The URL must be http or https and, unless the guard allows
// private addresses, resolve only to public ones.
func (s *Service) Add(ctx context.Context, account, rawURL, description string) (*Endpoint, error) {
	if account == "" {
		account = accounts.Default
	}
	u, err := s.CheckURL(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	e := &Endpoint{ID: "wh_" + randomHex(12), AccountID: account, URL: u, Enabled: true, Description: description,
		Secret: NewSecret(), CreatedAt: s.now().UTC()}
	if err := s.store.CreateEndpoint(ctx, e); err != nil {
		return nil, err
	}
	s.log.Info("webhook endpoint added", "endpoint_id", e.ID, "account", account, "url", e.URL)
	return e, nil
}

// CheckURL validates an endpoint URL and returns it trimmed.
func (s *Service) CheckURL(ctx context.Context, raw string) (string, error) {
	bad := func(format string, args ...any) error {
		return &InvalidError{Param: "url", Message: fmt.Sprintf(format, args...)}
	}
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return "", bad("The url parameter is required: the http or https URL that receives the notifications.")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "":
		return "", bad("The url %q is not an absolute http or https URL.", raw)
	case u.User != nil:
		return "", bad("The url must not contain credentials (user:password@); authenticate notifications by their signature.")
	case u.Fragment != "":
		return "", bad("The url must not contain a fragment (#…).")
	}
	if s.guard.AllowPrivate {
		return raw, nil
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		addrs, err = net.DefaultResolver.LookupNetIP(rctx, "ip", host)
		if err != nil {
			return "", bad("The host of the url, %s, does not resolve: %v. Use a host name that resolves to a public address.", host, err)
		}
	}
	for _, a := range addrs {
		if err := s.guard.Check(a.Unmap()); err != nil {
			return "", bad("The url is refused: %v.", err)
		}
	}
	return raw, nil
}

// Deliver makes one attempt of a delivery and records it. It returns nil
// when nothing is left to do (delivered, or its task or endpoint is gone)
// and an error when the attempt failed and may be retried. When ctx ends
// during the attempt (shutdown), the attempt is not counted.
func (s *Service) Deliver(ctx context.Context, id string) error {
	d, ep, err := s.store.Delivery(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil // the task was deleted
	}
	if err != nil {
		return err
	}
	if d.Delivered {
		return nil
	}
	if ep == nil || !ep.Enabled {
		why := "the webhook endpoint was removed"
		if ep != nil {
			why = "the webhook endpoint is disabled"
		}
		return s.store.RecordAttempt(ctx, id, false, why)
	}
	status, err := s.send(ctx, d.URL, ep.Secret, d.Payload)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	ok, lastErr := outcome(status, err)
	if rerr := s.store.RecordAttempt(ctx, id, ok, lastErr); rerr != nil {
		if ok {
			// Acknowledged: never sent again, even if the record is lost.
			s.log.Error("webhook delivered but not recorded", "delivery_id", id, "err", rerr)
			return nil
		}
		return rerr
	}
	if ok {
		s.log.Info("webhook delivered", "task_id", d.TaskID, "delivery_id", id, "event", d.Event, "url", d.URL, "attempt", d.Attempts+1)
		return nil
	}
	s.log.Info("webhook attempt failed", "task_id", d.TaskID, "delivery_id", id, "url", d.URL, "attempt", d.Attempts+1, "err", lastErr)
	return &AttemptError{Message: lastErr}
}

// AttemptError is a failed attempt, to be retried.
type AttemptError struct{ Message string }

func (e *AttemptError) Error() string { return "webhook attempt failed: " + e.Message }

// TestResult is the outcome of a test notification.
type TestResult struct {
	Delivered  bool
	StatusCode int
	Error      string
}

// Test sends a signed EventTest notification to an endpoint at once, once.
func (s *Service) Test(ctx context.Context, endpointID string) (*TestResult, error) {
	ep, err := s.store.Endpoint(ctx, endpointID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	body, err := json.Marshal(webhook.Event{ID: NewEventID(), CreatedAt: now.UTC().Truncate(time.Millisecond), Type: webhook.EventTest,
		Data: webhook.TaskData{Status: "test", CreatedAt: now.UTC().Truncate(time.Millisecond)}})
	if err != nil {
		return nil, err
	}
	status, err := s.send(ctx, ep.URL, ep.Secret, body)
	ok, lastErr := outcome(status, err)
	return &TestResult{Delivered: ok, StatusCode: status, Error: lastErr}, nil
}

// Endpoints lists the endpoints of an account.
func (s *Service) Endpoints(ctx context.Context, account string) ([]Endpoint, error) {
	if account == "" {
		account = accounts.Default
	}
	return s.store.Endpoints(ctx, account)
}

// Endpoint returns one endpoint.
func (s *Service) Endpoint(ctx context.Context, id string) (*Endpoint, error) {
	return s.store.Endpoint(ctx, id)
}

// Remove deletes an endpoint; its pending deliveries stop.
func (s *Service) Remove(ctx context.Context, id string) error {
	if err := s.store.DeleteEndpoint(ctx, id); err != nil {
		return err
	}
	s.log.Info("webhook endpoint removed", "endpoint_id", id)
	return nil
}

// Redeliver queues a finished task's event again (see Store.Redeliver).
func (s *Service) Redeliver(ctx context.Context, taskID, endpointID string) (int, error) {
	return s.store.Redeliver(ctx, taskID, endpointID)
}

// send POSTs body signed now; status is 0 when no answer came.
func (s *Service) send(ctx context.Context, rawURL, secret string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, strings.NewReader(string(body)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "framewise-webhook/1")
	req.Header.Set(webhook.SignatureHeader, webhook.Sign(secret, s.now(), body))
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// outcome turns an attempt into delivered or the error to show.
func outcome(status int, err error) (bool, string) {
	var ue *url.Error
	switch {
	case err != nil && errors.Is(err, netguard.ErrBlocked):
		var be *netguard.BlockedError
		errors.As(err, &be)
		return false, be.Error()
	case err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ue) && ue.Timeout()):
		return false, fmt.Sprintf("timeout: no answer within %s", Timeout)
	case err != nil && errors.As(err, &ue):
		return false, ue.Err.Error()
	case err != nil:
		return false, err.Error()
	case status >= 200 && status <= 299:
		return true, ""
	case status >= 300 && status <= 399:
		return false, fmt.Sprintf("HTTP %d (redirects are not followed; use the final URL)", status)
	default:
		return false, fmt.Sprintf("HTTP %d", status)
	}
}
