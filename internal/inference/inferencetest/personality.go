package inferencetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// Personality makes the double behave like one real model server (see the
// package doc, "Personalities"). The zero value, Name "", is the friendly
// double: every other field is then ignored.
type Personality struct {
	Name          string  // "vllm", "sglang", "llamacpp", "ollama", "openai"; "" is the friendly double
	ContextTokens int     // context length enforced per request (vLLM --max-model-len, llama.cpp n_ctx of one slot, Ollama num_ctx, OpenAI 128000); 0 = none
	MaxImages     int     // images per request; 0 = no limit (vLLM --limit-mm-per-prompt)
	Structured    bool    // honours response_format json_schema by constrained decoding (pure JSON). false: answers JSON in ```json fences with prose around
	Reasoning     string  // "", ReasoningInline ("<think>…</think>" at the start of content), ReasoningContent (message.reasoning_content), ReasoningField (message.reasoning)
	Exact         bool    // perceive exactly (no imprecision), for tests that need exact answers
	Rounding      float64 // imprecise boundaries are rounded to multiples of this (1 or 0.5); 0 means 1
	Jitter        float64 // imprecise boundaries are off by up to ±Jitter seconds; 0 means 1 (use Exact for none)
	FenceEvery    int     // without Structured: 1 JSON answer in FenceEvery is fenced with prose around, the others bare JSON; 0 or 1 = every answer fenced
	TPMLimit      int     // openai: a request whose prompt+max_tokens exceeds it gets the never-retryable 429 "Request too large"; 0 = none
	Seed          uint64  // imprecision and fencing are deterministic for a seed
	// LegacyStreamErrors: llamacpp sends an error inside a stream as old
	// llama.cpp servers did, a non-standard `error: {…}` line instead of a
	// data event.
	LegacyStreamErrors bool
}

// Where a reasoning model's thinking goes (Personality.Reasoning).
const (
	ReasoningInline  = "inline"            // "<think>…</think>" at the start of content (no reasoning parser)
	ReasoningContent = "reasoning_content" // message.reasoning_content (vLLM ≤ 0.11, SGLang, llama.cpp)
	ReasoningField   = "reasoning"         // message.reasoning (Ollama 0.11+, vLLM after 2026-01)
)

// Names of the built-in personalities.
const (
	nameVLLM     = "vllm"
	nameSGLang   = "sglang"
	nameLlamaCpp = "llamacpp"
	nameOllama   = "ollama"
	nameOpenAI   = "openai"
)

// VLLM is vLLM ≥ 0.10.1 serving Qwen2.5-VL with --max-model-len 32768 and
// --limit-mm-per-prompt image=16: 400 on prompt+max_tokens over the context,
// constrained decoding, nested error bodies.
func VLLM() Personality {
	return Personality{Name: nameVLLM, ContextTokens: 32768, MaxImages: 16, Structured: true, Rounding: 1, Jitter: 1}
}

// SGLang is SGLang serving Qwen2.5-VL with a 32768 context: 400 on
// overflow, no image limit, flat error bodies, thinking in
// reasoning_content.
func SGLang() Personality {
	return Personality{Name: nameSGLang, ContextTokens: 32768, Structured: true, Reasoning: ReasoningContent, Rounding: 1, Jitter: 1}
}

// LlamaCpp is llama-server with --mmproj and one 32768-token slot: 400 when
// the prompt fills the context, max_tokens never checked (answers cut at the
// context with "length"), grammar-constrained JSON, thinking in
// reasoning_content.
func LlamaCpp() Personality {
	return Personality{Name: nameLlamaCpp, ContextTokens: 32768, Structured: true, Reasoning: ReasoningContent, Rounding: 1, Jitter: 1}
}

// Ollama is Ollama 0.12 behind /v1 with the default num_ctx 4096 (0.7 to
// 0.15.4): never an error on overflow, the oldest content parts silently
// dropped; thinking in message.reasoning.
func Ollama() Personality {
	return Personality{Name: nameOllama, ContextTokens: 4096, Structured: true, Reasoning: ReasoningField, Rounding: 1, Jitter: 1}
}

// OpenAI is a hosted model (gpt-4o limits: 128000 context, 200000 tokens
// per minute) without strict structured output: JSON comes in fences with
// prose around.
func OpenAI() Personality {
	return Personality{Name: nameOpenAI, ContextTokens: 128000, TPMLimit: 200000, Rounding: 1, Jitter: 1}
}

