package inferencetest_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/framewise/framewise/internal/inference"
	"github.com/framewise/framewise/internal/inference/inferencetest"
)

// jpegCache holds encoded frames by colour and size: the tests send many.
var jpegCache sync.Map

func sizedJPEG(t *testing.T, colour string, w, h int) string {
	t.Helper()
	key := fmt.Sprintf("%s %dx%d", colour, w, h)
	if v, ok := jpegCache.Load(key); ok {
		return v.(string)
	}
	data, err := inferencetest.SolidJPEG(colour, w, h)
	if err != nil {
		t.Fatal(err)
	}
	url := "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(data)
	jpegCache.Store(key, url)
	return url
}

// imageSized adds a w×h frame of colour.
func (c *chat) imageSized(colour string, w, h int) *chat {
	return c.append(map[string]any{"type": "image_url", "image_url": map[string]any{"url": sizedJPEG(c.t, colour, w, h)}})
}

// framesSized adds one 512×288 frame per second from start.
func (c *chat) frames512(start float64, colours ...string) *chat {
	for i, col := range colours {
		c.text(inference.FrameTimeText(start+float64(i))).imageSized(col, 512, 288)
	}
	return c
}

// raw posts the request and returns the status, headers and body.
func (c *chat) raw(s *inferencetest.Server) (int, http.Header, []byte) {
	c.t.Helper()
	status, header, raw, _ := c.exchange(s)
	return status, header, raw
}

// exchange posts the request and returns the status, headers, the body as
// far as it could be read, and the error that ended reading it.
func (c *chat) exchange(s *inferencetest.Server) (int, http.Header, []byte, error) {
	c.t.Helper()
	body := map[string]any{"messages": []any{map[string]any{"role": "user", "content": c.parts}}}
	for k, v := range c.extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	res, err := http.Post(s.URL()+"/chat/completions", "application/json", bytes.NewReader(b))
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, raw, err
}

// message is the first choice of a completion, with everything a
// personality may set.
type message struct {
	Content          string  `json:"content"`
	ReasoningContent *string `json:"reasoning_content"`
	Reasoning        *string `json:"reasoning"`
}

