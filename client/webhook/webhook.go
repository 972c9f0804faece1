// Package webhook verifies and describes the notifications a framewise
// server (or TwelveLabs) sends to a webhook endpoint: the TL-Signature
// header, the event types and the payload. The server signs with Sign from
// this package, so the signature format has one home.
//
// A receiver reads the raw body, calls Verify with the endpoint's signing
// secret, and only then decodes the body (Parse does both):
//
//	body, _ := io.ReadAll(r.Body)
//	ev, err := webhook.Parse(secret, r.Header.Get(webhook.SignatureHeader), body, webhook.DefaultTolerance)
//	if err != nil { http.Error(w, "bad signature", http.StatusBadRequest); return }
//	// ev.Type is webhook.EventTaskReady or webhook.EventTaskFailed (fetch the task by ev.Data.ID),
//	// or webhook.EventBatchCompleted (ev.Data.ID is the batch, ev.Data.Batch its counts).
//
// Answer with any 2xx within 10 seconds to acknowledge; anything else is
// retried with exponential backoff.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries "t=<unix seconds>,v1=<lowercase hex HMAC-SHA256>".
const SignatureHeader = "TL-Signature"

// DefaultTolerance is how far the signed timestamp may be from the
// receiver's clock, either way; it bounds the replay of a captured request.
const DefaultTolerance = 5 * time.Minute

// Event types.
const (
	EventTaskReady  = "analyze.task.ready"
	EventTaskFailed = "analyze.task.failed"
	// EventBatchCompleted is sent once when a batch ends: its last item
	// ended (status completed), or it was canceled or expired and its
	// running items ended. Data.ID is the batch id and Data.Batch holds
	// its counts. The event name is framewise's (upstream's is not
	// documented).
	EventBatchCompleted = "analyze.batch.completed"
	// EventTest is sent by "framewise webhooks test" and the admin test
	// route; it is a framewise extension that receivers may ignore.
	EventTest = "framewise.webhook.test"
)

// Event is the JSON body of a notification. The id is the same on every
// attempt of one notification, so receivers can drop duplicates by it.
type Event struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	Type      string    `json:"type"`
	Data      TaskData  `json:"data"`
}

// TaskData is the task an analyze.task.* event is about, or the batch of
// an analyze.batch.completed event. Results are not included: fetch the
// task (GET /v1.3/analyze/tasks/{id}) or the batch's results for them.
type TaskData struct {
	ID        string    `json:"id"`
	CustomID  *string   `json:"custom_id"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	// CompletedAt and Error are framewise additions.
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	Error       *TaskError `json:"error,omitempty"`
	// Batch is set on batch events only.
	Batch *BatchCounts `json:"batch,omitempty"`
}

// BatchCounts are a batch's items by final status, in a batch event.
type BatchCounts struct {
	TotalItems    int `json:"total_items"`
	ReadyItems    int `json:"ready_items"`
	FailedItems   int `json:"failed_items"`
	CanceledItems int `json:"canceled_items"`
}

// TaskError is the reason of a failed task.
type TaskError struct {
	Message string `json:"message"`
}

// Errors of Verify; test them with errors.Is.
var (
	// ErrHeader: the header is missing or has no t= and v1= parts.
	ErrHeader = errors.New("webhook: malformed " + SignatureHeader + " header")
	// ErrTimestamp: the signed time is outside the tolerance (replay or clock skew).
	ErrTimestamp = errors.New("webhook: signature timestamp outside the tolerance")
	// ErrSignature: no v1 signature matches the body and secret.
	ErrSignature = errors.New("webhook: signature does not match")
)

// Sign returns the TL-Signature header value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks header (the TL-Signature value) against the raw body and
// the endpoint's secret, and that its timestamp is within tolerance of now
// (tolerance <= 0 means DefaultTolerance). Any of several v1 signatures may
// match. The comparison takes constant time.
func Verify(secret, header string, body []byte, tolerance time.Duration) error {
	return VerifyAt(secret, header, body, tolerance, time.Now())
}

// VerifyAt is Verify with the receiver's clock given.
func VerifyAt(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	ts, sigs, err := ParseHeader(header)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed at %s, %s from now (tolerance %s)", ErrTimestamp,
			time.Unix(ts, 0).UTC().Format(time.RFC3339), d.Round(time.Second), tolerance)
	}
	want := mac(secret, strconv.FormatInt(ts, 10), body)
	ok := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			ok = true
		}
	}
	if !ok {
		return ErrSignature
	}
	return nil
}

// ParseHeader splits a TL-Signature value into its timestamp and its v1
// signatures. Unknown keys (future schemes) are ignored; a v1 value that is
// not 64 hex characters is an error.
func ParseHeader(header string) (ts int64, sigs [][]byte, err error) {
	if header == "" {
		return 0, nil, fmt.Errorf("%w: it is missing", ErrHeader)
	}
	haveT := false
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return 0, nil, fmt.Errorf("%w: %q is not key=value", ErrHeader, part)
		}
		switch k {
		case "t":
			if haveT {
				return 0, nil, fmt.Errorf("%w: more than one t=", ErrHeader)
			}
			n, perr := strconv.ParseInt(v, 10, 64)
			if perr != nil || n <= 0 || len(v) > 12 {
				return 0, nil, fmt.Errorf("%w: t=%q is not a unix time in seconds", ErrHeader, v)
			}
			ts, haveT = n, true
		case "v1":
			b, herr := hex.DecodeString(v)
			if herr != nil || len(b) != sha256.Size {
				return 0, nil, fmt.Errorf("%w: v1 is not 64 hex characters", ErrHeader)
			}
			sigs = append(sigs, b)
		}
	}
	if !haveT || len(sigs) == 0 {
		return 0, nil, fmt.Errorf("%w: want t=<unix seconds>,v1=<hex signature>", ErrHeader)
	}
	return ts, sigs, nil
}

// Parse verifies the signature (as Verify) and decodes the body.
func Parse(secret, header string, body []byte, tolerance time.Duration) (*Event, error) {
	if err := Verify(secret, header, body, tolerance); err != nil {
		return nil, err
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("webhook: decode event: %w", err)
	}
	return &ev, nil
}