// Personalities returns VLLM, SGLang, LlamaCpp, Ollama and OpenAI, in that
// order.
func Personalities() []Personality {
	return []Personality{VLLM(), SGLang(), LlamaCpp(), Ollama(), OpenAI()}
}

// WithPersonality makes the server behave like a real one (see the package
// doc). Rounding and Jitter of 0 become 1.
func WithPersonality(p Personality) Option {
	return func(s *Server) {
		if p.Name == "" {
			p = Personality{}
		} else {
			if p.Rounding <= 0 {
				p.Rounding = 1
			}
			if p.Jitter <= 0 {
				p.Jitter = 1
			}
		}
		s.pers = p
	}
}

// Personality returns the personality the server was started with (the zero
// value for the friendly double), defaults filled in.
func (s *Server) Personality() Personality { return s.pers }

// FailNextTransient makes the next n chat calls fail with the personality's
// own transient error: 503 "Loading model" (llama.cpp), 503 "server busy,
// please try again.  maximum pending requests exceeded" (Ollama), 503 in
// vLLM's or SGLang's body style, 503 "The server is overloaded or not ready
// yet." (OpenAI). It is counted apart from FailNext; FailNext is checked
// first.
func (s *Server) FailNextTransient(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.transientNext = n
}

// friendly reports whether the server is the friendly double.
func (s *Server) friendly() bool { return s.pers.Name == "" }

// transient is the personality's own "try again" error.
func (s *Server) transient() apiError {
	e := apiError{status: http.StatusServiceUnavailable}
	switch s.pers.Name {
	case "":
		e.message = "the model backend is busy, please try again (inferencetest)"
	case nameLlamaCpp:
		e.message = "Loading model"
	case nameOllama:
		e.message = "server busy, please try again.  maximum pending requests exceeded"
	case nameSGLang:
		e.message = "The request queue is full. Please try again later."
	case nameVLLM:
		e.message = "Service Unavailable: the engine is not ready, please try again."
	default:
		e.message = "The server is overloaded or not ready yet."
	}
	return e
}

// apiError is an error answer, written in the personality's body style.
type apiError struct {
	status     int
	message    string
	typ        string // "" = the style's type for the status
	param      any
	code       any            // nil = the style's code (the status for vLLM, SGLang, llama.cpp; null otherwise)
	extra      map[string]any // further fields of the error object (llama.cpp n_prompt_tokens, n_ctx)
	retryAfter string
}

func errorf(status int, format string, args ...any) apiError {
	return apiError{status: status, message: fmt.Sprintf(format, args...)}
}

// writeError answers e in the body style of the personality: nested
// {"error":{message,type,param,code}} (OpenAI, vLLM ≥ 0.10.1, Ollama with
// code null, llama.cpp with its own types), flat {"object":"error",…}
// (SGLang). The friendly double answers as it always did.
func (s *Server) writeError(w http.ResponseWriter, e apiError) {
	if e.retryAfter != "" {
		w.Header().Set("Retry-After", e.retryAfter)
	}
	switch s.pers.Name {
	case "":
		writeError(w, e.status, e.message)
	case nameVLLM, nameSGLang:
		typ := e.typ
		if typ == "" {
			typ = strings.ReplaceAll(http.StatusText(e.status), " ", "")
			if !strings.HasSuffix(typ, "Error") {
				typ += "Error"
			}
		}
		code := e.code
		if code == nil {
			code = e.status
		}
		if s.pers.Name == nameSGLang {
			writeJSON(w, e.status, map[string]any{"object": "error", "message": e.message, "type": typ, "param": e.param, "code": code})
			return
		}
		writeJSON(w, e.status, map[string]any{"error": map[string]any{"message": e.message, "type": typ, "param": e.param, "code": code}})
	case nameLlamaCpp:
		typ := e.typ
		if typ == "" {
			switch e.status {
			case 400:
				typ = "invalid_request_error"
			case 401:
				typ = "authentication_error"
			case 403:
				typ = "permission_error"
			case 404:
				typ = "not_found_error"
			case 501:
				typ = "not_supported_error"
			case 503:
				typ = "unavailable_error"
			default:
				typ = "server_error"
			}
		}
		obj := map[string]any{"code": e.status, "message": e.message, "type": typ}
		for k, v := range e.extra {
			obj[k] = v
		}
		writeJSON(w, e.status, map[string]any{"error": obj})
	case nameOllama:
		typ := e.typ
		if typ == "" {
			switch e.status {
			case 400:
				typ = "invalid_request_error"
			case 404:
				typ = "not_found_error"
			default:
				typ = "api_error"
			}
		}
		writeJSON(w, e.status, map[string]any{"error": map[string]any{"message": e.message, "type": typ, "param": nil, "code": nil}})
	default: // openai and any custom name
		typ := e.typ
		if typ == "" {
			typ = "invalid_request_error"
			if e.status >= 500 {
				typ = "server_error"
			}
		}
		writeJSON(w, e.status, map[string]any{"error": map[string]any{"message": e.message, "type": typ, "param": e.param, "code": e.code}})
	}
}