type completion struct {
	Choices []struct {
		Message      message `json:"message"`
		FinishReason string  `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

func (c *chat) complete(s *inferencetest.Server) completion {
	c.t.Helper()
	status, _, raw := c.raw(s)
	if status != 200 {
		c.t.Fatalf("status %d: %s", status, raw)
	}
	var out completion
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Choices) != 1 {
		c.t.Fatalf("answer %s: %v", raw, err)
	}
	return out
}

// sameJSON compares two JSON texts as values.
func sameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v", err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("body\n got %s\nwant %s", gb, wb)
	}
}

func with(p inferencetest.Personality, f func(*inferencetest.Personality)) inferencetest.Personality {
	f(&p)
	return p
}

func TestPersonalities(t *testing.T) {
	t.Parallel()
	ps := inferencetest.Personalities()
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
		if p.Rounding != 1 || p.Jitter != 1 || p.Exact {
			t.Errorf("%s: %+v", p.Name, p)
		}
	}
	if got := strings.Join(names, ","); got != "vllm,sglang,llamacpp,ollama,openai" {
		t.Errorf("Personalities = %s", got)
	}
	s := inferencetest.New(t, inferencetest.WithPersonality(inferencetest.Personality{Name: "custom"}))
	if p := s.Personality(); p.Rounding != 1 || p.Jitter != 1 {
		t.Errorf("defaults not filled: %+v", p)
	}
	if p := inferencetest.New(t).Personality(); p != (inferencetest.Personality{}) {
		t.Errorf("friendly personality = %+v", p)
	}
}

// oneFrame is a prompt the servers count as 4 (message) + 3 ("Describe.")
// + 2 ("t=0.000s") + 182 (a 512×288 frame) = 191 tokens; OpenAI counts
// 4 + 3 + 2 + 255 = 264.
func oneFrame(t *testing.T) *chat { return newChat(t).text("Describe.").frames512(0, "red") }

func TestOverflow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		p         inferencetest.Personality
		maxTokens int
		status    int
		body      string // exact error body; "" for an answer
		finish    string
		prompt    int
	}{
		{name: "vllm max_tokens over the context", p: inferencetest.VLLM(), maxTokens: 32768, status: 400,
			body: `{"error":{"message":"You passed 191 input tokens and requested 32768 output tokens. However, the model's context length is only 32768 tokens, resulting in a maximum input length of 0 tokens. Please reduce the length of the input prompt. (parameter=input_tokens, value=191)","type":"BadRequestError","param":"input_tokens","code":400}}`},
		{name: "vllm prompt over the context, max_tokens unset", p: with(inferencetest.VLLM(), func(p *inferencetest.Personality) { p.ContextTokens = 191 }), status: 400,
			body: `{"error":{"message":"You passed 191 input tokens and requested 1 output tokens. However, the model's context length is only 191 tokens, resulting in a maximum input length of 190 tokens. Please reduce the length of the input prompt. (parameter=input_tokens, value=191)","type":"BadRequestError","param":"input_tokens","code":400}}`},
		{name: "vllm fits", p: inferencetest.VLLM(), maxTokens: 32768 - 191, status: 200, finish: "stop", prompt: 191},
		{name: "vllm max_tokens unset: the rest of the context", p: with(inferencetest.VLLM(), func(p *inferencetest.Personality) { p.ContextTokens = 195 }), status: 200, finish: "length", prompt: 191},
		{name: "sglang prompt over the context", p: with(inferencetest.SGLang(), func(p *inferencetest.Personality) { p.ContextTokens = 100 }), status: 400,
			body: `{"object":"error","message":"The input (191 tokens) is longer than the model's context length (100 tokens).","type":"BadRequestError","param":null,"code":400}`},
		{name: "sglang prompt and max_tokens over the context", p: inferencetest.SGLang(), maxTokens: 32700, status: 400,
			body: `{"object":"error","message":"Requested token count exceeds the model's maximum context length of 32768 tokens. You requested a total of 32891 tokens: 191 tokens from the input messages and 32700 tokens for the completion. Please reduce the number of tokens in the input messages or the completion to fit within the limit.","type":"BadRequestError","param":null,"code":400}`},
		{name: "llamacpp prompt fills the context", p: with(inferencetest.LlamaCpp(), func(p *inferencetest.Personality) { p.ContextTokens = 191 }), status: 400,
			body: `{"error":{"code":400,"message":"request (191 tokens) exceeds the available context size (191 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":191,"n_ctx":191}}`},
		{name: "llamacpp max_tokens never checked, answer cut at the context", p: with(inferencetest.LlamaCpp(), func(p *inferencetest.Personality) { p.ContextTokens = 205 }), maxTokens: 100000, status: 200, finish: "length", prompt: 191},
		{name: "llamacpp fits", p: inferencetest.LlamaCpp(), maxTokens: 100000, status: 200, finish: "stop", prompt: 191},
		{name: "ollama never refuses", p: inferencetest.Ollama(), maxTokens: 100000, status: 200, finish: "stop", prompt: 4 + 3 + 4 + 2 + 4 + 182},
		{name: "openai over the context", p: inferencetest.OpenAI(), maxTokens: 128000, status: 400,
			body: `{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 264 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`},
		{name: "openai over the TPM limit", p: inferencetest.OpenAI(), maxTokens: 200000, status: 429,
			body: `{"error":{"message":"Request too large for gpt-4o in organization org-framewise on tokens per min (TPM): Limit 200000, Requested 200264. The input or output tokens must be reduced in order to run successfully.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`},
		{name: "openai fits", p: inferencetest.OpenAI(), maxTokens: 4096, status: 200, finish: "stop", prompt: 264},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := inferencetest.New(t, inferencetest.WithPersonality(tt.p))
			c := oneFrame(t)
			if tt.maxTokens > 0 {
				c.set("max_tokens", tt.maxTokens)
			}
			status, header, raw := c.raw(s)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, raw)
			}
			call := s.Calls()[0]
			if tt.body != "" {
				sameJSON(t, raw, tt.body)
				if header.Get("Retry-After") != "" {
					t.Errorf("Retry-After %q", header.Get("Retry-After"))
				}
				if call.Overflow != (status == 400) {
					t.Errorf("Overflow = %v", call.Overflow)
				}
				return
			}
			var out completion
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatal(err)
			}
			if f := out.Choices[0].FinishReason; f != tt.finish {
				t.Errorf("finish %q, want %q (%q)", f, tt.finish, out.Choices[0].Message.Content)
			}
			if out.Usage.PromptTokens != tt.prompt || call.PromptTokens != tt.prompt {
				t.Errorf("prompt tokens %d (call %d), want %d", out.Usage.PromptTokens, call.PromptTokens, tt.prompt)
			}
			if tt.finish == "length" {
				if room := tt.p.ContextTokens - tt.prompt; out.Usage.PromptTokens+out.Usage.CompletionTokens != tt.p.ContextTokens {
					t.Errorf("usage %+v: the answer should fill the %d tokens left", out.Usage, room)
				}
				if !call.Overflow || !call.Truncated {
					t.Errorf("call %+v", call)
				}
			}
		})
	}
}

