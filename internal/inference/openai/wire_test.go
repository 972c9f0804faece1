package openai

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdk "github.com/openai/openai-go/v3"

	"github.com/framewise/framewise/internal/inference"
)

var update = flag.Bool("update", false, "rewrite golden files")

// render marshals params as the SDK sends them, re-indented.
func render(t *testing.T, p sdk.ChatCompletionNewParams) []byte {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// goldenRequest has text, two timestamped frames, a reference image and a
// schema: the shape of a VLM engine call.
func goldenRequest() inference.ChatRequest {
	temp := 0.2
	return inference.ChatRequest{
		Messages: []inference.Message{
			{Role: inference.RoleSystem, Parts: []inference.Part{inference.Text("You analyse video frames."), inference.Text("Answer in JSON.")}},
			{Role: inference.RoleUser, Parts: []inference.Part{
				inference.Text("Find the scenes where <@car> appears."),
				inference.Text(inference.ReferenceImageText("car")),
				inference.PNG([]byte("\x89PNG\r\n\x1a\nfake")),
				inference.Text(inference.FrameTimeText(0)),
				inference.JPEG([]byte{0xff, 0xd8, 0xff, 0xe0, 1, 2, 3}),
				inference.Text(inference.FrameTimeText(2.5)),
				{Image: &inference.Image{Data: []byte{0xff, 0xd8, 0xff, 0xe0, 4, 5, 6}, Detail: "low"}},
			}},
		},
		Temperature: &temp,
		MaxTokens:   512,
		JSONSchema:  json.RawMessage(`{"type":"object","properties":{"car_scenes":{"type":"array","description":"scenes where <@car> appears","items":{"type":"object","properties":{"start_time":{"type":"number"},"end_time":{"type":"number"}},"required":["start_time","end_time"],"additionalProperties":false}}},"required":["car_scenes"],"additionalProperties":false}`),
		SchemaName:  "time_based_metadata",
		StrictJSON:  true,
	}
}

func TestChatParamsGolden(t *testing.T) {
	t.Parallel()
	p, err := chatParams("qwen2.5-vl-7b", goldenRequest(), false)
	if err != nil {
		t.Fatal(err)
	}
	got := render(t, p)
	path := filepath.Join("testdata", "chat_request.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("wire body differs from %s (go test -update to accept):\n%s", path, got)
	}
}

func TestChatParams(t *testing.T) {
	t.Parallel()
	user := func(parts ...inference.Part) inference.Message {
		return inference.Message{Role: inference.RoleUser, Parts: parts}
	}
	one := 1.0
	tests := []struct {
		name    string
		req     inference.ChatRequest
		maxComp bool
		want    map[string]any // top-level keys that must render exactly so (JSON text)
		absent  []string
		err     string
	}{
		{
			name:   "single text part is a string",
			req:    inference.ChatRequest{Messages: []inference.Message{user(inference.Text("hi"))}},
			want:   map[string]any{"messages": `[{"content":"hi","role":"user"}]`, "model": `"m"`},
			absent: []string{"temperature", "max_tokens", "max_completion_tokens", "response_format"},
		},
		{
			name: "two text parts are an array",
			req:  inference.ChatRequest{Messages: []inference.Message{user(inference.Text("a"), inference.Text("b"))}},
			want: map[string]any{"messages": `[{"content":[{"text":"a","type":"text"},{"text":"b","type":"text"}],"role":"user"}]`},
		},
		{
			name: "system and assistant are joined strings",
			req: inference.ChatRequest{Messages: []inference.Message{
				{Role: inference.RoleSystem, Parts: []inference.Part{inference.Text("a"), inference.Text("b")}},
				{Role: inference.RoleAssistant, Parts: []inference.Part{inference.Text("c")}},
			}},
			want: map[string]any{"messages": `[{"content":"a\n\nb","role":"system"},{"content":"c","role":"assistant"}]`},
		},
		{
			name: "image MIME is sniffed when empty",
			req:  inference.ChatRequest{Messages: []inference.Message{user(inference.Part{Image: &inference.Image{Data: []byte("\x89PNG\r\n\x1a\n")}})}},
			want: map[string]any{"messages": `[{"content":[{"image_url":{"url":"data:image/png;base64,iVBORw0KGgo="},"type":"image_url"}],"role":"user"}]`},
		},
		{
			name:   "temperature zero is sent, max tokens as max_tokens",
			req:    inference.ChatRequest{Messages: []inference.Message{user(inference.Text("x"))}, Temperature: new(float64), MaxTokens: 7},
			want:   map[string]any{"temperature": `0`, "max_tokens": `7`},
			absent: []string{"max_completion_tokens"},
		},
		{
			name:    "max_completion_tokens when configured",
			req:     inference.ChatRequest{Messages: []inference.Message{user(inference.Text("x"))}, Temperature: &one, MaxTokens: 7},
			maxComp: true,
			want:    map[string]any{"temperature": `1`, "max_completion_tokens": `7`},
			absent:  []string{"max_tokens"},
		},
		{
			name: "schema with default name, not strict",
			req:  inference.ChatRequest{Messages: []inference.Message{user(inference.Text("x"))}, JSONSchema: json.RawMessage(`{"type":"object"}`)},
			want: map[string]any{"response_format": `{"json_schema":{"name":"response","strict":false,"schema":{"type":"object"}},"type":"json_schema"}`},
		},
		{
			name: "schema name is sanitised",
			req:  inference.ChatRequest{Messages: []inference.Message{user(inference.Text("x"))}, JSONSchema: json.RawMessage(`{}`), SchemaName: "time based: metadata!", StrictJSON: true},
			want: map[string]any{"response_format": `{"json_schema":{"name":"time_based_metadata","strict":true,"schema":{}},"type":"json_schema"}`},
		},
		{
			name: "invalid request is refused before sending",
			req:  inference.ChatRequest{},
			err:  "no messages",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := chatParams("m", tt.req, tt.maxComp)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(p)
			var got map[string]json.RawMessage
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.want {
				if string(got[k]) != want {
					t.Errorf("%s = %s, want %s", k, got[k], want)
				}
			}
			for _, k := range tt.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s is sent: %s", k, got[k])
				}
			}
		})
	}
}

func TestChatResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want *inference.ChatResponse
		err  bool
	}{
		{"stop", `{"choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}}`,
			&inference.ChatResponse{Text: "hello", FinishReason: "stop", InputTokens: 10, OutputTokens: 2}, false},
		{"length without usage", `{"choices":[{"message":{"content":"hel"},"finish_reason":"length"}]}`,
			&inference.ChatResponse{Text: "hel", FinishReason: "length"}, false},
		{"refusal", `{"choices":[{"message":{"content":null,"refusal":"I can't help"},"finish_reason":"stop"}]}`,
			&inference.ChatResponse{Text: "I can't help", FinishReason: "refusal"}, false},
		{"no choices", `{"choices":[]}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c sdk.ChatCompletion
			if err := json.Unmarshal([]byte(tt.body), &c); err != nil {
				t.Fatal(err)
			}
			got, err := chatResponse(&c)
			if tt.err {
				if err == nil {
					t.Fatalf("want error, got %+v", got)
				}
				return
			}
			if err != nil || *got != *tt.want {
				t.Fatalf("chatResponse = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestTranscriptSegments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string
		offset float64
		want   []inference.TranscriptSegment
	}{
		{"segments shifted, blank dropped", `{"text":"a b","duration":4,"segments":[{"start":0,"end":1.5,"text":" a "},{"start":1.5,"end":2,"text":"  "},{"start":2,"end":4,"text":"b"}]}`, 60,
			[]inference.TranscriptSegment{{Start: 60, End: 61.5, Text: "a"}, {Start: 62, End: 64, Text: "b"}}},
		{"text only", `{"text":" hello ","duration":3}`, 10, []inference.TranscriptSegment{{Start: 10, End: 13, Text: "hello"}}},
		{"silence", `{"text":"","segments":[]}`, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var u sdk.AudioTranscriptionNewResponseUnion
			if err := json.Unmarshal([]byte(tt.body), &u); err != nil {
				t.Fatal(err)
			}
			got := transcriptSegments(&u, tt.offset)
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("segment %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, want string }{
		{`{"error":{"message":"model not found","type":"invalid_request_error"}}`, "model not found"},
		{`{"error":"model \"x\" not found, try pulling it first"}`, `model "x" not found, try pulling it first`},
		{`{"object":"error","message":"context too long","code":400}`, "context too long"},
		{`{"detail":"Not Found"}`, "Not Found"},
		{`{"detail":[{"loc":["body","model"],"msg":"field required"}]}`, `[{"loc":["body","model"],"msg":"field required"}]`},
		{"upstream   connect error\n", "upstream connect error"},
		{"<html><body>502 Bad Gateway</body></html>", ""},
		{"", ""},
		{strings.Repeat("é", 400), strings.Repeat("é", 150) + "…"},
	}
	for _, tt := range tests {
		if got := errorMessage([]byte(tt.body)); got != tt.want {
			t.Errorf("errorMessage(%.40q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header map[string]string
		want   time.Duration
		ok     bool
	}{
		{map[string]string{"Retry-After": "1"}, time.Second, true},
		{map[string]string{"Retry-After": "0.5"}, 500 * time.Millisecond, true},
		{map[string]string{"Retry-After": now.Add(3 * time.Second).Format(http.TimeFormat)}, 3 * time.Second, true},
		{map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0, true},
		{map[string]string{"Retry-After-Ms": "250", "Retry-After": "9"}, 250 * time.Millisecond, true},
		{map[string]string{"Retry-After": "soon"}, 0, false},
		{map[string]string{"Retry-After": "-3"}, 0, false},
		{nil, 0, false},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.header {
			h.Set(k, v)
		}
		got, ok := retryAfter(h, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%v) = %v, %v; want %v, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	c, err := New(Config{BaseURL: "http://127.0.0.1:1/v1", Model: "m", RetryBaseDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for n, hi := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: time.Second, 40: time.Second} {
		for range 50 {
			if d := c.backoff(n); d < hi/2 || d > hi {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, hi/2, hi)
			}
		}
	}
}

func TestSchemaName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": "response", "___": "response", "ok-name_1": "ok-name_1", strings.Repeat("a", 70): strings.Repeat("a", 64)} {
		if got := schemaName(in); got != want {
			t.Errorf("schemaName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSizeOf: every overflow body of BACKENDS.md §1 and §5 is recognised,
// with the numbers when the server gives them; other errors are not.
func TestSizeOf(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		status int
		body   string
		want   tooLarge
	}{
		{"vllm ≤0.10 flat", 400, `{"object":"error","message":"This model's maximum context length is 32768 tokens. However, you requested 35995 tokens (3227 in the messages, 32768 in the completion). Please reduce the length of the messages or completion.","type":"BadRequestError","param":null,"code":400}`,
			tooLarge{overflow: true, context: 32768, prompt: 3227}},
		{"vllm 0.10–0.17", 400, `{"error":{"message":"'max_tokens' or 'max_completion_tokens' is too large: 32768. This model's maximum context length is 32768 tokens and your request has 3227 input tokens (32768 > 32768 - 3227).","type":"BadRequestError","param":null,"code":400}}`,
			tooLarge{overflow: true, context: 32768, prompt: 3227}},
		{"vllm 0.17+", 400, `{"error":{"message":"You passed 3227 input tokens and requested 32768 output tokens. However, the model's context length is only 32768 tokens, resulting in a maximum input length of 0 tokens. Please reduce the length of the input prompt. (parameter=input_tokens, value=3227)","type":"BadRequestError","param":"input_tokens","code":400}}`,
			tooLarge{overflow: true, context: 32768, prompt: 3227}},
		{"sglang total", 400, `{"object":"error","message":"Requested token count exceeds the model's maximum context length of 32768 tokens. You requested a total of 35995 tokens: 3227 tokens from the input messages and 32768 tokens for the completion. Please reduce the number of tokens in the input messages or the completion to fit within the limit.","type":"BadRequestError","param":null,"code":400}`,
			tooLarge{overflow: true, context: 32768, prompt: 3227}},
		{"sglang input", 400, `{"object":"error","message":"The input (40000 tokens) is longer than the model's context length (32768 tokens).","type":"BadRequestError","param":null,"code":400}`,
			tooLarge{overflow: true, context: 32768, prompt: 40000}},
		{"llama.cpp", 400, `{"error":{"code":400,"message":"request (5000 tokens) exceeds the available context size (4096 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":5000,"n_ctx":4096}}`,
			tooLarge{overflow: true, context: 4096, prompt: 5000}},
		{"openai", 400, `{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			tooLarge{overflow: true, context: 128000, prompt: 130000}},
		{"openai request too large", 429, `{"error":{"message":"Request too large for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Requested 45000. The input or output tokens must be reduced in order to run successfully.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`,
			tooLarge{overflow: true, context: 30000, neverRetry429Tokens: true}},
		{"vllm image limit", 400, `{"error":{"message":"At most 8 image(s) may be provided in one prompt.","type":"BadRequestError","param":null,"code":400}}`,
			tooLarge{imageLimit: 8}},
		{"429 rate limit", 429, `{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}`, tooLarge{}},
		{"503 loading", 503, `{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}`, tooLarge{}},
		{"other 400", 400, `{"error":{"message":"Unknown parameter","type":"invalid_request_error"}}`, tooLarge{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			msg, typ, _ := errorInfo([]byte(c.body))
			if got := sizeOf(c.status, []byte(c.body), msg, typ); got != c.want {
				t.Fatalf("sizeOf = %+v, want %+v", got, c.want)
			}
		})
	}
}
