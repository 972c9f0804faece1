// Package openai is framewise's one home of model HTTP: an adapter from the
// inference port to any server speaking the OpenAI chat-completions and
// audio-transcriptions protocols (vLLM, SGLang, Ollama, llama.cpp server,
// whisper.cpp server, faster-whisper servers, hosted APIs). It uses the
// official openai-go SDK for the wire and owns the resilience policy: a
// bound on parallel calls, a per-attempt timeout, and retries with
// exponential backoff and jitter on 408, 429, 5xx, timeouts and connection
// errors, honouring Retry-After. The SDK's own retries are off, so there is
// one policy. Failures come back as *inference.BackendError naming the
// backend.
//
// Compatibility choices:
//   - the answer length is sent as max_tokens, which vLLM, SGLang, Ollama,
//     llama.cpp and OpenAI's non-reasoning models accept; OpenAI's reasoning
//     models need Config.UseMaxCompletionTokens;
//   - images go inline as base64 data URLs (no server fetches anything);
//   - structured output uses response_format json_schema {name, schema,
//     strict}, which vLLM, SGLang, Ollama (≥ 0.5) and llama.cpp translate to
//     constrained decoding;
//   - transcriptions ask for response_format=verbose_json and
//     timestamp_granularities[]=segment to get segment times. whisper.cpp's
//     server must be started with --inference-path /v1/audio/transcriptions.
//   - no OPENAI_* environment variable is read: a profile's key is never
//     sent to another profile's server.
//   - a streamed chat (inference.ChatRequest.Stream) sends stream: true with
//     stream_options.include_usage and reads the event stream itself, not
//     with openai-go's decoder, to survive each server's quirks (stream.go).
package openai

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/framewise/framewise/internal/metrics"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/framewise/framewise/internal/inference"
)

// Config is one model profile. Zero values take the defaults.
type Config struct {
	// BaseURL is the API root including its version, e.g.
	// "http://127.0.0.1:11434/v1" (Ollama) or "http://gpu-1:8000/v1" (vLLM).
	BaseURL string
	Model   string // model name the server knows, e.g. "qwen2.5vl:7b"
	APIKey  string // sent as a bearer token when set
	// MaxParallel bounds the requests in flight to this backend from this
	// process (default 2). A call waiting out a backoff holds no slot.
	MaxParallel int
	// Metrics receives each call's duration, outcome and tokens, labelled
	// with Name; nil: none.
	Metrics *metrics.Metrics
	// Timeout bounds one attempt (default 5 minutes): a VLM reading many
	// frames on a small GPU is slow, a hung server is not.
	Timeout time.Duration
	// MaxRetries is how many times a failed attempt is repeated (default 3,
	// so 4 attempts); negative means never.
	MaxRetries int
	// Name names the backend in errors and logs (default: Model).
	Name string
	// RetryBaseDelay is the first backoff (default 500 ms); it doubles per
	// attempt, with jitter, up to MaxRetryDelay (default 30 s), which also
	// caps a server's Retry-After.
	RetryBaseDelay time.Duration
	MaxRetryDelay  time.Duration
	// UseMaxCompletionTokens sends max_completion_tokens instead of
	// max_tokens (OpenAI's reasoning models reject max_tokens).
	UseMaxCompletionTokens bool
	// Logger receives a warning for every retried attempt; nil discards.
	Logger *slog.Logger
}

const (
	defaultMaxParallel = 2
	defaultTimeout     = 5 * time.Minute
	defaultMaxRetries  = 3
	defaultBaseDelay   = 500 * time.Millisecond
	defaultMaxDelay    = 30 * time.Second
	errorBodyLimit     = 64 << 10
)

// Client talks to one backend. It implements inference.Chatter and
// inference.Transcriber and is safe for concurrent use.
type Client struct {
	name, host, model   string
	maxCompletionTokens bool
	timeout             time.Duration
	maxRetries          int
	baseDelay, maxDelay time.Duration
	slots               chan struct{}
	chat                sdk.ChatCompletionService
	transcriptions      sdk.AudioTranscriptionService
	log                 *slog.Logger
	metrics             *metrics.Metrics
}

var (
	_ inference.Chatter     = (*Client)(nil)
	_ inference.Transcriber = (*Client)(nil)
)

