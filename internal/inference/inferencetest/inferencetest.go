// Package inferencetest is the one test double of framewise's model port: an
// OpenAI-compatible HTTP server (httptest) that really looks at what it is
// sent, so tests and benchmarks of the VLM engine can check results against
// the synthetic videos they generate. It is used by tests and benchmarks
// only; no production code imports it.
//
// # What it sees
//
// POST /v1/chat/completions (also /chat/completions) decodes every image
// part (base64 data URL, JPEG or PNG) and names the dominant colour of each
// from a palette (Colours): the colour nearest in RGB to most pixels of a
// downsampled grid.
//
// Frame timestamps contract: each video frame is preceded, in the same
// message, by a text part whose last line is its absolute time in seconds,
// exactly as inference.FrameTimeText renders it: "t=12.500s". The forms
// "[12.5s]" and "12.5s" are accepted too. An image preceded by a text part
// whose last line is inference.ReferenceImageText(name), `reference image
// "name":`, is the reference picture of the entity the prompt calls <@name>.
// Any other image is an untimed frame. Frames are ordered by time.
//
// A colour run is a maximal sequence of consecutive timed frames with the
// same dominant colour. It starts at the time of its first frame and ends at
// the time of the first frame after it; the last run ends at the last frame
// time plus the median interval between frames (1 s when there is a single
// frame).
//
// # What it answers
//
// A plain prompt gets text describing the runs, e.g. "Seen colours: red from
// 0.0s to 5.0s; blue from 5.0s to 12.0s." followed, for each reference image
// or <@name> marker, by the spans where the reference's colour is seen.
//
// A response_format of type json_schema gets a JSON document that validates
// against the schema, filled from perception:
//
//   - Segment contract: an array whose items are objects with start_time
//     and end_time properties gets one item per run of the colour named in
//     the array's description (first palette word, "grey" and "violet"
//     accepted, or the colour of a <@name> reference it mentions; failing
//     that, the property name; failing that, every run). start_time and
//     end_time are the run's bounds (rounded to milliseconds); other item
//     fields are filled as below with the run as context. The VLM engine's
//     schema for time_based_metadata is an object whose properties are
//     segment definition ids, each such an array.
//   - Generic: string → a short summary of what was seen (the run's, inside
//     an item), or, for a property whose name contains "colo" (colour,
//     color, dominant_color), the colour name; enum → the value naming the
//     context or a seen colour, else the first; number and integer → the
//     number of runs (inside an item: the run's length in whole seconds;
//     start…/end… names: its bounds; a moment — a name ending in "time" or
//     "_at", containing "timestamp", or described as "absolute" — its
//     start), within minimum/maximum; boolean → true; array → one item per run (inside an
//     item: one, for that run), padded to minItems and cut to maxItems; object → every property; anyOf/oneOf →
//     the first non-null branch; allOf → the merged branches; $ref into
//     $defs/definitions resolved; null → null.
//
// A response_format of type json_object gets {"summary": the plain answer,
// "colours": the colours seen, most frames first}.
//
// POST /v1/audio/transcriptions (also /audio/transcriptions) takes a
// multipart upload of a 16-bit PCM WAV file, measures its RMS in 0.5 s
// steps and returns (for response_format verbose_json) one segment per span
// of consecutive windows above the threshold, with text "tone", or "tone 440
// Hz" when the file is 16 kHz and the window has a dominant frequency. Times
// are relative to the file.
//
// Usage reports prompt_tokens as text characters / 4 plus 85 per image, and
// completion_tokens as the words of the answer (a personality counts the
// prompt its own way, below).
//
// # Personalities
//
// WithPersonality makes the double behave like one real server rather than
// a friend (the behaviours are those of the project's notes on vLLM,
// SGLang, llama.cpp, Ollama and OpenAI). Without one (Name "") it is the
// friendly double described above, whatever the other fields say. VLLM,
// SGLang, LlamaCpp, Ollama and OpenAI return the personalities with the
// limits those servers have by default; Personalities lists them. Any other
// Name gets the fields' behaviours with OpenAI's rules and error bodies.
//
// Prompt tokens are counted as the server does: ceil(bytes/4) per text
// part, 4 per message, and per image what the vision encoder uses: for
// Qwen2.5-VL (every personality but openai) the sides rounded to multiples
// of 28 (at least 28), a token per 28×28, plus 2 (182 for 512×288); for
// openai 85 + 170 per 512-pixel tile (255 up to 512×512; 85 for detail
// "low"). Call.PromptTokens records the count. With ContextTokens N, prompt
// P and requested output M (max_tokens or max_completion_tokens; unset, the
// rest of the context, at least 1):
//
//   - vllm: P+M > N is a 400 "You passed P input tokens and requested M
//     output tokens…"; more than MaxImages images a 400 "At most N
//     image(s) may be provided in one prompt."; a json_schema without a
//     name a 400.
//   - sglang: P > N is a 400 "The input (P tokens) is longer than the
//     model's context length (N tokens).", P+M > N a 400 "Requested token
//     count exceeds…"; bodies are flat ({"object":"error",…}).
//   - llamacpp: P ≥ N is a 400 of type exceed_context_size_error with
//     n_prompt_tokens and n_ctx; max_tokens is never checked: an answer
//     longer than N−P is cut there with finish_reason "length".
//   - ollama: never an error. Each content part counts as a message of its
//     own, an image estimated at 768 tokens; the oldest parts are dropped
//     until the estimate fits N (system messages and the last part kept).
//     The double sees only what was kept (an image whose label was dropped
//     is untimed), reports the real count of the kept parts in usage, and
//     Call.DroppedParts the dropped ones. Answers longer than the room left
//     are cut with "length". Images that are not base64 data URLs are a
//     400 "image URLs are not currently supported…".
//   - openai: P+M > TPMLimit is the never-retryable 429 "Request too large
//     … (TPM)" (type tokens, no Retry-After); P+M > N a 400
//     context_length_exceeded.
//
// Call.Overflow marks a call that hit the context: refused, cut at the
// context, or parts dropped.
//
// Structured personalities answer a json_schema or json_object request
// with the bare document. Without Structured (openai) the document is
// indented in a ```json fence between "Here is the JSON for the frames you
// sent:" and "Let me know if you need anything else." (one answer in
// FenceEvery; Call.Fenced), and in some segment items the times are clock
// strings ("0:00:12.5", "00:12.5") or every number a numeric string
// ("12.5").
//
// Reasoning puts the sentence "I look at each frame in turn and compare
// colours." in content as "<think>…</think>" (ReasoningInline), in
// message.reasoning_content (ReasoningContent: sglang, llamacpp) or in
// message.reasoning (ReasoningField: ollama); the thinking spends
// max_tokens first. Call.Reasoning records it.
//
// Perception is imprecise unless Exact: every boundary of a run seen in
// frames (segment times, the spans of plain answers and of summaries) is
// moved by a pseudo-random offset in ±Jitter, rounded to a multiple of
// Rounding and kept ≥ 0, the offset a hash of the Seed, the exact time and
// the call's first frame time: reproducible, yet the same boundary may be
// seen differently by two calls. A run keeps at least one Rounding step;
// colours are seen as ever.
//
// Error bodies take the server's style (nested {"error":{message, type,
// param, code}}: vLLM with type BadRequestError… and the status as code,
// llama.cpp with its own types, Ollama with code null, OpenAI; flat for
// SGLang), for FailNext and SetDown too. FailNextTransient makes calls fail
// with the server's own 503 ("Loading model", "server busy, please try
// again.  maximum pending requests exceeded", …).
//
// A prober finds at the root of the host (URL without /v1): /v1/models
// with max_model_len (vllm, sglang), meta.n_ctx_train (llamacpp) and each
// server's owned_by; llama.cpp's GET /props (n_ctx, total_slots,
// modalities) and GET /health; Ollama's GET /api/version, POST /api/show
// (capabilities, model_info, parameters "num_ctx N" when N is not 4096),
// GET /api/ps (context_length) and GET /; vLLM's and SGLang's GET /health.
// A server without such an endpoint answers 404.
//
// # Streaming
//
// A chat request with "stream": true gets the same answer as
// without, as server-sent events ("data: {chunk}\n\n", Content-Type
// text/event-stream, flushed per event): a first chunk with the role, the
// reasoning (ReasoningContent, ReasoningField) then the content in
// fragments of 1 to 6 characters (cut anywhere, even mid-word or inside
// "<think>"), TokenDelay apart, then a chunk with the finish reason. Each
// personality ends the stream as its server does (BACKENDS.md §6):
//
//   - vllm, sglang, openai and the friendly double: with
//     stream_options.include_usage, a usage chunk whose choices are []; then
//     "data: [DONE]". sglang's choices carry matched_stop (the EOS token id
//     at a stop), openai's chunks an obfuscation string.
//   - llamacpp: ": keep-alive" comment lines before the first chunk and
//     every 8 fragments; the last chunk carries usage and timings besides
//     its choice; then "data: [DONE]".
//   - ollama: the last chunk has no finish_reason (unless the answer was cut:
//     "length"); a usage chunk with include_usage; no "[DONE]": the response
//     just ends.
//
// FailStreamNext sends an error inside the 200 stream after some fragments,
// in the server's own way: vllm, sglang and the friendly double
// `data: {"error":{…}}` then "data: [DONE]"; llamacpp, ollama and openai
// the error event and nothing more; llamacpp with LegacyStreamErrors the
// old non-standard line `error: {…}`. DropStreamNext cuts the connection
// after some fragments, with no end to the chunked body. Call.Streamed,
// Fragments, StreamFailed, Dropped and Canceled record what happened.
//
// # Faults and counters
//
// Latency, failing calls (429 with Retry-After, 500, 503), a backend that is
// down, malformed structured answers and truncated answers can be set when
// the server starts and changed while it runs. Stats and Calls report what
// the server received, including the frames each call covered, so tests can
// assert on parallelism and on resumed jobs not repeating windows.
package inferencetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// Kinds of call, as counted in Stats.ByKind and reported in Call.Kind.
const (
	KindChat          = "chat"          // chat completion without a schema
	KindStructured    = "structured"    // chat completion with response_format json_schema or json_object
	KindTranscription = "transcription" // audio transcription
)