// gateError dresses a gate failure in the personality's words.
func (s *Server) gateError(f *injected, model string) apiError {
	e := apiError{status: f.status, message: f.message, retryAfter: f.retryAfter}
	switch {
	case s.friendly():
	case f.status == http.StatusUnauthorized:
		switch s.pers.Name {
		case nameLlamaCpp:
			e.message = "Invalid API Key"
		case nameOpenAI:
			e.code = "invalid_api_key"
		}
	case f.status == http.StatusNotFound && f.unknownModel:
		switch s.pers.Name {
		case nameVLLM, nameSGLang:
			e.message = fmt.Sprintf("The model `%s` does not exist.", model)
		case nameOllama:
			e.message = fmt.Sprintf("model %q not found, try pulling it first", model)
		case nameOpenAI:
			e.message = fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", model)
			e.code = "model_not_found"
		}
	case f.status == http.StatusTooManyRequests && s.pers.Name == nameOpenAI:
		e.typ, e.code = "requests", "rate_limit_exceeded"
		e.message = "Rate limit reached for gpt-4o in organization org-framewise on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms."
	}
	return e
}

// tokens is how the personality's server counts a request.

// textTokens is a text part's cost: ceil(bytes / 4).
func textTokens(s string) int { return (len(s) + 3) / 4 }

// msgOverhead is the cost of each message (its role and chat-template
// markers).
const msgOverhead = 4

// ollamaImageEstimate is what Ollama's truncation assumes an image costs.
const ollamaImageEstimate = 768

// imageTokens is what the server's vision encoder uses for a w×h image:
// Qwen2.5-VL's smart resize (sides rounded to multiples of 28, at least 28;
// one token per 28×28, plus 2), or for OpenAI 85 + 170 per 512-pixel tile
// (85 alone for detail "low").
func (s *Server) imageTokens(w, h int, detail string) int {
	if s.pers.Name == nameOpenAI {
		return openAIImageTokens(w, h, detail)
	}
	return qwenImageTokens(w, h)
}

func qwenImageTokens(w, h int) int {
	side := func(v int) int { return max(1, int(math.Round(float64(v)/28))) }
	return side(w)*side(h) + 2
}

func openAIImageTokens(w, h int, detail string) int {
	if detail == "low" {
		return 85
	}
	fw, fh := float64(w), float64(h)
	if m := max(fw, fh); m > 2048 { // fit in 2048×2048
		fw, fh = fw*2048/m, fh*2048/m
	}
	if m := min(fw, fh); m > 768 { // shortest side 768
		fw, fh = fw*768/m, fh*768/m
	}
	tiles := int(math.Ceil(fw/512)) * int(math.Ceil(fh/512))
	return 85 + 170*max(1, tiles)
}

// Imprecision.

// mix is splitmix64's finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashOf combines a seed and values into one pseudo-random number.
func hashOf(seed uint64, vals ...uint64) uint64 {
	h := mix(seed + 0x9e3779b97f4a7c15)
	for _, v := range vals {
		h = mix(h ^ mix(v+0x9e3779b97f4a7c15))
	}
	return h
}

func bits(v float64) uint64 { return math.Float64bits(round3(v)) }

