package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/framewise/framewise/internal/inference"
)

// This file probes a model server before it is used: what it is, what it
// enforces, and whether a profile's settings can work with it. It speaks
// plain net/http, not the SDK, so that it sees every field of every answer
// (max_model_len, owned_by, reasoning_content, …) and the native endpoints
// of llama.cpp and Ollama. No call is retried: a probe reports what it saw.

// Levels of a Finding.
type Level string

const (
	LevelOK    Level = "ok"
	LevelWarn  Level = "warn"
	LevelError Level = "error"
)

// Verdicts of a Report, from its worst finding.
const (
	VerdictReady    = "ready"
	VerdictWarnings = "works with warnings"
	VerdictBroken   = "will not work"
)

// What the probe calls found (Report.Images, ManyImages, Structured).
const (
	OutcomeAccepted  = "accepted"
	OutcomeRefused   = "refused"
	OutcomeFailed    = "failed"    // the call failed for another reason (timeout, 5xx)
	OutcomeHonoured  = "honoured"  // bare JSON valid for the schema
	OutcomeFenced    = "fenced"    // valid JSON found only inside ``` fences or prose
	OutcomeInvalid   = "invalid"   // no JSON following the schema in the answer
	OutcomeUndecided = "undecided" // the answer was cut before any JSON
	OutcomeNotTried  = "not tried" // the probe did not get that far
)

// Where a reasoning model's thinking came back (Report.Reasoning).
const (
	ReasoningNone    = "none"              // no reasoning text seen
	ReasoningInline  = "inline"            // <think>…</think> inside content
	ReasoningContent = "reasoning_content" // message.reasoning_content
	ReasoningField   = "reasoning"         // message.reasoning
)

// Budget of one call beyond its frames, as the check of the context counts
// it: the instructions (system prompt, segment definitions, time labels) and
// the answer.
const (
	InstructionTokens = 1500
	AnswerTokens      = 4096
	// OllamaImageTokens is what Ollama counts for any image when it decides
	// which parts of a prompt to drop.
	OllamaImageTokens = 768
	// minFrames is the fewest frames of a call (a model needs two to see a
	// change) and minAnswerTokens the least answer the engine lets a call
	// have: below both the engine refuses to analyse.
	minFrames       = 2
	minAnswerTokens = 512
)

// ProbeOptions is what a profile wants from the server.
type ProbeOptions struct {
	// FramesPerCall and FrameWidth are the profile's settings; 0 takes the
	// engine's defaults (16 and 512).
	FramesPerCall int `json:"frames_per_call"`
	FrameWidth    int `json:"frame_width"`
	// ContextTokens is the profile's context_tokens; 0 means not set. When
	// set it overrides what the server reports.
	ContextTokens int `json:"context_tokens,omitempty"`
	// FrameTokens is the engine's estimate of one frame's input tokens at
	// FrameWidth (vlm.FrameTokens); 0 takes 271, the estimate at 512 pixels.
	FrameTokens int `json:"frame_tokens"`
	// Timeout bounds each request of the probe (default 20 s). A model
	// server loading its model on the first call may need more.
	Timeout time.Duration `json:"-"`
}

func (o ProbeOptions) withDefaults() ProbeOptions {
	if o.FramesPerCall <= 0 {
		o.FramesPerCall = 16
	}
	if o.FrameWidth <= 0 {
		o.FrameWidth = 512
	}
	if o.FrameTokens <= 0 {
		o.FrameTokens = 271
	}
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Second
	}
	return o
}

// Check is one row of a report's table: what was checked and its result.
type Check struct {
	Check  string `json:"check"`
	Result string `json:"result"`
}