// New checks cfg and returns a Client. It does not contact the backend.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai: base URL %q is not an http(s) URL such as http://127.0.0.1:8000/v1", cfg.BaseURL)
	}
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, errors.New("openai: model is required (the name the server knows the model by)")
	}
	c := &Client{
		name:                cfg.Name,
		host:                u.Host,
		model:               cfg.Model,
		maxCompletionTokens: cfg.UseMaxCompletionTokens,
		timeout:             cfg.Timeout,
		maxRetries:          cfg.MaxRetries,
		baseDelay:           cfg.RetryBaseDelay,
		maxDelay:            cfg.MaxRetryDelay,
		log:                 cfg.Logger,
		metrics:             cfg.Metrics,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.name == "" {
		c.name = cfg.Model
	}
	if c.timeout <= 0 {
		c.timeout = defaultTimeout
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = defaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.baseDelay <= 0 {
		c.baseDelay = defaultBaseDelay
	}
	if c.maxDelay <= 0 {
		c.maxDelay = defaultMaxDelay
	}
	parallel := cfg.MaxParallel
	if parallel <= 0 {
		parallel = defaultMaxParallel
	}
	c.slots = make(chan struct{}, parallel)

	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = parallel
	opts := []option.RequestOption{
		option.WithBaseURL(cfg.BaseURL),
		option.WithHTTPClient(&http.Client{Transport: transport}),
		option.WithMaxRetries(0),
	}
	if cfg.APIKey != "" {
		opts = append(opts, option.WithAPIKey(cfg.APIKey))
	}
	// The services are built directly, not through sdk.NewClient, which
	// would read OPENAI_API_KEY and friends from the environment.
	c.chat = sdk.NewChatCompletionService(opts...)
	c.transcriptions = sdk.NewAudioTranscriptionService(opts...)
	return c, nil
}

// Name is the backend's name as used in errors.
func (c *Client) Name() string { return c.name }

// Chat sends one chat completion request. An answer cut at MaxTokens is not
// an error: it comes back with FinishReason "length". With req.Stream set
// the answer is streamed (stream.go).
func (c *Client) Chat(ctx context.Context, req inference.ChatRequest) (*inference.ChatResponse, error) {
	params, err := chatParams(c.model, req, c.maxCompletionTokens)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var resp *inference.ChatResponse
	if req.Stream != nil {
		resp, err = c.chatStream(ctx, params, req.Stream)
	} else {
		resp, err = c.chatOnce(ctx, params)
	}
	if err != nil {
		c.metrics.ModelCall(c.name, err, time.Since(start), 0, 0)
		return nil, err
	}
	c.metrics.ModelCall(c.name, nil, time.Since(start), resp.InputTokens, resp.OutputTokens)
	return resp, nil
}

// chatOnce sends params and reads the whole answer.
func (c *Client) chatOnce(ctx context.Context, params sdk.ChatCompletionNewParams) (*inference.ChatResponse, error) {
	var out *sdk.ChatCompletion
	err := c.do(ctx, func(ctx context.Context, opt option.RequestOption) error {
		var err error
		out, err = c.chat.New(ctx, params, opt)
		return err
	})
	if err != nil {
		return nil, err
	}
	resp, err := chatResponse(out)
	if err != nil {
		return nil, c.permanent(http.StatusOK, fmt.Sprintf("returned an unusable answer: %v", err), nil)
	}
	return resp, nil
}

// Transcribe sends audio (read fully into memory: cut long recordings into
// chunks, hosted APIs take at most 25 MB) and returns its segments with
// offset added to every time. Segments without text are dropped.
func (c *Client) Transcribe(ctx context.Context, audio io.Reader, filename string, offset float64) (_ []inference.TranscriptSegment, err error) {
	data, err := io.ReadAll(audio)
	if err != nil {
		return nil, fmt.Errorf("openai: read audio: %w", err)
	}
	if filename == "" {
		filename = "audio.wav"
	}
	contentType := mime.TypeByExtension(filepath.Ext(filename))
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	var out *sdk.AudioTranscriptionNewResponseUnion
	start := time.Now()
	defer func() { c.metrics.ModelCall(c.name, err, time.Since(start), 0, 0) }()
	err = c.do(ctx, func(ctx context.Context, opt option.RequestOption) error {
		var err error
		out, err = c.transcriptions.New(ctx, sdk.AudioTranscriptionNewParams{
			File:                   sdk.File(bytes.NewReader(data), filename, contentType),
			Model:                  c.model,
			ResponseFormat:         sdk.AudioResponseFormatVerboseJSON,
			TimestampGranularities: []string{"segment"},
		}, opt)
		return err
	})
	if err != nil {
		return nil, err
	}
	return transcriptSegments(out, offset), nil
}

// attempt is what one HTTP exchange left behind, captured by a middleware
// so errors can be classified whatever the SDK made of the body.
type attempt struct {
	status int
	header http.Header
	body   []byte
}

func (a *attempt) capture(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	res, err := next(req)
	if err != nil || res == nil {
		return res, err
	}
	a.status, a.header = res.StatusCode, res.Header
	if res.StatusCode >= 400 {
		body, _ := io.ReadAll(io.LimitReader(res.Body, errorBodyLimit))
		_ = res.Body.Close()
		res.Body = io.NopCloser(bytes.NewReader(body))
		a.body = body
	}
	return res, nil
}

// do runs call under the concurrency bound, the per-attempt timeout and the
// retry policy.
func (c *Client) do(ctx context.Context, call func(context.Context, option.RequestOption) error) error {
	for n := 1; ; n++ {
		if err := c.acquire(ctx); err != nil {
			return c.cancelled(err)
		}
		var a attempt
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		err := call(actx, option.WithMiddleware(a.capture))
		timedOut := errors.Is(actx.Err(), context.DeadlineExceeded)
		cancel()
		<-c.slots
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return c.cancelled(ctx.Err())
		}
		var at *afterText
		if errors.As(err, &at) {
			return c.broken(at, timedOut)
		}
		be := c.classify(err, &a, timedOut)
		if !be.Temporary {
			return be
		}
		if n > c.maxRetries {
			return c.exhausted(be, n)
		}
		wait := c.backoff(n)
		if be.RetryAfter > 0 {
			wait = min(be.RetryAfter, c.maxDelay)
		}
		c.log.WarnContext(ctx, "model backend call failed, retrying",
			"backend", c.name, "host", c.host, "attempt", n, "wait", wait, "error", be.Message)
		if err := sleep(ctx, wait); err != nil {
			return c.cancelled(err)
		}
	}
}