// Server is a running double. Its methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu            sync.Mutex
	latency       time.Duration
	down          bool
	failNext      int
	failStatus    int
	retryAfter    string
	malformedNext int
	truncate      bool
	apiKey        string
	models        []string
	pers          Personality
	transientNext int
	tokenDelay    time.Duration
	failStream    streamFault
	dropStream    streamFault

	calls         []Call
	inFlight      int
	maxConcurrent int
	seq           int
}

// Call is what the server recorded about one request.
type Call struct {
	Kind   string
	Model  string
	Status int // HTTP status answered
	// Images counts every image of the request (frames and references);
	// Frames only the timed frames, which FirstFrame and LastFrame span.
	Images                int
	Frames                int
	FirstFrame, LastFrame float64
	MaxTokens             int // max_tokens or max_completion_tokens; 0 if unset
	Truncated             bool
	Malformed             bool
	// PromptTokens is what the server counted for the prompt, after any
	// dropping; DroppedParts the content parts Ollama silently dropped.
	PromptTokens int
	DroppedParts int
	// Overflow: the call hit the context (refused, answer cut at the
	// context, or parts dropped).
	Overflow bool
	// Fenced: a JSON answer came in a ```json fence with prose around;
	// Reasoning: the answer carried thinking (inline or in its own field).
	Fenced    bool
	Reasoning bool
	// Streamed: the call asked for stream: true and was answered as an
	// event stream (Status 200 even when it broke). Fragments counts the
	// events that carried text (reasoning or answer). StreamFailed: an
	// error was sent inside the stream (FailStreamNext); Dropped: the
	// connection was cut mid-stream (DropStreamNext); Canceled: the client
	// went away before the double had sent the end of the stream (seen
	// between fragments, so surely with a TokenDelay: without one the
	// double may have written the whole answer into the socket first).
	Streamed     bool
	Fragments    int
	StreamFailed bool
	Dropped      bool
	Canceled     bool
}