func TestImageLimits(t *testing.T) {
	t.Parallel()
	colours := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = inferencetest.Colours()[i%len(inferencetest.Colours())]
		}
		return out
	}
	tests := []struct {
		name   string
		p      inferencetest.Personality
		c      func(t *testing.T) *chat
		status int
		body   string
	}{
		{"vllm 16 images", inferencetest.VLLM(), func(t *testing.T) *chat { return newChat(t).frames(0, colours(16)...) }, 200, ""},
		{"vllm 17 images", inferencetest.VLLM(), func(t *testing.T) *chat { return newChat(t).frames(0, colours(17)...) }, 400,
			`{"error":{"message":"At most 16 image(s) may be provided in one prompt.","type":"BadRequestError","param":null,"code":400}}`},
		{"sglang 40 images", inferencetest.SGLang(), func(t *testing.T) *chat { return newChat(t).frames(0, colours(40)...) }, 200, ""},
		{"ollama image URL", inferencetest.Ollama(), func(t *testing.T) *chat {
			return newChat(t).text("t=0s").append(map[string]any{"type": "image_url", "image_url": map[string]any{"url": "https://example.com/a.jpg"}})
		}, 400, `{"error":{"message":"image URLs are not currently supported, please use base64 encoded data instead","type":"invalid_request_error","param":null,"code":null}}`},
		{"vllm schema without a name", inferencetest.VLLM(), func(t *testing.T) *chat {
			return newChat(t).frames(0, "red").set("response_format", map[string]any{"type": "json_schema", "json_schema": map[string]any{"schema": json.RawMessage(segmentSchema)}})
		}, 400, `{"error":{"message":"1 validation error for ChatCompletionRequest\nresponse_format.json_schema.name\n  Field required [type=missing]","type":"BadRequestError","param":null,"code":400}}`},
		{"ollama schema without a name", inferencetest.Ollama(), func(t *testing.T) *chat {
			return newChat(t).frames(0, "red").set("response_format", map[string]any{"type": "json_schema", "json_schema": map[string]any{"schema": json.RawMessage(segmentSchema)}})
		}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := inferencetest.New(t, inferencetest.WithPersonality(tt.p))
			status, _, raw := tt.c(t).raw(s)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, raw)
			}
			if tt.body != "" {
				sameJSON(t, raw, tt.body)
			}
		})
	}
}

// unfence takes the JSON document out of an answer: the content of a
// ```json fence when there is one, else the whole text.
func unfence(s string) (string, bool) {
	_, rest, ok := strings.Cut(s, "```json\n")
	if !ok {
		return s, false
	}
	doc, _, ok := strings.Cut(rest, "\n```")
	return doc, ok
}

var clockRE = regexp.MustCompile(`^(?:(\d+):)?(\d\d):(\d\d(?:\.\d+)?)$`)

// normalise turns clock strings and numeric strings back into numbers,
// counting each form.
func normalise(t *testing.T, v any, forms map[string]int) any {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			x[k] = normalise(t, c, forms)
		}
	case []any:
		for i, c := range x {
			x[i] = normalise(t, c, forms)
		}
	case string:
		if m := clockRE.FindStringSubmatch(x); m != nil {
			h, _ := strconv.Atoi(m[1])
			mm, _ := strconv.Atoi(m[2])
			sec, _ := strconv.ParseFloat(m[3], 64)
			if m[1] != "" {
				forms["h:mm:ss"]++
			} else {
				forms["mm:ss"]++
			}
			return math.Round((float64(h*3600+mm*60)+sec)*1000) / 1000
		}
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			forms["numeric string"]++
			return f
		}
	case float64:
		forms["number"]++
	}
	return v
}