// unitOf maps a hash to [0, 1).
func unitOf(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// blur is where an imprecise model puts a boundary at exact time t, in a
// call whose first frame is at first: moved by up to ±Jitter, rounded to a
// multiple of Rounding, not below 0.
func (s *Server) blur(t, first float64) float64 {
	p := s.pers
	off := (2*unitOf(hashOf(p.Seed, 1, bits(t), bits(first))) - 1) * p.Jitter
	v := math.Round((t+off)/p.Rounding) * p.Rounding
	return round3(max(v, 0))
}

// imprecise reports whether the server blurs what it sees.
func (s *Server) imprecise() bool { return !s.friendly() && !s.pers.Exact }

// blurRuns moves the bounds of runs seen in frames (see blur). A run whose
// blurred end would not be a Rounding step after its start gets its exact
// bounds rounded instead (end at least one step after start), so no bound
// moves by more than Jitter + Rounding/2 when runs last a step or more.
func (s *Server) blurRuns(runs []run, first float64) {
	step := s.pers.Rounding
	for i := range runs {
		r := &runs[i]
		start, end := s.blur(r.start, first), s.blur(r.end, first)
		if end < start+step-1e-9 {
			start = round3(max(math.Round(r.start/step)*step, 0))
			end = round3(max(math.Round(r.end/step)*step, start+step))
		}
		r.start, r.end = start, end
	}
}

// Unconstrained JSON: clock strings, numeric strings, fences.

// Sentences around a fenced JSON answer.
const (
	fenceBefore = "Here is the JSON for the frames you sent:"
	fenceAfter  = "Let me know if you need anything else."
)

// loosen rewrites a JSON document as a model without constrained decoding
// would write it: in some segment items (objects with start_time and
// end_time), the times become clock strings ("0:00:12.5", "00:12.5") or
// every number a numeric string ("12.5"). The choice is deterministic for
// the seed, the call's first frame time and the item.
func (s *Server) loosen(doc string, first float64) string {
	var v any
	if json.Unmarshal([]byte(doc), &v) != nil {
		return doc
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, c := range x {
				walk(c)
			}
		case []any:
			for i, c := range x {
				item, ok := c.(map[string]any)
				st, ok1 := item["start_time"].(float64)
				en, ok2 := item["end_time"].(float64)
				if !ok || !ok1 || !ok2 {
					walk(c)
					continue
				}
				switch hashOf(s.pers.Seed, 2, bits(st), bits(en), bits(first), uint64(i)) % 6 {
				case 3:
					for k, f := range item {
						if f, ok := f.(float64); ok {
							item[k] = strconv.FormatFloat(f, 'f', -1, 64)
						}
					}
				case 4:
					item["start_time"], item["end_time"] = clock(st, true), clock(en, true)
				case 5:
					item["start_time"], item["end_time"] = clock(st, false), clock(en, false)
				}
				walk(c)
			}
		}
	}
	walk(v)
	b, err := json.Marshal(v)
	if err != nil {
		return doc
	}
	return string(b)
}

// clock renders seconds as "H:MM:SS[.fff]" (hours) or "MM:SS[.fff]" (an
// hour or more always with hours).
func clock(t float64, hours bool) string {
	t = round3(t)
	h := int(t / 3600)
	m := int(t/60) % 60
	sec := round3(t - float64(h*3600+m*60))
	ss := strconv.FormatFloat(sec, 'f', -1, 64)
	if sec < 10 {
		ss = "0" + ss
	}
	if hours || h > 0 {
		return fmt.Sprintf("%d:%02d:%s", h, m, ss)
	}
	return fmt.Sprintf("%02d:%s", m, ss)
}

// fenceThis decides whether an unconstrained JSON answer comes fenced: 1 in
// FenceEvery, by a hash of the seed and the request.
func (s *Server) fenceThis(body []byte) bool {
	if s.pers.FenceEvery <= 1 {
		return true
	}
	h := hashOf(s.pers.Seed, 3)
	for i := 0; i < len(body); i += 8 {
		var x uint64
		for j := i; j < min(i+8, len(body)); j++ {
			x = x<<8 | uint64(body[j])
		}
		h = mix(h ^ x)
	}
	return h%uint64(s.pers.FenceEvery) == 0
}

// fence wraps a JSON document in a ```json fence, indented, with prose
// before and after.
func fence(doc string) string {
	var b strings.Builder
	b.WriteString(fenceBefore + "\n\n```json\n")
	var ind bytes.Buffer
	if err := json.Indent(&ind, []byte(doc), "", "  "); err == nil {
		b.WriteString(ind.String())
	} else {
		b.WriteString(doc)
	}
	b.WriteString("\n```\n\n" + fenceAfter)
	return b.String()
}

// Reasoning.

// thinking is what a reasoning personality thinks.
const thinking = "I look at each frame in turn and compare colours."

// thinkInline is the thinking as a model writes it in content when the
// server has no reasoning parser.
const thinkInline = "<think>\n" + thinking + "\n</think>\n\n"
