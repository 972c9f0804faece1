// Package client is the Go SDK of framewise: one method per endpoint of the
// TwelveLabs v1.3 compatible Analyze API, a pager over task lists, a Wait
// helper that polls a task until it is done, and typed errors that work with
// errors.Is (for example errors.Is(err, client.ErrNotFound)).
//
// Requests and responses are the wire types of package api. The client only
// speaks HTTP; it works against framewise and against any server that
// implements the same routes.
//
// Transient failures (408, 429, 5xx and transport errors) are retried up to
// twice with exponential backoff, honouring Retry-After, but only when a
// retry cannot duplicate work: GET and DELETE always, POST /analyze/tasks
// only when the call carries an idempotency key (WithIdempotencyKey).
//
// The client sets no request timeout of its own: bound calls with a context
// deadline, or pass an http.Client with a Timeout through WithHTTPClient.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/framewise/framewise/api"
)

// DefaultUserAgent is sent when WithUserAgent is not used.
const DefaultUserAgent = "framewise-go"

const (
	defaultMaxRetries = 2
	// retryBase is the first backoff delay; each retry doubles it (±20 % jitter).
	retryBase = time.Second
	// maxRetryAfter caps a server's Retry-After so a bogus value cannot stall a call.
	maxRetryAfter = time.Minute
	// maxBodyBytes bounds how much of a response body is read.
	maxBodyBytes = 64 << 20
	// maxErrorBodyBytes bounds how much of an error body is read.
	maxErrorBodyBytes = 1 << 20
)

// Client calls a framewise server. It is safe for concurrent use.
type Client struct {
	baseURL    string // with the /v1.3 prefix, no trailing slash
	apiKey     string
	userAgent  string
	httpClient *http.Client
	maxRetries int
	// sleep waits between attempts and polls; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// Option configures a Client.
type Option func(*Client)

// WithAPIKey sends key in the x-api-key header of every request.
func WithAPIKey(key string) Option { return func(c *Client) { c.apiKey = key } }

// WithHTTPClient makes the client send its requests through hc, for
// timeouts, proxies or custom transports. A nil hc keeps the default.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.httpClient = hc
		}
	}
}

// WithUserAgent replaces the User-Agent header (default DefaultUserAgent).
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithMaxRetries sets how many times a retryable request is retried after
// its first attempt (default 2). Zero disables retries; negative values
// count as zero.
func WithMaxRetries(n int) Option {
	return func(c *Client) { c.maxRetries = max(n, 0) }
}

// New returns a client for the server at baseURL, for example
// "http://127.0.0.1:8700". The API prefix /v1.3 is appended unless baseURL
// already ends with it, so "https://api.example.com/v1.3" works as well.
func New(baseURL string, opts ...Option) *Client {
	base := strings.TrimRight(strings.TrimSpace(baseURL), "/")
	if !strings.HasSuffix(base, api.BasePath) {
		base += api.BasePath
	}
	c := &Client{
		baseURL:    base,
		userAgent:  DefaultUserAgent,
		httpClient: http.DefaultClient,
		maxRetries: defaultMaxRetries,
		sleep:      sleepCtx,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL returns the URL every route is relative to, ending in /v1.3.
func (c *Client) BaseURL() string { return c.baseURL }

// CallOption changes one call of an endpoint method.
type CallOption func(*callConfig)

type callConfig struct {
	idempotencyKey string
	raw            *json.RawMessage
}

// WithIdempotencyKey sends key in the Idempotency-Key header, so that the
// server creates at most one task for all requests carrying the same key
// (framewise remembers a key for 24 hours, per account, and answers a repeat
// with the first task; the same key with another body is refused with 422).
// It also makes CreateTask safe to retry, which it otherwise is not.
func WithIdempotencyKey(key string) CallOption {
	return func(cc *callConfig) { cc.idempotencyKey = key }
}

// WithRawResponse stores the undecoded JSON body of a successful response in
// *dst, for callers that want fields the api types do not model. dst is left
// unchanged when the call fails or the response has no body.
func WithRawResponse(dst *json.RawMessage) CallOption {
	return func(cc *callConfig) { cc.raw = dst }
}

// request is one API call, possibly sent several times.
type request struct {
	method string
	path   string // below the base URL, starting with "/"
	// admin puts path below the server's root instead: the admin routes
	// (/admin/v1/…) are not under /v1.3.
	admin bool
	query url.Values
	body  []byte // nil when the request has no body
	// stream, when set instead of body, is sent as is with contentType;
	// such a request is never retried.
	stream      io.Reader
	contentType string
	// idempotent marks a POST that is safe to send again.
	idempotent bool
	call       callConfig
}

// retryable reports whether sending r again cannot duplicate its effect.
func (r *request) retryable() bool {
	if r.stream != nil {
		return false
	}
	if r.idempotent {
		return true
	}
	switch r.method {
	case http.MethodGet, http.MethodHead, http.MethodDelete:
		return true
	}
	return r.call.idempotencyKey != ""
}

// do sends r, retrying transient failures when that is safe, and decodes a
// 2xx JSON body into out (when out is not nil). Non-2xx answers become
// *APIError.
func (c *Client) do(ctx context.Context, r *request, out any) error {
	return c.retry(ctx, r, func() error { return c.send(ctx, r, out) })
}

// retry makes attempts of r until one succeeds, retrying transient
// failures when that is safe.
func (c *Client) retry(ctx context.Context, r *request, attemptOnce func() error) error {
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := c.sleep(ctx, c.retryDelay(attempt, lastErr)); err != nil {
				return err
			}
		}
		err := attemptOnce()
		if err == nil {
			return nil
		}
		lastErr = err
		if attempt >= c.maxRetries || !r.retryable() || !isTransient(ctx, err) {
			return err
		}
	}
}