func TestUnconstrainedJSON(t *testing.T) {
	t.Parallel()
	friendly := inferencetest.New(t)
	request := func(t *testing.T, start float64) *chat {
		c := newChat(t).text("Find the segments.")
		cols := []string{"red", "red", "blue", "blue", "red", "green", "red", "red", "blue", "red", "red", "blue"}
		for i, col := range cols {
			c.text(inference.FrameTimeText(start + float64(i)*2.5)).image(col)
		}
		return c.text(inference.ReferenceImageText("sky")).image("blue").schema(segmentSchema)
	}
	forms := map[string]int{}
	fenced := 0
	for seed := range uint64(12) {
		s := inferencetest.New(t, inferencetest.WithPersonality(with(inferencetest.OpenAI(), func(p *inferencetest.Personality) {
			p.Exact, p.Seed = true, seed
		})))
		start := float64(seed) * 3600 / 7
		want := request(t, start).complete(friendly).Choices[0].Message.Content
		got := request(t, start).complete(s).Choices[0].Message.Content
		doc, ok := unfence(got)
		if !ok || !strings.HasPrefix(got, "Here is the JSON for the frames you sent:") || !strings.HasSuffix(got, "Let me know if you need anything else.") {
			t.Fatalf("seed %d: not fenced with prose: %q", seed, got)
		}
		if !s.Calls()[0].Fenced {
			t.Errorf("Call.Fenced false")
		}
		fenced++
		var g, w any
		if err := json.Unmarshal([]byte(doc), &g); err != nil {
			t.Fatalf("fenced document: %v\n%s", err, doc)
		}
		_ = json.Unmarshal([]byte(want), &w)
		g = normalise(t, g, forms)
		gb, _ := json.Marshal(g)
		wb, _ := json.Marshal(w)
		if string(gb) != string(wb) {
			t.Errorf("seed %d: after unfencing and reading times\n got %s\nwant %s", seed, gb, wb)
		}
	}
	for _, f := range []string{"number", "numeric string", "h:mm:ss", "mm:ss"} {
		if forms[f] == 0 {
			t.Errorf("no %s seen in 12 answers: %v", f, forms)
		}
	}

	// FenceEvery 3: some answers bare, the same request always the same.
	s := inferencetest.New(t, inferencetest.WithPersonality(with(inferencetest.OpenAI(), func(p *inferencetest.Personality) { p.FenceEvery = 3 })))
	for i := range 30 {
		a := request(t, float64(i)).complete(s).Choices[0].Message.Content
		doc, ok := unfence(a)
		var v any
		if err := json.Unmarshal([]byte(doc), &v); err != nil {
			t.Fatalf("answer %d is neither fenced nor bare JSON: %q", i, a)
		}
		if b := request(t, float64(i)).complete(s).Choices[0].Message.Content; b != a {
			t.Errorf("request %d answered twice differently", i)
		}
		_ = ok
	}
	n := 0
	for _, c := range s.Calls() {
		if c.Fenced {
			n++
		}
	}
	if n == 0 || n == 60 {
		t.Errorf("FenceEvery 3: %d of 60 answers fenced", n)
	}

	// Structured personalities answer bare JSON.
	for _, p := range []inferencetest.Personality{inferencetest.VLLM(), inferencetest.SGLang(), inferencetest.LlamaCpp()} {
		s := inferencetest.New(t, inferencetest.WithPersonality(p))
		a := request(t, 0).complete(s).Choices[0].Message.Content
		if err := validate(segmentSchema, a); err != nil {
			t.Errorf("%s: %v\n%s", p.Name, err, a)
		}
	}
}