// Finding is one verdict of a probe, with what to do about it.
type Finding struct {
	Level   Level  `json:"level"`
	Check   string `json:"check"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// Log writes each finding at its level (with its fix), then the verdict,
// with the model names the profile serves.
func (r *Report) Log(ctx context.Context, log *slog.Logger, modelNames string) {
	worst := slog.LevelInfo
	for _, f := range r.Findings {
		level := slog.LevelInfo
		switch f.Level {
		case LevelWarn:
			level = slog.LevelWarn
		case LevelError:
			level = slog.LevelError
		}
		worst = max(worst, level)
		args := []any{"model_name", modelNames, "backend", r.Name, "check", f.Check}
		if f.Fix != "" {
			args = append(args, "fix", f.Fix)
		}
		log.Log(ctx, level, "model check: "+f.Message, args...)
	}
	log.Log(ctx, worst, "model check: "+r.Verdict(), "model_name", modelNames, "backend", r.Name,
		"server", ServerTitle(r.Limits.Server), "context_tokens", r.Limits.ContextTokens,
		"hint", "run `framewise models check` for the details")
}

// Report is what a probe found out about one backend.
type Report struct {
	Name    string       `json:"name"`
	BaseURL string       `json:"base_url"`
	Model   string       `json:"model"`
	Options ProbeOptions `json:"options"`

	// Reachable: GET {base}/models answered, with a status below 500 (a
	// server still loading its model is not reachable yet: probe it again
	// later). Stopped says why the probe stopped before the chat calls
	// (unreachable, not ready, key refused, no API at the base URL).
	Reachable bool   `json:"reachable"`
	Stopped   string `json:"stopped,omitempty"`
	stopFix   string
	// Server is the kind of server (inference.ServerVLLM, …), "" unknown;
	// ServerEvidence says how it was recognised.
	Server         string   `json:"server"`
	ServerEvidence string   `json:"server_evidence,omitempty"`
	ServerVersion  string   `json:"server_version,omitempty"`
	Served         []string `json:"served_models"`
	Listed         bool     `json:"model_listed"`

	// ServerContext is the context the server enforces per request, 0 when
	// unknown; ContextConfirmed is false for an assumed default.
	ServerContext       int    `json:"server_context_tokens,omitempty"`
	ServerContextSource string `json:"server_context_source,omitempty"`
	ContextConfirmed    bool   `json:"context_confirmed"`
	// TrainedContext is the model's trained maximum (Ollama model_info),
	// reported but not what the server enforces.
	TrainedContext int `json:"trained_context_tokens,omitempty"`
	// Slots is llama.cpp's number of parallel slots (total_slots).
	Slots int `json:"slots,omitempty"`

	Images           string `json:"images"`
	ImagesDetail     string `json:"images_detail,omitempty"`
	ImagesStatus     int    `json:"images_status,omitempty"`
	ManyImages       string `json:"many_images"`
	ManyImagesDetail string `json:"many_images_detail,omitempty"`
	Structured       string `json:"json_schema"`
	StructuredDetail string `json:"json_schema_detail,omitempty"`
	Reasoning        string `json:"reasoning"`
	// Latency is the wall time of the small call with two frames.
	Latency time.Duration `json:"-"`

	// Limits are what the engine must respect, the profile's context_tokens
	// overriding the server's.
	Limits   inference.Limits `json:"-"`
	Checks   []Check          `json:"checks"`
	Findings []Finding        `json:"findings"`
}

// MarshalJSON writes the report with its latency in milliseconds, its
// limits in snake case and its verdict.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	type limits struct {
		Server        string `json:"server"`
		ContextTokens int    `json:"context_tokens"`
		ContextSource string `json:"context_source"`
		ImageTokens   int    `json:"image_tokens"`
		MaxImages     int    `json:"max_images"`
		DropsOldest   bool   `json:"drops_oldest"`
	}
	l := r.Limits
	return json.Marshal(struct {
		*plain
		LatencyMS float64 `json:"latency_ms"`
		Limits    limits  `json:"limits"`
		Verdict   string  `json:"verdict"`
	}{(*plain)(r), float64(r.Latency.Microseconds()) / 1000,
		limits{l.Server, l.ContextTokens, l.ContextSource, l.ImageTokens, l.MaxImages, l.DropsOldest}, r.Verdict()})
}

// Worst is the level of the worst finding.
func (r *Report) Worst() Level {
	worst := LevelOK
	for _, f := range r.Findings {
		switch {
		case f.Level == LevelError:
			return LevelError
		case f.Level == LevelWarn:
			worst = LevelWarn
		}
	}
	return worst
}

// Verdict sums the report up: VerdictReady, VerdictWarnings or
// VerdictBroken.
func (r *Report) Verdict() string {
	switch r.Worst() {
	case LevelError:
		return VerdictBroken
	case LevelWarn:
		return VerdictWarnings
	}
	return VerdictReady
}

// Prober probes one backend, configured like the Client of the same
// profile. It keeps its own HTTP client: probe calls are not retried and
// do not take the Client's slots.
type Prober struct {
	name, base, root, host, model, apiKey string
	maxCompletionTokens                   bool
	http                                  *http.Client
}

// NewProber checks cfg as New does and returns a Prober for its backend.
// It does not contact the backend.
func NewProber(cfg Config) (*Prober, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai: base URL %q is not an http(s) URL such as http://127.0.0.1:8000/v1", cfg.BaseURL)
	}
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, errors.New("openai: model is required (the name the server knows the model by)")
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	p := &Prober{
		name: cfg.Name, base: base, root: strings.TrimSuffix(base, "/v1"), host: u.Host,
		model: cfg.Model, apiKey: cfg.APIKey, maxCompletionTokens: cfg.UseMaxCompletionTokens,
		http: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
	}
	if p.name == "" {
		p.name = cfg.Model
	}
	return p, nil
}

// Name is the backend's name.
func (p *Prober) Name() string { return p.name }

// Probe finds out what the server is and whether opts can work with it. It
// never fails: whatever went wrong is a finding of the report. Each request
// is bounded by opts.Timeout; ctx bounds the whole probe.
func (p *Prober) Probe(ctx context.Context, opts ProbeOptions) *Report {
	opts = opts.withDefaults()
	r := &Report{Name: p.name, BaseURL: p.base, Model: p.model, Options: opts,
		Images: OutcomeNotTried, ManyImages: OutcomeNotTried, Structured: OutcomeNotTried, Reasoning: OutcomeNotTried, Served: []string{}}
	p.probe(ctx, r, opts)
	r.judge()
	return r
}

func (p *Prober) probe(ctx context.Context, r *Report, opts ProbeOptions) {
	// Reachable, and what /models says.
	x := p.call(ctx, opts.Timeout, http.MethodGet, p.base+"/models", nil)
	if !p.reached(r, x) {
		return
	}
	entries := p.readModels(r, x.body)

	// What kind of server: /models first, then the native endpoints.
	p.identify(r, entries)
	var props *llamaProps
	if r.Server == "" || r.Server == inference.ServerLlamaCpp {
		if props = p.llamaProps(ctx, opts.Timeout); props != nil {
			r.Server = inference.ServerLlamaCpp
			if r.ServerEvidence == "" {
				r.ServerEvidence = "GET /props answers"
			}
		}
	}
	if r.Server == "" || r.Server == inference.ServerOllama {
		if v, ok := p.ollamaVersion(ctx, opts.Timeout); ok {
			r.Server, r.ServerVersion = inference.ServerOllama, v
			if r.ServerEvidence == "" {
				r.ServerEvidence = "GET /api/version answers"
			}
		}
	}
	if props != nil {
		r.ServerVersion = props.BuildInfo
		r.Slots = props.TotalSlots
		if n := props.Settings.NCtx; n > 0 {
			r.ServerContext, r.ContextConfirmed = n, true
			r.ServerContextSource = "n_ctx of one slot, GET /props"
		} else if props.NCtx > 0 {
			r.ServerContext, r.ContextConfirmed = props.NCtx, true
			r.ServerContextSource = "n_ctx, GET /props"
		}
	}
	if r.Server == inference.ServerVLLM || r.Server == inference.ServerSGLang {
		if e := p.entry(entries); e != nil && e.MaxModelLen > 0 {
			r.ServerContext, r.ContextConfirmed = e.MaxModelLen, true
			r.ServerContextSource = "max_model_len of /v1/models"
		}
	}

	// The chat calls: they also make Ollama load the model, so that /api/ps
	// can tell its context afterwards.
	p.probeImages(ctx, r, opts)
	p.probeStructured(ctx, r, opts)
	if r.Reasoning == OutcomeNotTried && (r.Images == OutcomeAccepted || r.Structured != OutcomeNotTried && r.Structured != OutcomeRefused && r.Structured != OutcomeFailed) {
		r.Reasoning = ReasoningNone
	}
	if r.Server == inference.ServerOllama {
		p.ollamaContext(ctx, r, opts.Timeout)
	}
}

const fixNotReady = "wait until the server has loaded its model (llama.cpp answers 503 while loading), then run `framewise models check` again"

// reached reads the answer of GET /models; false stops the probe.
func (p *Prober) reached(r *Report, x exchange) bool {
	switch {
	case x.err != nil:
		r.Stopped = fmt.Sprintf("cannot reach %s/models: %s", p.base, x.errText())
		r.stopFix = "check base_url (it usually ends in /v1, e.g. http://127.0.0.1:8000/v1) and that the model server is started and listening there"
		return false
	case x.status == http.StatusUnauthorized || x.status == http.StatusForbidden:
		r.Reachable = true
		r.Stopped = fmt.Sprintf("the server refused the API key: GET %s/models answered %s", p.base, x.statusText())
		r.stopFix = "set the profile's api_key (--vlm-api-key, FRAMEWISE_VLM_API_KEY) to a key this server accepts"
		if p.apiKey == "" {
			r.stopFix = "this server wants an API key: set the profile's api_key (--vlm-api-key, FRAMEWISE_VLM_API_KEY)"
		}
		return false
	case x.status == http.StatusNotFound:
		r.Reachable = true
		r.Stopped = fmt.Sprintf("GET %s/models answered 404: this is not the API root of an OpenAI-compatible server", p.base)
		r.stopFix = "check base_url: it is the API root including its version, usually ending in /v1 (Ollama http://HOST:11434/v1, vLLM http://HOST:8000/v1, llama.cpp http://HOST:8080/v1)"
		return false
	case x.status >= 500:
		r.Stopped = fmt.Sprintf("the server is not ready: GET %s/models answered %s", p.base, x.statusText())
		r.stopFix = fixNotReady
		return false
	case x.status >= 300:
		r.Reachable = true
		r.Stopped = fmt.Sprintf("GET %s/models answered %s", p.base, x.statusText())
		r.stopFix = "check base_url"
		return false
	}
	r.Reachable = true
	return true
}

type modelEntry struct {
	ID          string `json:"id"`
	OwnedBy     string `json:"owned_by"`
	MaxModelLen int    `json:"max_model_len"`
}

func (p *Prober) readModels(r *Report, body []byte) []modelEntry {
	var list struct {
		Data   []modelEntry `json:"data"`
		Models []modelEntry `json:"models"` // a few servers use this key
	}
	_ = json.Unmarshal(body, &list)
	entries := append(list.Data, list.Models...)
	for _, e := range entries {
		r.Served = append(r.Served, e.ID)
	}
	r.Listed = p.entry(entries) != nil
	return entries
}

// entry is the /models entry of the profile's model; the only entry when
// the server serves one model under another name.
func (p *Prober) entry(entries []modelEntry) *modelEntry {
	for i, e := range entries {
		if sameModel(e.ID, p.model) {
			return &entries[i]
		}
	}
	return nil
}

// sameModel compares model names the way Ollama resolves them: a name
// without a tag means :latest.
func sameModel(a, b string) bool {
	tag := func(s string) string {
		if i := strings.LastIndexByte(s, '/'); !strings.Contains(s[i+1:], ":") {
			return s + ":latest"
		}
		return s
	}
	return a == b || tag(a) == tag(b)
}

func (p *Prober) identify(r *Report, entries []modelEntry) {
	host := strings.ToLower(p.host)
	if host == "api.openai.com" || strings.HasSuffix(host, ".openai.azure.com") {
		r.Server, r.ServerEvidence = inference.ServerOpenAI, "host "+p.host
		return
	}
	owners := map[string]bool{}
	maxLen := false
	for _, e := range entries {
		owners[strings.ToLower(e.OwnedBy)] = true
		maxLen = maxLen || e.MaxModelLen > 0
	}
	switch {
	case owners["vllm"]:
		r.Server, r.ServerEvidence = inference.ServerVLLM, `owned_by "vllm" in /v1/models`
	case owners["sglang"]:
		r.Server, r.ServerEvidence = inference.ServerSGLang, `owned_by "sglang" in /v1/models`
	case owners["llamacpp"]:
		r.Server, r.ServerEvidence = inference.ServerLlamaCpp, `owned_by "llamacpp" in /v1/models`
	case owners["system"] || owners["openai"] || owners["openai-internal"]:
		r.Server, r.ServerEvidence = inference.ServerOpenAI, `owned_by "system" in /v1/models`
	case maxLen:
		r.Server, r.ServerEvidence = inference.ServerVLLM, "max_model_len in /v1/models"
	}
}

type llamaProps struct {
	Settings struct {
		NCtx int `json:"n_ctx"`
	} `json:"default_generation_settings"`
	NCtx       int    `json:"n_ctx"`
	TotalSlots int    `json:"total_slots"`
	BuildInfo  string `json:"build_info"`
}

func (p *Prober) llamaProps(ctx context.Context, timeout time.Duration) *llamaProps {
	x := p.call(ctx, timeout, http.MethodGet, p.root+"/props", nil)
	if x.err != nil || x.status != http.StatusOK {
		return nil
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(x.body, &raw) != nil || raw["default_generation_settings"] == nil {
		return nil
	}
	var props llamaProps
	_ = json.Unmarshal(x.body, &props)
	return &props
}

func (p *Prober) ollamaVersion(ctx context.Context, timeout time.Duration) (string, bool) {
	x := p.call(ctx, timeout, http.MethodGet, p.root+"/api/version", nil)
	if x.err != nil || x.status != http.StatusOK {
		return "", false
	}
	var v struct {
		Version *string `json:"version"`
	}
	if json.Unmarshal(x.body, &v) != nil || v.Version == nil {
		return "", false
	}
	return *v.Version, true
}

// ollamaContext finds the num_ctx Ollama applies to the model: that of the
// loaded model (/api/ps), else the Modelfile's (/api/show), else the
// default of its version, which OLLAMA_CONTEXT_LENGTH may have changed.
func (p *Prober) ollamaContext(ctx context.Context, r *Report, timeout time.Duration) {
	show := p.call(ctx, timeout, http.MethodPost, p.root+"/api/show", map[string]string{"model": p.model})
	numCtx := 0
	if show.err == nil && show.status == http.StatusOK {
		var s struct {
			Parameters string                     `json:"parameters"`
			ModelInfo  map[string]json.RawMessage `json:"model_info"`
		}
		_ = json.Unmarshal(show.body, &s)
		for _, line := range strings.Split(s.Parameters, "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "num_ctx" {
				numCtx, _ = strconv.Atoi(f[1])
			}
		}
		for k, v := range s.ModelInfo {
			if strings.HasSuffix(k, ".context_length") {
				_ = json.Unmarshal(v, &r.TrainedContext)
			}
		}
	}
	ps := p.call(ctx, timeout, http.MethodGet, p.root+"/api/ps", nil)
	if ps.err == nil && ps.status == http.StatusOK {
		var list struct {
			Models []struct {
				Name          string `json:"name"`
				Model         string `json:"model"`
				ContextLength int    `json:"context_length"`
			} `json:"models"`
		}
		_ = json.Unmarshal(ps.body, &list)
		for _, m := range list.Models {
			if (sameModel(m.Name, p.model) || sameModel(m.Model, p.model)) && m.ContextLength > 0 {
				r.ServerContext, r.ContextConfirmed = m.ContextLength, true
				r.ServerContextSource = "context_length of the loaded model, GET /api/ps"
				return
			}
		}
	}
	if numCtx > 0 {
		r.ServerContext, r.ContextConfirmed = numCtx, true
		r.ServerContextSource = "num_ctx of the model's parameters, POST /api/show"
		return
	}
	r.ServerContext, r.ContextConfirmed = ollamaDefaultContext(r.ServerVersion), false
	r.ServerContextSource = "default num_ctx, not confirmed"
}

// ollamaDefaultContext is Ollama's default num_ctx: 2048 up to 0.6, 4096
// since (0.15.5 and later size it by VRAM, 4096 at the least).
func ollamaDefaultContext(version string) int {
	var major, minor int
	if _, err := fmt.Sscanf(version, "%d.%d", &major, &minor); err == nil && major == 0 && minor < 7 {
		return 2048
	}
	return 4096
}

// The chat calls.

var imageLimit = regexp.MustCompile(`(?i)at most (\d+) image`)

func (p *Prober) probeImages(ctx context.Context, r *Report, opts ProbeOptions) {
	start := time.Now()
	x := p.chat(ctx, opts.Timeout, framesMessage(2), 16, nil)
	r.Latency = time.Since(start)
	switch {
	case x.err != nil:
		r.Images, r.ImagesDetail = OutcomeFailed, x.errText()
		return
	case x.status >= 200 && x.status < 300:
		r.Images = OutcomeAccepted
		p.noteReasoning(r, x.body)
	case imageLimit.MatchString(x.message()):
		// Images are taken, but not even two (vLLM's V0 engine takes one).
		r.Images = OutcomeAccepted
		r.ManyImages, r.ManyImagesDetail = OutcomeRefused, x.statusText()
		r.Limits.MaxImages, _ = strconv.Atoi(imageLimit.FindStringSubmatch(x.message())[1])
		return
	default:
		r.Images, r.ImagesDetail, r.ImagesStatus = OutcomeRefused, x.statusText(), x.status
		// A server error, or a refusal of something else than the images
		// (OpenAI's reasoning models refuse max_tokens), says nothing about
		// images.
		if !mentionsImages(x.message()) && (x.status >= 500 || strings.Contains(x.message(), "max_tokens")) {
			r.Images = OutcomeFailed
		}
		return
	}
	if opts.FramesPerCall <= 2 {
		r.ManyImages = OutcomeAccepted
		return
	}
	y := p.chat(ctx, opts.Timeout, framesMessage(opts.FramesPerCall), 16, nil)
	switch {
	case y.err != nil:
		r.ManyImages, r.ManyImagesDetail = OutcomeFailed, y.errText()
	case y.status >= 200 && y.status < 300:
		r.ManyImages = OutcomeAccepted
	default:
		r.ManyImages, r.ManyImagesDetail = OutcomeRefused, y.statusText()
		if m := imageLimit.FindStringSubmatch(y.message()); m != nil {
			r.Limits.MaxImages, _ = strconv.Atoi(m[1])
		}
	}
}

func mentionsImages(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "image") || strings.Contains(s, "multimodal") || strings.Contains(s, "vision") || strings.Contains(s, "mmproj")
}

// probeSchema is the small schema of the structured call.
var probeSchema = json.RawMessage(`{"type":"object","properties":{"colour":{"type":"string","enum":["red","green","blue"]},"wheels":{"type":"integer"}},"required":["colour","wheels"],"additionalProperties":false}`)

func (p *Prober) probeStructured(ctx context.Context, r *Report, opts ProbeOptions) {
	msg := map[string]any{"role": "user", "content": "Answer in JSON: the colour of a ripe tomato (red, green or blue), and how many wheels a bicycle has."}
	rf := map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "probe", "schema": probeSchema, "strict": false}}
	x := p.chat(ctx, opts.Timeout, msg, 64, rf)
	switch {
	case x.err != nil:
		r.Structured, r.StructuredDetail = OutcomeFailed, x.errText()
		return
	case x.status >= 400 && x.status < 500:
		r.Structured, r.StructuredDetail = OutcomeRefused, x.statusText()
		return
	case x.status >= 300:
		r.Structured, r.StructuredDetail = OutcomeFailed, x.statusText()
		return
	}
	p.noteReasoning(r, x.body)
	content, finish := answer(x.body)
	text := inference.StripReasoning(content)
	extracted, _ := inference.ExtractJSON(text)
	switch {
	case validProbeJSON(text):
		r.Structured = OutcomeHonoured
	case validProbeJSON(extracted):
		r.Structured, r.StructuredDetail = OutcomeFenced, clipProbe(text)
	case text == "" && finish == inference.FinishLength:
		r.Structured, r.StructuredDetail = OutcomeUndecided, "the answer was cut at 64 tokens before any JSON (a reasoning model still thinking)"
	default:
		r.Structured, r.StructuredDetail = OutcomeInvalid, clipProbe(text)
	}
}

type chatMessage struct {
	Content          *string `json:"content"`
	ReasoningContent *string `json:"reasoning_content"`
	Reasoning        *string `json:"reasoning"`
}

func firstMessage(body []byte) (chatMessage, string) {
	var resp struct {
		Choices []struct {
			Message      chatMessage `json:"message"`
			FinishReason string      `json:"finish_reason"`
		} `json:"choices"`
	}
	if json.Unmarshal(body, &resp) != nil || len(resp.Choices) == 0 {
		return chatMessage{}, ""
	}
	return resp.Choices[0].Message, resp.Choices[0].FinishReason
}

func answer(body []byte) (string, string) {
	m, finish := firstMessage(body)
	if m.Content == nil {
		return "", finish
	}
	return *m.Content, finish
}

// noteReasoning records where reasoning text came back, the first time
// any is seen.
func (p *Prober) noteReasoning(r *Report, body []byte) {
	if r.Reasoning != OutcomeNotTried && r.Reasoning != ReasoningNone {
		return
	}
	m, _ := firstMessage(body)
	switch {
	case m.ReasoningContent != nil && strings.TrimSpace(*m.ReasoningContent) != "":
		r.Reasoning = ReasoningContent
	case m.Reasoning != nil && strings.TrimSpace(*m.Reasoning) != "":
		r.Reasoning = ReasoningField
	case m.Content != nil && (strings.HasPrefix(strings.TrimSpace(*m.Content), "<think>") || strings.Contains(*m.Content, "</think>")):
		r.Reasoning = ReasoningInline
	}
}

// validProbeJSON checks s against probeSchema.
func validProbeJSON(s string) bool {
	var v map[string]any
	if s == "" || json.Unmarshal([]byte(s), &v) != nil || len(v) != 2 {
		return false
	}
	colour, _ := v["colour"].(string)
	wheels, ok := v["wheels"].(float64)
	return slices.Contains([]string{"red", "green", "blue"}, colour) && ok && wheels == float64(int64(wheels))
}

func clipProbe(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117]
		for len(s) > 0 && !utf8Start(s[len(s)-1]) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}

// framesMessage is a user message of n tiny solid frames, each after its
// time label, as the engine sends them.
func framesMessage(n int) map[string]any {
	parts := []map[string]any{{"type": "text", "text": fmt.Sprintf("%d video frames follow. Name the colour of each in one word.", n)}}
	for i := range n {
		parts = append(parts,
			// Not a time label (t=…s): probe frames are not video frames,
			// and a test double must not count them as a window.
			map[string]any{"type": "text", "text": fmt.Sprintf("frame %d:", i+1)},
			map[string]any{"type": "image_url", "image_url": map[string]string{"url": tinyFrame(i)}})
	}
	return map[string]any{"role": "user", "content": parts}
}

var probeColours = []color.RGBA{{220, 20, 20, 255}, {20, 20, 220, 255}, {20, 160, 20, 255}, {230, 210, 20, 255}}

// tinyFrame is a 64x36 JPEG of one solid colour, as a data URL.
func tinyFrame(i int) string {
	img := image.NewRGBA(image.Rect(0, 0, 64, 36))
	c := probeColours[i%len(probeColours)]
	for o := 0; o < len(img.Pix); o += 4 {
		img.Pix[o], img.Pix[o+1], img.Pix[o+2], img.Pix[o+3] = c.R, c.G, c.B, c.A
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, &jpeg.Options{Quality: 80})
	return "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(b.Bytes())
}

func (p *Prober) chat(ctx context.Context, timeout time.Duration, msg map[string]any, maxTokens int, responseFormat map[string]any) exchange {
	body := map[string]any{"model": p.model, "messages": []any{msg}}
	if p.maxCompletionTokens {
		body["max_completion_tokens"] = maxTokens
	} else {
		body["max_tokens"] = maxTokens
	}
	if responseFormat != nil {
		body["response_format"] = responseFormat
	}
	return p.call(ctx, timeout, http.MethodPost, p.base+"/chat/completions", body)
}

// exchange is one HTTP request of a probe and what came back.
type exchange struct {
	status int
	body   []byte
	err    error
}

func (x exchange) errText() string {
	if x.err == nil {
		return ""
	}
	if errors.Is(x.err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return transportCause(x.err).Error()
}

// message is the server's own error message, if it sent one.
func (x exchange) message() string { return errorMessage(x.body) }

func (x exchange) statusText() string {
	if m := x.message(); m != "" {
		return fmt.Sprintf("HTTP %d: %s", x.status, m)
	}
	return fmt.Sprintf("HTTP %d", x.status)
}

const probeBodyLimit = 1 << 20

func (p *Prober) call(ctx context.Context, timeout time.Duration, method, url string, body any) exchange {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return exchange{err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return exchange{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if p.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+p.apiKey)
	}
	res, err := p.http.Do(req)
	if err != nil {
		return exchange{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, probeBodyLimit))
	if err != nil {
		return exchange{status: res.StatusCode, err: err}
	}
	return exchange{status: res.StatusCode, body: b}
}

// Judging: from what was found to checks, limits and findings.

// Names of the checks, in the order of a report's table.
const (
	CheckServer     = "server"
	CheckModel      = "model"
	CheckContext    = "context"
	CheckImages     = "images"
	CheckManyImages = "images per call"
	CheckFit        = "frames fit"
	CheckStructured = "json_schema"
	CheckReasoning  = "reasoning"
	CheckLatency    = "latency"
)

// ServerTitle is how a kind of server is named to people.
func ServerTitle(kind string) string {
	switch kind {
	case inference.ServerVLLM:
		return "vLLM"
	case inference.ServerSGLang:
		return "SGLang"
	case inference.ServerLlamaCpp:
		return "llama.cpp"
	case inference.ServerOllama:
		return "Ollama"
	case inference.ServerOpenAI:
		return "OpenAI"
	}
	return "unknown server"
}

func (r *Report) check(name, result string) { r.Checks = append(r.Checks, Check{name, result}) }

func (r *Report) find(level Level, check, message, fix string) {
	r.Findings = append(r.Findings, Finding{Level: level, Check: check, Message: message, Fix: fix})
}

func (r *Report) judge() {
	o := r.Options
	r.Limits.Server = r.Server
	if r.Server == inference.ServerOllama {
		r.Limits.ImageTokens, r.Limits.DropsOldest = OllamaImageTokens, true
	}
	switch {
	case o.ContextTokens > 0:
		r.Limits.ContextTokens, r.Limits.ContextSource = o.ContextTokens, "profile context_tokens"
	case r.ServerContext > 0:
		r.Limits.ContextTokens, r.Limits.ContextSource = r.ServerContext, r.ServerContextSource
	}

	if r.Stopped != "" {
		result := r.Stopped
		if !r.Reachable && r.stopFix != fixNotReady {
			result = "unreachable: " + r.Stopped
		}
		r.check(CheckServer, result)
		r.find(LevelError, CheckServer, r.Stopped, r.stopFix)
		return
	}
	r.judgeServer()
	modelMissing := r.judgeModel()
	r.judgeContext()
	// A missing model or a refused key fails every chat call: one finding
	// says so, not one per call.
	keyRefused := r.ImagesStatus == http.StatusUnauthorized || r.ImagesStatus == http.StatusForbidden
	switch {
	case keyRefused:
		r.check(CheckImages, "not tried: "+r.ImagesDetail)
		r.find(LevelError, CheckImages, "the server refused the API key for chat completions: "+r.ImagesDetail,
			"set the profile's api_key (--vlm-api-key, FRAMEWISE_VLM_API_KEY) to a key this server accepts")
	case modelMissing:
		r.check(CheckImages, "not tried: "+r.ImagesDetail)
	default:
		r.judgeImages()
	}
	r.judgeFit()
	if !modelMissing && !keyRefused {
		r.judgeStructured()
		r.judgeReasoning()
	}
	if r.Images == OutcomeAccepted || r.Images == OutcomeRefused && !modelMissing && !keyRefused {
		r.check(CheckLatency, fmt.Sprintf("%s (2 frames, max_tokens 16)", seconds(r.Latency)))
	}
}

func (r *Report) judgeServer() {
	title := ServerTitle(r.Server)
	if r.ServerVersion != "" {
		title += " " + r.ServerVersion
	}
	if r.ServerEvidence != "" {
		title += " (" + r.ServerEvidence + ")"
	}
	if r.Server == "" {
		title = "reachable; not vLLM, SGLang, llama.cpp, Ollama or OpenAI as far as it tells"
	}
	r.check(CheckServer, title)
	r.find(LevelOK, CheckServer, fmt.Sprintf("%s answers at %s", ServerTitle(r.Server), r.BaseURL), "")
}

// judgeModel reports whether the model is served; true when it is missing.
func (r *Report) judgeModel() bool {
	served := "it lists no model"
	if len(r.Served) > 0 {
		names := r.Served
		if len(names) > 10 {
			names = append(names[:10:10], fmt.Sprintf("… %d more", len(r.Served)-10))
		}
		served = "it serves " + strings.Join(names, ", ")
	}
	switch {
	case r.Listed:
		r.check(CheckModel, r.Model+" is listed")
		r.find(LevelOK, CheckModel, fmt.Sprintf("model %s is served", r.Model), "")
		return false
	case r.Images == OutcomeAccepted:
		r.check(CheckModel, fmt.Sprintf("%s is not listed (%s), but the server answers for it", r.Model, served))
		r.find(LevelWarn, CheckModel, fmt.Sprintf("model %s is not listed in /v1/models (%s), but the server answered a call for it (llama.cpp serves its one loaded model whatever the name)", r.Model, served),
			"set model to the name the server lists, so that logs and errors name the right model")
		return false
	}
	r.check(CheckModel, fmt.Sprintf("%s is not listed (%s)", r.Model, served))
	var fix string
	switch r.Server {
	case inference.ServerOllama:
		fix = fmt.Sprintf("pull it on the model server: `ollama pull %s`; or set model to one of the served names", r.Model)
	case inference.ServerVLLM:
		fix = fmt.Sprintf("serve it: `vllm serve %s` (or name the served model with `--served-model-name %s`); or set model to one of the served names", r.Model, r.Model)
	case inference.ServerSGLang:
		fix = fmt.Sprintf("serve it: `python -m sglang.launch_server --model-path %s` (or `--served-model-name %s`); or set model to one of the served names", r.Model, r.Model)
	case inference.ServerLlamaCpp:
		fix = fmt.Sprintf("start llama-server with `--alias %s`, or set model to the served name", r.Model)
	default:
		fix = "set model to one of the names the server lists"
	}
	r.find(LevelError, CheckModel, fmt.Sprintf("model %s is not served at %s: %s", r.Model, r.BaseURL, served), fix)
	return true
}

func (r *Report) judgeContext() {
	l := r.Limits
	var b strings.Builder
	switch {
	case l.ContextTokens == 0:
		b.WriteString("unknown")
	default:
		fmt.Fprintf(&b, "%s tokens (%s)", thousands(l.ContextTokens), l.ContextSource)
	}
	if r.Options.ContextTokens > 0 && r.ServerContext > 0 {
		fmt.Fprintf(&b, "; the server: %s (%s)", thousands(r.ServerContext), r.ServerContextSource)
	}
	if r.Slots > 0 {
		fmt.Fprintf(&b, "; %d slot(s)", r.Slots)
	}
	if r.TrainedContext > 0 {
		fmt.Fprintf(&b, "; trained for %s", thousands(r.TrainedContext))
	}
	r.check(CheckContext, b.String())

	switch {
	case l.ContextTokens == 0 && r.Server == inference.ServerOpenAI:
		r.find(LevelWarn, CheckContext, "the context length is unknown: a hosted API does not tell it",
			"set context_tokens in the profile (--vlm-context-tokens) to the model's documented context window, e.g. 128000 for gpt-4o-mini")
	case l.ContextTokens == 0:
		r.find(LevelWarn, CheckContext, "the context length is unknown: the server does not tell it",
			"set context_tokens in the profile (--vlm-context-tokens) to the context the server enforces")
	case r.Options.ContextTokens > r.ServerContext && r.ServerContext > 0 && r.ContextConfirmed:
		var what string
		switch r.Server {
		case inference.ServerOllama:
			what = "Ollama does not refuse a longer prompt but silently drops its oldest frames"
		case inference.ServerLlamaCpp:
			what = "llama.cpp refuses a longer prompt (HTTP 400) and cuts a longer answer"
		default:
			what = "a call sized for it is refused (HTTP 400)"
		}
		r.find(LevelWarn, CheckContext,
			fmt.Sprintf("the profile's context_tokens %s is more than the %s the server enforces (%s): %s",
				thousands(r.Options.ContextTokens), thousands(r.ServerContext), r.ServerContextSource, what),
			fmt.Sprintf("set context_tokens to %s or less, or %s", thousands(r.ServerContext), raiseContext(r.Server, r.Options.ContextTokens, r.Slots)))
	default:
		r.find(LevelOK, CheckContext, fmt.Sprintf("context %s tokens (%s)", thousands(l.ContextTokens), l.ContextSource), "")
	}
}

func (r *Report) judgeImages() {
	switch r.Images {
	case OutcomeAccepted:
		r.check(CheckImages, "accepted")
		r.find(LevelOK, CheckImages, "the model takes images", "")
	case OutcomeRefused:
		r.check(CheckImages, "refused: "+r.ImagesDetail)
		fix := fmt.Sprintf("%s is not a vision model on this server: serve a vision-language model (e.g. qwen2.5vl:7b on Ollama, Qwen/Qwen2.5-VL-7B-Instruct on vLLM)", r.Model)
		if r.Server == inference.ServerLlamaCpp {
			fix = "start llama-server with the model's projector: `--mmproj mmproj-<model>-f16.gguf` (or `-hf` a repository that ships one)"
		}
		r.find(LevelError, CheckImages, "a call with 2 frames was refused: "+r.ImagesDetail, fix)
		return
	case OutcomeFailed:
		r.check(CheckImages, "call failed: "+r.ImagesDetail)
		r.find(LevelWarn, CheckImages, "the call with 2 frames failed: "+r.ImagesDetail,
			"the model may still be loading (Ollama and llama.cpp load it on start or on the first call): run `framewise models check` again, and read the model server's log")
		return
	default:
		r.check(CheckImages, r.Images)
		return
	}

	f, n := r.Options.FramesPerCall, r.Limits.MaxImages
	switch r.ManyImages {
	case OutcomeAccepted:
		r.check(CheckManyImages, fmt.Sprintf("%d accepted", f))
		return
	case OutcomeFailed:
		r.check(CheckManyImages, "call failed: "+r.ManyImagesDetail)
		r.find(LevelWarn, CheckManyImages, fmt.Sprintf("the call with %d frames failed: %s", f, r.ManyImagesDetail),
			"run `framewise models check` again, and read the model server's log")
		return
	case OutcomeRefused:
	default:
		r.check(CheckManyImages, r.ManyImages)
		return
	}
	if n > 0 {
		r.check(CheckManyImages, fmt.Sprintf("at most %d (%s)", n, r.ManyImagesDetail))
	} else {
		r.check(CheckManyImages, fmt.Sprintf("%d refused (%s)", f, r.ManyImagesDetail))
	}
	var fix string
	switch r.Server {
	case inference.ServerVLLM:
		fix = fmt.Sprintf(`restart vLLM with --limit-mm-per-prompt '{"image":%d}' (older vLLM: --limit-mm-per-prompt image=%d)`, f, f)
	case inference.ServerSGLang:
		fix = fmt.Sprintf(`restart SGLang with --limit-mm-data-per-request '{"image":%d}'`, f)
	}
	lower := "lower frames_per_call"
	if n > 0 {
		lower = fmt.Sprintf("set frames_per_call to %d or less", n)
	}
	if fix == "" {
		fix = lower
	} else {
		fix += "; or " + lower
	}
	switch {
	case n >= minFrames:
		r.find(LevelWarn, CheckManyImages,
			fmt.Sprintf("the server takes at most %d images per call, frames_per_call is %d: the engine sends at most %d frames per call, so more calls with less context each", n, f, n), fix)
	case n > 0:
		r.find(LevelError, CheckManyImages,
			fmt.Sprintf("the server takes at most %d image(s) per call, fewer than the %d a window needs (frames_per_call is %d)", n, minFrames, f), fix)
	default:
		r.find(LevelError, CheckManyImages, fmt.Sprintf("a call with %d frames (frames_per_call) was refused while 2 were accepted: %s", f, r.ManyImagesDetail), fix)
	}
}

func (r *Report) judgeFit() {
	ctx := r.Limits.ContextTokens
	if ctx == 0 {
		return
	}
	f := r.Options.FramesPerCall
	per, perNote := r.Options.FrameTokens, fmt.Sprintf("the engine's estimate at %d px", r.Options.FrameWidth)
	if r.Limits.ImageTokens > 0 {
		per, perNote = r.Limits.ImageTokens, "Ollama counts 768 per image whatever its size"
	}
	need := f*per + InstructionTokens + AnswerTokens
	sum := fmt.Sprintf("%d frames × %s tokens (%s) + ~%s instructions + %s answer = %s tokens",
		f, thousands(per), perNote, thousands(InstructionTokens), thousands(AnswerTokens), thousands(need))
	if need <= ctx {
		r.check(CheckFit, fmt.Sprintf("%d × %s + %s + %s = %s ≤ %s", f, thousands(per), thousands(InstructionTokens), thousands(AnswerTokens), thousands(need), thousands(ctx)))
		r.find(LevelOK, CheckFit, fmt.Sprintf("%s fit the context of %s", sum, thousands(ctx)), "")
		return
	}
	fit := max(0, (ctx-InstructionTokens-AnswerTokens)/per)
	row := fmt.Sprintf("no: %d × %s + %s + %s = %s > %s", f, thousands(per), thousands(InstructionTokens), thousands(AnswerTokens), thousands(need), thousands(ctx))
	if fit > 0 {
		row += fmt.Sprintf(" (%d fit)", fit)
	}
	r.check(CheckFit, row)
	suggest := 8192
	for suggest < need {
		suggest *= 2
	}
	msg := fmt.Sprintf("%s > the context of %s (%s)", sum, thousands(ctx), r.Limits.ContextSource)
	switch r.Server {
	case inference.ServerOllama:
		msg += ": Ollama does not refuse a longer prompt, it silently drops the oldest frames; the engine sends fewer frames per call to fit (it adapts)"
	case inference.ServerLlamaCpp:
		msg += ": llama.cpp refuses a longer prompt and cuts the answer where the context ends; the engine sends fewer frames per call to fit"
	case inference.ServerVLLM, inference.ServerSGLang:
		msg += ": the server refuses a longer call (HTTP 400); the engine sends fewer frames per call to fit"
	default:
		msg += ": the engine sends fewer frames per call to fit"
	}
	if fit > 0 {
		msg += fmt.Sprintf(" (about %d fit)", fit)
	}
	// Fewer frames help only while some fit with the full answer.
	var lower string
	switch {
	case fit < minFrames:
	case r.Server == inference.ServerOllama:
		lower = fmt.Sprintf("; or lower frames_per_call to %d (frame_width does not change Ollama's count)", fit)
	default:
		lower = fmt.Sprintf("; or lower frames_per_call to %d, or frame_width", fit)
	}
	fix := raiseContext(r.Server, suggest, r.Slots) + lower
	if r.Options.ContextTokens > 0 && r.ServerContext > r.Options.ContextTokens && r.ContextConfirmed {
		fix = fmt.Sprintf("raise context_tokens in the profile (the server enforces %s)%s", thousands(r.ServerContext), lower)
	}
	level := LevelWarn
	if least := minFrames*per + InstructionTokens + minAnswerTokens; least > ctx {
		level = LevelError
		msg = fmt.Sprintf("not even %d frames, the instructions and a short answer (%s tokens) fit the context of %s (%s); %s",
			minFrames, thousands(least), thousands(ctx), r.Limits.ContextSource, sum)
	}
	r.find(level, CheckFit, msg, fix)
}

// raiseContext says how to give the server a context of n tokens.
func raiseContext(server string, n, slots int) string {
	switch server {
	case inference.ServerOllama:
		return fmt.Sprintf("raise Ollama's num_ctx: start it with `OLLAMA_CONTEXT_LENGTH=%d ollama serve`, or put `PARAMETER num_ctx %d` in a Modelfile and `ollama create` the model", n, n)
	case inference.ServerVLLM:
		return fmt.Sprintf("restart vLLM with `--max-model-len %d` (the model and GPU memory permitting)", n)
	case inference.ServerSGLang:
		return fmt.Sprintf("restart SGLang with `--context-length %d`", n)
	case inference.ServerLlamaCpp:
		s := max(slots, 1)
		return fmt.Sprintf("restart llama-server with `-c %d` (`-c` is shared by the `--parallel` slots, each gets -c/slots; this server has %d)", n*s, s)
	}
	return "use a model or server with a larger context"
}

func (r *Report) judgeStructured() {
	var fix string
	switch r.Server {
	case inference.ServerVLLM:
		fix = "upgrade vLLM (0.8 and later constrain json_schema with xgrammar by default), and do not turn its structured-output backend off"
	case inference.ServerSGLang:
		fix = "start SGLang with `--grammar-backend xgrammar`"
	case inference.ServerLlamaCpp:
		fix = "upgrade llama-server: recent builds turn json_schema into a grammar"
	case inference.ServerOllama:
		fix = "upgrade Ollama to 0.5 or later (structured outputs)"
	case inference.ServerOpenAI:
		fix = "use a model with Structured Outputs (gpt-4o-mini, gpt-4o-2024-08-06 or later)"
	default:
		fix = "use a server that constrains decoding to response_format json_schema (vLLM, SGLang, llama.cpp, Ollama 0.5+)"
	}
	switch r.Structured {
	case OutcomeHonoured:
		r.check(CheckStructured, "honoured (bare JSON following the schema)")
		r.find(LevelOK, CheckStructured, "response_format json_schema is honoured", "")
	case OutcomeFenced:
		r.check(CheckStructured, "not honoured: JSON inside fences or prose")
		r.find(LevelWarn, CheckStructured,
			"response_format json_schema is not honoured: the JSON came back inside ``` fences or prose ("+r.StructuredDetail+"); answers are read out of fences and validated, with one repair, but constrained decoding is more reliable", fix)
	case OutcomeInvalid:
		r.check(CheckStructured, "not honoured: no JSON following the schema")
		r.find(LevelWarn, CheckStructured,
			"response_format json_schema is not honoured: the answer does not follow the schema ("+r.StructuredDetail+"); answers are validated and repaired once, but constrained decoding is more reliable", fix)
	case OutcomeRefused:
		r.check(CheckStructured, "refused: "+r.StructuredDetail)
		r.find(LevelError, CheckStructured,
			"response_format json_schema is refused ("+r.StructuredDetail+"): time_based_metadata tasks and prompts with a JSON schema will fail", fix)
	case OutcomeUndecided:
		r.check(CheckStructured, "undecided: "+r.StructuredDetail)
	case OutcomeFailed:
		r.check(CheckStructured, "call failed: "+r.StructuredDetail)
		r.find(LevelWarn, CheckStructured, "the call with a JSON schema failed: "+r.StructuredDetail,
			"run `framewise models check` again, and read the model server's log")
	default:
		r.check(CheckStructured, r.Structured)
	}
}