// Window is the time span of the frames of one answered call.
type Window struct{ First, Last float64 }

// Stats are the counters of a Server.
type Stats struct {
	Calls         int            // every request to a model endpoint, failed ones included
	Failed        int            // calls answered with an HTTP error
	ByKind        map[string]int // KindChat, KindStructured, KindTranscription
	Images        int            // images received
	MaxConcurrent int            // most calls in progress at once
}

// Option configures a Server at start.
type Option func(*Server)

// WithLatency delays every call by d.
func WithLatency(d time.Duration) Option { return func(s *Server) { s.latency = d } }

// WithDown makes every call fail with 503, as a backend that is down.
func WithDown() Option { return func(s *Server) { s.down = true } }

// WithTokenDelay makes a streamed answer wait d between two fragments (and
// an answer sent whole wait as long as its fragments would take), as
// a model producing tokens does.
func WithTokenDelay(d time.Duration) Option { return func(s *Server) { s.tokenDelay = d } }

// WithAPIKey makes the server answer 401 unless the bearer token is key.
func WithAPIKey(key string) Option { return func(s *Server) { s.apiKey = key } }

// WithModels makes the server answer 404 for any model not listed.
func WithModels(names ...string) Option { return func(s *Server) { s.models = names } }

// New starts a Server; it is closed when the test ends.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := &Server{retryAfter: "1"}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	for _, prefix := range []string{"/v1", ""} {
		mux.HandleFunc("POST "+prefix+"/chat/completions", s.handleChat)
		mux.HandleFunc("POST "+prefix+"/audio/transcriptions", s.handleTranscription)
		mux.HandleFunc("GET "+prefix+"/models", s.handleModels)
	}
	s.routeNative(mux)
	s.srv = httptest.NewServer(mux)
	tb.Cleanup(s.srv.Close)
	return s
}