func TestReasoning(t *testing.T) {
	t.Parallel()
	inline := with(inferencetest.VLLM(), func(p *inferencetest.Personality) { p.Reasoning = inferencetest.ReasoningInline })
	tests := []struct {
		p         inferencetest.Personality
		where     string // "content", "reasoning_content", "reasoning", ""
		structure bool
	}{
		{inferencetest.VLLM(), "", false},
		{inline, "content", false},
		{inline, "content", true},
		{inferencetest.SGLang(), "reasoning_content", true},
		{inferencetest.LlamaCpp(), "reasoning_content", false},
		{inferencetest.Ollama(), "reasoning", true},
		{inferencetest.OpenAI(), "", false},
	}
	const think = "<think>\nI look at each frame in turn and compare colours.\n</think>\n\n"
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s structured=%v", tt.p.Name, tt.where, tt.structure), func(t *testing.T) {
			t.Parallel()
			s := inferencetest.New(t, inferencetest.WithPersonality(tt.p))
			c := newChat(t).text("Describe.").frames(0, "red", "blue")
			if tt.structure {
				c.schema(segmentSchema)
			}
			out := c.complete(s)
			m := out.Choices[0].Message
			content := m.Content
			if tt.where == "content" {
				if !strings.HasPrefix(content, think) {
					t.Fatalf("content %q lacks the inline thinking", content)
				}
				content = strings.TrimPrefix(content, think)
			} else if strings.Contains(content, "think") {
				t.Errorf("content %q", content)
			}
			if tt.structure && !json.Valid([]byte(content)) {
				t.Errorf("content after thinking is not JSON: %q", content)
			}
			if !tt.structure && !strings.HasPrefix(content, "Seen colours: red from") {
				t.Errorf("content %q", content)
			}
			has := func(p *string) bool { return p != nil && *p == "I look at each frame in turn and compare colours." }
			if has(m.ReasoningContent) != (tt.where == "reasoning_content") || has(m.Reasoning) != (tt.where == "reasoning") {
				t.Errorf("reasoning_content %v, reasoning %v", m.ReasoningContent, m.Reasoning)
			}
			if s.Calls()[0].Reasoning != (tt.where != "") {
				t.Errorf("Call.Reasoning = %v", s.Calls()[0].Reasoning)
			}
		})
	}

	// Thinking spends max_tokens first.
	s := inferencetest.New(t, inferencetest.WithPersonality(inferencetest.SGLang()))
	out := newChat(t).frames(0, "red", "blue").set("max_tokens", 12).complete(s)
	if out.Choices[0].FinishReason != "length" || out.Choices[0].Message.Content != "Seen colours" || out.Usage.CompletionTokens != 12 {
		t.Errorf("max_tokens 12 with 10 words of thinking: %+v", out)
	}
}

func TestOllamaDropsOldest(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t, inferencetest.WithPersonality(inferencetest.Ollama()))
	first := []string{"red", "green", "blue", "yellow", "cyan", "magenta", "red", "green", "blue", "yellow", "cyan"}
	last := []string{"white", "black", "gray", "orange", "purple"}
	c := newChat(t).text("Describe the video; ignore red.").frames512(0, append(first, last...)...)
	out := c.complete(s)
	content := out.Choices[0].Message.Content
	for _, col := range first {
		if strings.Contains(content, col+" from") {
			t.Errorf("answer names %s, a colour of a dropped frame: %q", col, content)
		}
	}
	for _, col := range last {
		if !strings.Contains(content, col+" from") {
			t.Errorf("answer lacks %s, a colour of the last frames: %q", col, content)
		}
	}
	// Estimate: 33 parts, each a message (4) + its text ("t=11.000s": 3),
	// or 768 per image; the last 5 frames with their labels fit in 4096.
	// Real count of the kept 5 labels (4 + 3) and 5 frames (4 + 182).
	want := 5*7 + 5*186
	call := s.Calls()[0]
	if out.Usage.PromptTokens != want || call.PromptTokens != want {
		t.Errorf("prompt tokens %d (call %d), want %d", out.Usage.PromptTokens, call.PromptTokens, want)
	}
	if call.DroppedParts != 33-10 || !call.Overflow || call.Frames != 5 || call.Images != 16 || call.FirstFrame != 11 {
		t.Errorf("call %+v", call)
	}
	if out.Choices[0].FinishReason != "stop" {
		t.Errorf("finish %q", out.Choices[0].FinishReason)
	}

	// A system message is kept; the answer is cut to the room left.
	s = inferencetest.New(t, inferencetest.WithPersonality(with(inferencetest.Ollama(), func(p *inferencetest.Personality) { p.ContextTokens = 1000 })))
	body := map[string]any{"model": "m", "messages": []any{
		map[string]any{"role": "system", "content": strings.Repeat("Look at colours. ", 100)},
		map[string]any{"role": "user", "content": newChat(t).frames512(0, "red", "blue", "green").parts},
	}}
	b, _ := json.Marshal(body)
	res, err := http.Post(s.URL()+"/chat/completions", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var got completion
	_ = json.NewDecoder(res.Body).Decode(&got)
	res.Body.Close()
	call = s.Calls()[0]
	// System 4 + 425; estimate then fits 0 images beyond the last (the
	// last part is always kept): label texts 6 each.
	if call.DroppedParts == 0 || call.Frames != 0 || !strings.HasPrefix(got.Choices[0].Message.Content, "Seen colours (untimed frames): green") {
		t.Errorf("call %+v, answer %+v", call, got)
	}
	if got.Usage.PromptTokens != 4+425+186 {
		t.Errorf("prompt tokens %d", got.Usage.PromptTokens)
	}
}

// spanRE reads the spans of a plain answer.
var spanRE = regexp.MustCompile(`([a-z]+) from ([0-9.]+)s to ([0-9.]+)s`)

