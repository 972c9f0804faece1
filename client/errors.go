package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors for the common failure classes of an API call. An
// *APIError matches the sentinel of its status code with errors.Is.
var (
	// ErrBadRequest: the server refused the request as invalid (400 or 422).
	ErrBadRequest = errors.New("framewise: bad request")
	// ErrUnauthorized: the API key is missing or wrong (401).
	ErrUnauthorized = errors.New("framewise: unauthorized")
	// ErrNotFound: no such task or route (404).
	ErrNotFound = errors.New("framewise: not found")
	// ErrConflict: the resource is in a state that forbids the call, such
	// as deleting a task that is processing (409).
	ErrConflict = errors.New("framewise: conflict")
	// ErrRateLimited: too many requests (429); retried automatically
	// when the call is safe to retry.
	ErrRateLimited = errors.New("framewise: rate limited")
	// ErrTaskFailed: Wait saw the task end in failure. The error returned
	// by Wait is a *TaskFailedError that wraps it.
	ErrTaskFailed = errors.New("framewise: task failed")
)

// APIError is a non-2xx answer of the server. Code and Message come from the
// error body, which may be flat ({"code","message"}) or nested
// ({"error":{"code","message","details"}}); both are empty when the body
// was empty (a 429, for instance), and Message holds the start of the body
// when it was not JSON.
type APIError struct {
	StatusCode int
	Code       string // e.g. "parameter_invalid", "resource_not_exist"
	Message    string
	// RequestID is the X-Request-Id response header, to quote when
	// reporting a problem to the server's operator.
	RequestID string
	// DocsURL and Details are sent by some endpoints only.
	DocsURL string
	Details map[string]any

	retryAfter    time.Duration
	hasRetryAfter bool
}

// Error reads like "HTTP 404 resource_not_exist: Task x does not exist.
// (request id r1)", without a package prefix, so that command lines can
// show it as is.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	switch {
	case e.Message != "":
		b.WriteString(": " + e.Message)
	case http.StatusText(e.StatusCode) != "":
		b.WriteString(": " + http.StatusText(e.StatusCode))
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNotFound) and the other sentinels work on an
// *APIError according to its status code.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.StatusCode == http.StatusBadRequest || e.StatusCode == http.StatusUnprocessableEntity
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

// parseAPIError builds the error of a non-2xx response from its (possibly
// empty, possibly non-JSON) body.
func parseAPIError(resp *http.Response, body []byte) *APIError {
	e := &APIError{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	e.retryAfter, e.hasRetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return e
	}
	var wire struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		DocsURL string          `json:"docs_url"`
		Error   json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(body, &wire); err != nil {
		e.Message = snippet(body)
		return e
	}
	e.Code, e.Message, e.DocsURL = wire.Code, wire.Message, wire.DocsURL
	var nested struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	}
	if len(wire.Error) > 0 && json.Unmarshal(wire.Error, &nested) == nil {
		if nested.Code != "" {
			e.Code = nested.Code
		}
		if nested.Message != "" {
			e.Message = nested.Message
		}
		e.Details = nested.Details
	} else if len(wire.Error) > 0 && e.Message == "" {
		// {"error": "text"}, as some proxies send.
		var s string
		if json.Unmarshal(wire.Error, &s) == nil {
			e.Message = s
		}
	}
	return e
}

// snippet returns the start of a non-JSON body, on one line.
func snippet(body []byte) string {
	const n = 200
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// TaskFailedError is returned by Wait, together with the task, when the
// task ended in failure. It wraps ErrTaskFailed.
type TaskFailedError struct {
	TaskID  string
	Status  string // "failed", or a newer terminal status such as "canceled"
	Message string // the task's error.message; may be empty
}

func (e *TaskFailedError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "no reason given"
	}
	if e.Status != "" && e.Status != "failed" {
		return fmt.Sprintf("task %s %s: %s", e.TaskID, e.Status, msg)
	}
	return fmt.Sprintf("task %s failed: %s", e.TaskID, msg)
}

// Unwrap lets errors.Is(err, ErrTaskFailed) match.
func (e *TaskFailedError) Unwrap() error { return ErrTaskFailed }