func (r *Report) judgeReasoning() {
	switch r.Reasoning {
	case ReasoningInline:
		r.check(CheckReasoning, "inline <think>…</think> in content")
		var fix string
		switch r.Server {
		case inference.ServerVLLM:
			fix = "start vLLM with `--reasoning-parser` naming the model family (e.g. `--reasoning-parser qwen3` or `deepseek_r1`)"
		case inference.ServerSGLang:
			fix = "start SGLang with `--reasoning-parser` naming the model family (e.g. `--reasoning-parser qwen3`)"
		case inference.ServerLlamaCpp:
			fix = "start llama-server with `--reasoning-format deepseek`"
		case inference.ServerOllama:
			fix = "upgrade Ollama to 0.12.4 or later, which returns the thinking apart"
		default:
			fix = "turn on the server's reasoning parser"
		}
		r.find(LevelWarn, CheckReasoning,
			"reasoning comes back inline in content as <think>…</think>: it works (the engine strips it), but the server can return it apart", fix)
	case ReasoningContent, ReasoningField:
		r.check(CheckReasoning, "apart, in "+r.Reasoning)
	case ReasoningNone:
		r.check(CheckReasoning, "none seen")
	default:
		r.check(CheckReasoning, r.Reasoning)
	}
}

// thousands writes n with comma separators: 32,768.
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func seconds(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}