type span struct {
	colour     string
	start, end float64
}

func spans(t *testing.T, content string) []span {
	var out []span
	for _, m := range spanRE.FindAllStringSubmatch(content, -1) {
		a, _ := strconv.ParseFloat(m[2], 64)
		b, _ := strconv.ParseFloat(m[3], 64)
		out = append(out, span{m[1], a, b})
	}
	return out
}

func TestImprecision(t *testing.T) {
	t.Parallel()
	friendly := inferencetest.New(t)
	// Runs of 3 to 6 frames, a frame every 1.5 s, from a start that varies.
	request := func(t *testing.T, start float64, structured bool) *chat {
		c := newChat(t).text("Describe the video.")
		cols := []string{"red", "red", "red", "blue", "blue", "blue", "blue", "green", "green", "green", "red", "red", "red", "red", "red", "red"}
		for i, col := range cols {
			c.text(inference.FrameTimeText(start + float64(i)*1.5)).image(col)
		}
		if structured {
			c.schema(segmentSchema)
		}
		return c
	}
	custom := with(inferencetest.VLLM(), func(p *inferencetest.Personality) { p.Rounding, p.Jitter, p.Name = 0.5, 1.2, "custom" })
	for _, p := range append(inferencetest.Personalities(), custom) {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			if p.Name == "ollama" {
				p.ContextTokens = 32768 // no dropping here
			}
			bound := p.Jitter + p.Rounding/2 + 1e-9
			moved := 0
			for seed := range uint64(6) {
				p.Seed = seed
				s := inferencetest.New(t, inferencetest.WithPersonality(p))
				for _, start := range []float64{0, 7.25, 31.5, 600} {
					want := spans(t, request(t, start, false).complete(friendly).Choices[0].Message.Content)
					got := spans(t, request(t, start, false).complete(s).Choices[0].Message.Content)
					again := spans(t, request(t, start, false).complete(s).Choices[0].Message.Content)
					if len(got) != len(want) || len(want) != 4 {
						t.Fatalf("spans %v, want like %v", got, want)
					}
					if fmt.Sprint(got) != fmt.Sprint(again) {
						t.Errorf("seed %d start %v: not reproducible: %v then %v", seed, start, got, again)
					}
					for i := range want {
						if got[i].colour != want[i].colour {
							t.Errorf("colour %s, want %s", got[i].colour, want[i].colour)
						}
						for _, pair := range [][2]float64{{got[i].start, want[i].start}, {got[i].end, want[i].end}} {
							if d := math.Abs(pair[0] - pair[1]); d > bound {
								t.Errorf("seed %d: bound %v moved by %v (> %v)", seed, pair[1], d, bound)
							} else if d > 0 {
								moved++
							}
							if r := pair[0] / p.Rounding; math.Abs(r-math.Round(r)) > 1e-9 {
								t.Errorf("%v is not a multiple of %v", pair[0], p.Rounding)
							}
						}
						if got[i].end <= got[i].start {
							t.Errorf("span %+v", got[i])
						}
					}
					// Schema answers are blurred alike.
					if p.Structured {
						out := request(t, start, true).complete(s).Choices[0].Message.Content
						var doc struct {
							Any []struct {
								Start float64 `json:"start_time"`
								End   float64 `json:"end_time"`
							} `json:"any_scene"`
						}
						if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Any) != 4 {
							t.Fatalf("schema answer %q: %v", out, err)
						}
						for i, seg := range doc.Any {
							if math.Abs(seg.Start-want[i].start) > bound || math.Abs(seg.End-want[i].end) > bound || seg.End <= seg.Start {
								t.Errorf("segment %+v, exact %+v", seg, want[i])
							}
						}
					}
				}
			}
			if moved < 20 {
				t.Errorf("only %d bounds moved", moved)
			}
		})
	}

	// Different seeds see differently; Exact sees as the friendly double.
	a := spans(t, request(t, 3, false).complete(inferencetest.New(t, inferencetest.WithPersonality(inferencetest.VLLM()))).Choices[0].Message.Content)
	differ := false
	for seed := range uint64(8) {
		b := spans(t, request(t, 3, false).complete(inferencetest.New(t, inferencetest.WithPersonality(with(inferencetest.VLLM(), func(p *inferencetest.Personality) { p.Seed = seed + 1 })))).Choices[0].Message.Content)
		differ = differ || fmt.Sprint(a) != fmt.Sprint(b)
	}
	if !differ {
		t.Errorf("8 seeds saw the same spans")
	}
}