// send makes one attempt of r.
func (c *Client) send(ctx context.Context, r *request, out any) error {
	resp, err := c.roundTrip(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return fmt.Errorf("framewise: %s %s: reading response: %w", r.method, r.path, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if out != nil {
			return fmt.Errorf("framewise: %s %s: empty response body (HTTP %d)", r.method, r.path, resp.StatusCode)
		}
		return nil
	}
	if r.call.raw != nil {
		*r.call.raw = json.RawMessage(data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("framewise: %s %s: decoding response: %w", r.method, r.path, err)
	}
	return nil
}

// roundTrip sends r once and returns a 2xx response, its body unread;
// other answers become *APIError.
func (c *Client) roundTrip(ctx context.Context, r *request) (*http.Response, error) {
	u := c.baseURL + r.path
	if r.admin {
		u = strings.TrimSuffix(c.baseURL, api.BasePath) + r.path
	}
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	} else if r.stream != nil {
		body = r.stream
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("framewise: building request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	} else if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if c.apiKey != "" {
		req.Header.Set("x-api-key", c.apiKey)
	}
	if r.call.idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", r.call.idempotencyKey)
	}

	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, err // *url.Error: names method and URL, wraps context errors
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
		return nil, parseAPIError(resp, data)
	}
	return resp, nil
}

// isTransient reports whether err may go away on its own: a 408, 429 or
// 5xx answer, or a transport failure that is not the caller's context.
func isTransient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode == http.StatusRequestTimeout ||
			ae.StatusCode == http.StatusTooManyRequests ||
			ae.StatusCode >= 500
	}
	var ue *url.Error
	return errors.As(err, &ue)
}

// retryDelay is the wait before attempt (1-based retries): the server's
// Retry-After when it sent one, otherwise 1 s, 2 s, … with ±20 % jitter.
func (c *Client) retryDelay(attempt int, lastErr error) time.Duration {
	var ae *APIError
	if errors.As(lastErr, &ae) && ae.hasRetryAfter {
		return ae.retryAfter
	}
	d := retryBase << (attempt - 1)
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}

// parseRetryAfter reads a Retry-After header (seconds or an HTTP date);
// ok is false when the header is absent or unreadable.
func parseRetryAfter(h string, now time.Time) (d time.Duration, ok bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(h); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	return min(max(d, 0), maxRetryAfter), true
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// jsonRequest is a request whose body is v encoded as JSON; name names
// the call in an encoding error.
func jsonRequest(name, method, path string, v any, opts []CallOption) (*request, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("framewise: %s: encoding request: %w", name, err)
	}
	return &request{method: method, path: path, body: body, call: callOptions(opts)}, nil
}

// eachLine calls fn with each non-empty line of a JSON Lines body (lines
// of at most limit bytes) until fn returns false or an error.
func eachLine(r io.Reader, limit int, fn func(line []byte) (bool, error)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), limit)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if more, err := fn(line); err != nil || !more {
			return err
		}
	}
	return sc.Err()
}