// URL is the base URL to configure a client with, ending in /v1.
func (s *Server) URL() string { return s.srv.URL + "/v1" }

// Close stops the server; later calls fail to connect, as a backend that is
// gone. It is safe to call more than once.
func (s *Server) Close() { s.srv.Close() }

// SetLatency changes the delay added to every call.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetTokenDelay changes the wait between two fragments of a streamed answer.
func (s *Server) SetTokenDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenDelay = d
}

// SetDown makes every call fail with 503 (true) or serves again (false).
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// FailNext makes the next n calls, of any kind, fail with status (429, 500,
// 503, or any other error status). A 429 carries the Retry-After header set
// by SetRetryAfter, "1" by default.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failStatus = n, status
}

// SetRetryAfter changes the Retry-After header sent with injected 429s;
// empty sends none.
func (s *Server) SetRetryAfter(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryAfter = v
}

// MalformNext makes the next n structured calls answer a JSON document cut
// in half (finish_reason "stop", as a misbehaving server would).
func (s *Server) MalformNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.malformedNext = n
}

// SetTruncate forces every chat answer to be cut to half its words with
// finish_reason "length". Without it, an answer is cut only when it has more
// words than the call's max_tokens.
func (s *Server) SetTruncate(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncate = on
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Calls: len(s.calls), ByKind: map[string]int{}, MaxConcurrent: s.maxConcurrent}
	for _, c := range s.calls {
		st.ByKind[c.Kind]++
		st.Images += c.Images
		if c.Status >= 400 {
			st.Failed++
		}
	}
	return st
}

// Calls returns the record of every finished call, in order of completion.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Windows returns the frame span of every successfully answered call that
// carried timed frames, in order of completion.
func (s *Server) Windows() []Window {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ws []Window
	for _, c := range s.calls {
		if c.Status == http.StatusOK && c.Frames > 0 {
			ws = append(ws, Window{c.FirstFrame, c.LastFrame})
		}
	}
	return ws
}

// Reset clears the counters and the call log; faults stay as they are.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls, s.maxConcurrent = nil, s.inFlight
}

// begin counts a call in flight; the returned func counts it out.
func (s *Server) begin() func() {
	s.mu.Lock()
	s.inFlight++
	s.maxConcurrent = max(s.maxConcurrent, s.inFlight)
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

// injected is a fault decided for one call.
type injected struct {
	status       int
	retryAfter   string
	message      string
	unknownModel bool
}

// gate waits out the latency and decides whether the call fails: wrong key,
// unknown model, backend down, or an injected failure, in that order.
func (s *Server) gate(ctx context.Context, r *http.Request, model string) *injected {
	s.mu.Lock()
	latency := s.latency
	s.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.apiKey != "" && r.Header.Get("Authorization") != "Bearer "+s.apiKey:
		return &injected{status: http.StatusUnauthorized, message: "Incorrect API key provided."}
	case len(s.models) > 0 && !slices.Contains(s.models, model):
		return &injected{status: http.StatusNotFound, message: fmt.Sprintf("model %q not found", model), unknownModel: true}
	case s.down:
		return &injected{status: http.StatusServiceUnavailable, message: "the model backend is down (inferencetest)"}
	case s.failNext > 0:
		s.failNext--
		f := &injected{status: s.failStatus, message: fmt.Sprintf("injected failure (inferencetest): %s", http.StatusText(s.failStatus))}
		if s.failStatus == http.StatusTooManyRequests {
			f.retryAfter = s.retryAfter
		}
		return f
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers in OpenAI's error format.
func writeError(w http.ResponseWriter, status int, message string) {
	typ := "invalid_request_error"
	if status >= 500 {
		typ = "server_error"
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"message": message, "type": typ, "param": nil, "code": nil,
	}})
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