func TestExact(t *testing.T) {
	t.Parallel()
	friendly := inferencetest.New(t)
	for _, p := range []inferencetest.Personality{inferencetest.VLLM(), inferencetest.SGLang(), inferencetest.LlamaCpp(), inferencetest.Ollama()} {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			p.Exact, p.ContextTokens = true, 32768
			s := inferencetest.New(t, inferencetest.WithPersonality(p))
			for _, structured := range []bool{false, true} {
				c := func() *chat {
					c := red5blue7(t).text(inference.ReferenceImageText("sky")).image("blue")
					if structured {
						c.schema(segmentSchema)
					}
					return c
				}
				want := c().complete(friendly).Choices[0].Message.Content
				if got := c().complete(s).Choices[0].Message.Content; got != want {
					t.Errorf("structured=%v\n got %q\nwant %q", structured, got, want)
				}
			}
		})
	}
}

func TestPersonalityFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p         inferencetest.Personality
		transient string
		down      string // body of SetDown's 503
		fail500   string
	}{
		{inferencetest.VLLM(),
			`{"error":{"message":"Service Unavailable: the engine is not ready, please try again.","type":"ServiceUnavailableError","param":null,"code":503}}`,
			`{"error":{"message":"the model backend is down (inferencetest)","type":"ServiceUnavailableError","param":null,"code":503}}`,
			`{"error":{"message":"injected failure (inferencetest): Internal Server Error","type":"InternalServerError","param":null,"code":500}}`},
		{inferencetest.SGLang(),
			`{"object":"error","message":"The request queue is full. Please try again later.","type":"ServiceUnavailableError","param":null,"code":503}`,
			`{"object":"error","message":"the model backend is down (inferencetest)","type":"ServiceUnavailableError","param":null,"code":503}`,
			`{"object":"error","message":"injected failure (inferencetest): Internal Server Error","type":"InternalServerError","param":null,"code":500}`},
		{inferencetest.LlamaCpp(),
			`{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}`,
			`{"error":{"code":503,"message":"the model backend is down (inferencetest)","type":"unavailable_error"}}`,
			`{"error":{"code":500,"message":"injected failure (inferencetest): Internal Server Error","type":"server_error"}}`},
		{inferencetest.Ollama(),
			`{"error":{"message":"server busy, please try again.  maximum pending requests exceeded","type":"api_error","param":null,"code":null}}`,
			`{"error":{"message":"the model backend is down (inferencetest)","type":"api_error","param":null,"code":null}}`,
			`{"error":{"message":"injected failure (inferencetest): Internal Server Error","type":"api_error","param":null,"code":null}}`},
		{inferencetest.OpenAI(),
			`{"error":{"message":"The server is overloaded or not ready yet.","type":"server_error","param":null,"code":null}}`,
			`{"error":{"message":"the model backend is down (inferencetest)","type":"server_error","param":null,"code":null}}`,
			`{"error":{"message":"injected failure (inferencetest): Internal Server Error","type":"server_error","param":null,"code":null}}`},
	}
	for _, tt := range tests {
		t.Run(tt.p.Name, func(t *testing.T) {
			t.Parallel()
			s := inferencetest.New(t, inferencetest.WithPersonality(tt.p))
			s.FailNextTransient(2)
			for range 2 {
				status, h, raw := newChat(t).frames(0, "red").raw(s)
				if status != 503 || h.Get("Retry-After") != "" {
					t.Fatalf("transient: %d %q", status, h.Get("Retry-After"))
				}
				sameJSON(t, raw, tt.transient)
			}
			if status, _, raw := newChat(t).frames(0, "red").raw(s); status != 200 {
				t.Fatalf("after the transient errors: %d %s", status, raw)
			}
			s.SetDown(true)
			status, _, raw := newChat(t).frames(0, "red").raw(s)
			if status != 503 {
				t.Fatalf("down: %d", status)
			}
			sameJSON(t, raw, tt.down)
			s.SetDown(false)
			s.FailNext(1, 500)
			_, _, raw = newChat(t).frames(0, "red").raw(s)
			sameJSON(t, raw, tt.fail500)
			if st := s.Stats(); st.Failed != 4 || st.Calls != 5 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestNativeEndpoints(t *testing.T) {
	t.Parallel()
	type probe struct {
		method, path, body string
		status             int
		want               string // exact JSON body; "" = any
		contains           string
	}
	tests := []struct {
		p      inferencetest.Personality
		probes []probe
	}{
		{inferencetest.Personality{}, []probe{
			{"GET", "/v1/models", "", 200, `{"object":"list","data":[{"id":"m","object":"model","owned_by":"inferencetest"}]}`, ""},
			{"GET", "/props", "", 404, "", ""},
			{"GET", "/health", "", 404, "", ""},
			{"GET", "/api/version", "", 404, "", ""},
		}},
		{inferencetest.VLLM(), []probe{
			{"GET", "/v1/models", "", 200, "", `"max_model_len":32768,"object":"model","owned_by":"vllm"`},
			{"GET", "/health", "", 200, "", ""},
			{"GET", "/props", "", 404, `{"detail":"Not Found"}`, ""},
			{"POST", "/api/show", `{"model":"m"}`, 404, "", ""},
		}},
		{inferencetest.SGLang(), []probe{
			{"GET", "/v1/models", "", 200, "", `"max_model_len":32768,"object":"model","owned_by":"sglang"`},
			{"GET", "/api/ps", "", 404, "", ""},
		}},
		{with(inferencetest.LlamaCpp(), func(p *inferencetest.Personality) { p.ContextTokens = 8192 }), []probe{
			{"GET", "/v1/models", "", 200, "", `"meta":{"n_ctx_train":131072`},
			{"GET", "/v1/models", "", 200, "", `"owned_by":"llamacpp"`},
			{"GET", "/props", "", 200, `{"default_generation_settings":{"n_ctx":8192},"total_slots":1,"modalities":{"vision":true,"audio":false},"model_path":"/models/qwen2.5-vl.gguf","build_info":"b6000"}`, ""},
			{"GET", "/health", "", 200, `{"status":"ok"}`, ""},
			{"GET", "/v1/props", "", 404, "", ""},
			{"GET", "/api/version", "", 404, "", ""},
		}},
		{inferencetest.Ollama(), []probe{
			{"GET", "/v1/models", "", 200, "", `"owned_by":"library"`},
			{"GET", "/api/version", "", 200, `{"version":"0.12.6"}`, ""},
			{"POST", "/api/show", `{"model":"m"}`, 200, "", `"capabilities":["completion","vision"]`},
			{"POST", "/api/show", `{"model":"m"}`, 200, "", `"model_info":{"general.architecture":"qwen25vl","qwen25vl.context_length":128000},"parameters":""`},
			{"POST", "/api/show", `{"model":"other"}`, 404, "", "not found"},
			{"GET", "/api/ps", "", 200, `{"models":[{"name":"m","model":"m","context_length":4096}]}`, ""},
			{"GET", "/", "", 200, "", "Ollama is running"},
			{"GET", "/props", "", 404, "", ""},
			{"GET", "/health", "", 404, "", ""},
		}},
		{with(inferencetest.Ollama(), func(p *inferencetest.Personality) { p.ContextTokens = 16384 }), []probe{
			{"POST", "/api/show", `{"model":"m"}`, 200, "", `"parameters":"num_ctx 16384"`},
			{"GET", "/api/ps", "", 200, `{"models":[{"name":"m","model":"m","context_length":16384}]}`, ""},
		}},
		{inferencetest.OpenAI(), []probe{
			{"GET", "/v1/models", "", 200, "", `"owned_by":"system"`},
			{"GET", "/health", "", 404, "", ""},
			{"GET", "/props", "", 404, "", ""},
		}},
	}
	for _, tt := range tests {
		name := tt.p.Name
		if name == "" {
			name = "friendly"
		}
		t.Run(fmt.Sprintf("%s %d", name, tt.p.ContextTokens), func(t *testing.T) {
			t.Parallel()
			s := inferencetest.New(t, inferencetest.WithPersonality(tt.p), inferencetest.WithModels("m"))
			root := strings.TrimSuffix(s.URL(), "/v1")
			if !strings.HasSuffix(s.URL(), "/v1") {
				t.Fatalf("URL %s", s.URL())
			}
			for _, pr := range tt.probes {
				req, _ := http.NewRequest(pr.method, root+pr.path, strings.NewReader(pr.body))
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != pr.status {
					t.Errorf("%s %s: %d, want %d: %s", pr.method, pr.path, res.StatusCode, pr.status, raw)
					continue
				}
				if pr.want != "" {
					sameJSON(t, raw, pr.want)
				}
				if pr.contains != "" && !strings.Contains(string(raw), pr.contains) {
					t.Errorf("%s %s: %s lacks %s", pr.method, pr.path, raw, pr.contains)
				}
			}
		})
	}
}