func (c *Client) acquire(ctx context.Context) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff is the wait after attempt n (1-based): base·2^(n-1), capped, with
// jitter over its upper half.
func (c *Client) backoff(n int) time.Duration {
	d := c.baseDelay
	for i := 1; i < n && d < c.maxDelay; i++ {
		d *= 2
	}
	d = min(d, c.maxDelay)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cancelled reports that the caller gave up; it is not a backend failure.
func (c *Client) cancelled(err error) error {
	return fmt.Errorf("model backend %q (%s): call abandoned: %w", c.name, c.host, err)
}

// classify turns one failed attempt into a BackendError whose Temporary
// field decides whether it is retried.
func (c *Client) classify(err error, a *attempt, timedOut bool) *inference.BackendError {
	var fault *streamFault
	switch {
	case timedOut:
		return &inference.BackendError{Backend: c.name, Temporary: true, Err: err,
			Message: fmt.Sprintf("no answer within %s", c.timeout)}
	case a.status >= 400:
		return c.statusError(fmt.Sprintf("HTTP %d", a.status), a.status, a.header, a.body, nil)
	case errors.As(err, &fault):
		return c.statusError(fmt.Sprintf("error inside the HTTP 200 stream (code %d)", fault.status), fault.status, nil, fault.body, err)
	case a.status != 0 && !isTransportError(err):
		// The server answered 2xx but the SDK could not read the answer.
		return c.permanent(a.status, fmt.Sprintf("returned an unreadable answer: %v", err), err)
	case isCertificateError(err):
		return c.permanent(0, fmt.Sprintf("TLS failed: %v", transportCause(err)), err)
	case isTransportError(err):
		return &inference.BackendError{Backend: c.name, Temporary: true, Err: err, Message: transportCause(err).Error()}
	default:
		return c.permanent(0, fmt.Sprintf("could not send the request: %v", err), err)
	}
}

// statusError is the error of an error answer (status and body, the
// server's error object), retried when the status says it may pass; what
// names the answer ("HTTP 503") starts the message.
func (c *Client) statusError(what string, status int, header http.Header, body []byte, cause error) *inference.BackendError {
	msg := what
	text, typ, _ := errorInfo(body)
	if text != "" {
		msg += ": " + text
	}
	size := sizeOf(status, body, text, typ)
	be := &inference.BackendError{Backend: c.name, StatusCode: status, Message: msg,
		Temporary: retryableStatus(status) && !size.neverRetry429Tokens, Err: cause}
	if d, ok := retryAfter(header, time.Now()); ok {
		be.RetryAfter = d
	}
	if !be.Temporary {
		be = c.permanent(status, msg, cause)
		be.Overflow, be.PromptTokens, be.ContextTokens, be.ImageLimit = size.overflow, size.prompt, size.context, size.imageLimit
	}
	return be
}

// permanent builds the error for a failure that retrying will not cure, with
// a hint at what to fix.
func (c *Client) permanent(status int, detail string, cause error) *inference.BackendError {
	hint := ""
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		hint = "; check the API key configured for this backend"
	case http.StatusNotFound:
		hint = fmt.Sprintf("; check the base URL (it usually ends in /v1) and that the server serves model %q", c.model)
	case http.StatusRequestEntityTooLarge:
		hint = "; send fewer or smaller frames per request"
	}
	return &inference.BackendError{
		Backend:    c.name,
		StatusCode: status,
		Message:    fmt.Sprintf("model backend %q (%s) rejected the request: %s%s", c.name, c.host, detail, hint),
		Err:        cause,
	}
}

// exhausted wraps the last temporary failure once retries are used up.
func (c *Client) exhausted(last *inference.BackendError, attempts int) *inference.BackendError {
	e := *last
	plural := "s"
	if attempts == 1 {
		plural = ""
	}
	e.Message = fmt.Sprintf("model backend %q (%s) is unavailable after %d attempt%s: %s", c.name, c.host, attempts, plural, last.Message)
	return &e
}

// transportCause drops the *url.Error wrapper, whose text repeats the URL.
func transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// isTransportError tells a connection broken mid-answer from an answer
// that arrived whole but made no sense.
func isTransportError(err error) bool {
	var (
		ne net.Error
		ue *url.Error
	)
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF)
}

func isCertificateError(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
	)
	return errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify)
}
