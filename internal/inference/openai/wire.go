package openai

// The wire translation: pure functions between the inference port and the
// openai-go parameter and response types. No I/O happens here, so every rule
// is table-tested (wire_test.go) and the rendered request body is pinned by a
// golden file.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/framewise/framewise/internal/inference"
)

// defaultSchemaName names a JSON schema sent without a SchemaName.
const defaultSchemaName = "response"

// chatParams renders a request for model. maxCompletionTokens chooses the
// max_completion_tokens field instead of max_tokens (see Config).
//
// Shape, chosen for the widest compatibility across OpenAI-compatible
// servers: system and assistant content is one string (text parts joined by
// a blank line), a user message of one text part is a string, any other user
// message is an array of text and image_url parts in order, images as
// base64 data URLs.
func chatParams(model string, req inference.ChatRequest, maxCompletionTokens bool) (sdk.ChatCompletionNewParams, error) {
	if err := req.Validate(); err != nil {
		return sdk.ChatCompletionNewParams{}, err
	}
	p := sdk.ChatCompletionNewParams{Model: shared.ChatModel(model)}
	for _, m := range req.Messages {
		switch m.Role {
		case inference.RoleSystem:
			p.Messages = append(p.Messages, sdk.SystemMessage(joinText(m.Parts)))
		case inference.RoleAssistant:
			p.Messages = append(p.Messages, sdk.AssistantMessage(joinText(m.Parts)))
		case inference.RoleUser:
			if len(m.Parts) == 1 && m.Parts[0].Image == nil {
				p.Messages = append(p.Messages, sdk.UserMessage(m.Parts[0].Text))
				continue
			}
			parts := make([]sdk.ChatCompletionContentPartUnionParam, 0, len(m.Parts))
			for _, part := range m.Parts {
				if part.Image == nil {
					parts = append(parts, sdk.TextContentPart(part.Text))
					continue
				}
				parts = append(parts, sdk.ImageContentPart(sdk.ChatCompletionContentPartImageImageURLParam{
					URL:    dataURL(part.Image),
					Detail: part.Image.Detail,
				}))
			}
			p.Messages = append(p.Messages, sdk.UserMessage(parts))
		}
	}
	if req.Temperature != nil {
		p.Temperature = sdk.Float(*req.Temperature)
	}
	if req.MaxTokens > 0 {
		if maxCompletionTokens {
			p.MaxCompletionTokens = sdk.Int(int64(req.MaxTokens))
		} else {
			p.MaxTokens = sdk.Int(int64(req.MaxTokens))
		}
	}
	if len(req.JSONSchema) > 0 {
		p.ResponseFormat = sdk.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
				JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
					Name:   schemaName(req.SchemaName),
					Schema: json.RawMessage(req.JSONSchema),
					Strict: sdk.Bool(req.StrictJSON),
				},
			},
		}
	}
	return p, nil
}

func joinText(parts []inference.Part) string {
	texts := make([]string, 0, len(parts))
	for _, p := range parts {
		texts = append(texts, p.Text)
	}
	return strings.Join(texts, "\n\n")
}

// dataURL inlines an image; an image without a MIME type is sniffed.
func dataURL(img *inference.Image) string {
	mime := img.MIME
	if mime == "" {
		mime = http.DetectContentType(img.Data)
	}
	return "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(img.Data)
}

var schemaNameInvalid = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// schemaName makes name acceptable to OpenAI (a-z, A-Z, 0-9, _ and -, at
// most 64 characters); vLLM and others accept anything.
func schemaName(name string) string {
	name = strings.Trim(schemaNameInvalid.ReplaceAllString(name, "_"), "_")
	if len(name) > 64 {
		name = name[:64]
	}
	if name == "" {
		return defaultSchemaName
	}
	return name
}

// chatResponse reads the first choice. A refusal (OpenAI hosted models) comes
// back as its text with finish reason "refusal".
func chatResponse(c *sdk.ChatCompletion) (*inference.ChatResponse, error) {
	if c == nil || len(c.Choices) == 0 {
		return nil, fmt.Errorf("the response has no choices")
	}
	ch := c.Choices[0]
	r := &inference.ChatResponse{
		Text:         ch.Message.Content,
		FinishReason: ch.FinishReason,
		InputTokens:  int(c.Usage.PromptTokens),
		OutputTokens: int(c.Usage.CompletionTokens),
	}
	// A reasoning model on a server without a reasoning parser thinks
	// aloud in the content; servers with one put the thinking in
	// reasoning_content or reasoning, which are not the answer either.
	r.Text = inference.StripReasoning(r.Text)
	if r.Text == "" && ch.Message.Refusal != "" {
		r.Text, r.FinishReason = ch.Message.Refusal, "refusal"
	}
	return r, nil
}

// transcriptSegments reads a verbose_json transcription. A server that
// ignores timestamp_granularities and sends only text yields one segment
// covering the reported duration.
func transcriptSegments(t *sdk.AudioTranscriptionNewResponseUnion, offset float64) []inference.TranscriptSegment {
	if t == nil {
		return nil
	}
	var out []inference.TranscriptSegment
	for _, s := range t.Segments {
		text := strings.TrimSpace(s.Text)
		if text == "" {
			continue
		}
		out = append(out, inference.TranscriptSegment{Start: s.Start + offset, End: s.End + offset, Text: text})
	}
	if len(t.Segments) == 0 {
		if text := strings.TrimSpace(t.Text); text != "" {
			out = append(out, inference.TranscriptSegment{Start: offset, End: offset + t.Duration, Text: text})
		}
	}
	return out
}

// errorInfo reads an error body in the dialects seen in the wild: OpenAI,
// vLLM ≥ 0.10.1, llama.cpp and Ollama nested {"error":{"message","type",
// "code"}}, Ollama {"error":"…"}, SGLang and old vLLM flat {"message",
// "type","code"}, FastAPI {"detail"}; anything else is quoted as short plain
// text. code is a string whether the server sent a string or a number.
func errorInfo(body []byte) (message, typ, code string) {
	type fields struct {
		Message       string          `json:"message"`
		Type          string          `json:"type"`
		Code          json.RawMessage `json:"code"`
		NPromptTokens int             `json:"n_prompt_tokens"`
		NCtx          int             `json:"n_ctx"`
	}
	var v struct {
		fields
		Error  json.RawMessage `json:"error"`
		Detail json.RawMessage `json:"detail"`
	}
	codeText := func(raw json.RawMessage) string {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		if len(raw) > 0 && string(raw) != "null" {
			return string(raw)
		}
		return ""
	}
	if json.Unmarshal(body, &v) == nil {
		var nested fields
		var s string
		switch {
		case json.Unmarshal(v.Error, &nested) == nil && nested.Message != "":
			return clip(nested.Message), nested.Type, codeText(nested.Code)
		case json.Unmarshal(v.Error, &s) == nil && s != "":
			return clip(s), "", ""
		case v.Message != "":
			return clip(v.Message), v.Type, codeText(v.Code)
		case json.Unmarshal(v.Detail, &s) == nil && s != "":
			return clip(s), "", ""
		case len(v.Detail) > 0 && string(v.Detail) != "null":
			return clip(string(v.Detail)), "", ""
		}
	}
	text := strings.TrimSpace(string(body))
	if strings.HasPrefix(text, "<") { // an HTML error page says nothing useful
		return "", "", ""
	}
	return clip(strings.Join(strings.Fields(text), " ")), "", ""
}

// errorMessage is errorInfo's message.
func errorMessage(body []byte) string {
	m, _, _ := errorInfo(body)
	return m
}

// tooLarge is what an error answer says about the size of the request.
type tooLarge struct {
	overflow            bool
	prompt, context     int
	imageLimit          int
	neverRetry429Tokens bool
}

var (
	// Phrases of context overflow across servers and versions (BACKENDS.md
	// §1, §5); several, so that a reworded message is still recognised.
	overflowPhrases = []string{"context length", "context size", "maximum context", "context window",
		"context_length_exceeded", "exceed_context_size", "maximum input length", "too many tokens", "prompt is too long"}
	contextNumberRE = []*regexp.Regexp{
		regexp.MustCompile(`context length is (?:only )?(\d+)`),
		regexp.MustCompile(`maximum context length (?:is|of) (\d+)`),
		regexp.MustCompile(`context size \((\d+) tokens\)`),
		regexp.MustCompile(`context length \((\d+) tokens\)`),
		regexp.MustCompile(`"n_ctx":\s*(\d+)`),
		regexp.MustCompile(`\(TPM\): Limit (\d+)`),
	}
	promptNumberRE = []*regexp.Regexp{
		regexp.MustCompile(`You passed (\d+) input tokens`),
		regexp.MustCompile(`request has (\d+) input tokens`),
		regexp.MustCompile(`request \((\d+) tokens\)`),
		regexp.MustCompile(`The input \((\d+) tokens\)`),
		regexp.MustCompile(`(\d+) tokens from the input messages`),
		regexp.MustCompile(`messages resulted in (\d+) tokens`),
		regexp.MustCompile(`\((\d+) in the messages`),
		regexp.MustCompile(`"n_prompt_tokens":\s*(\d+)`),
	}
	imageLimitRE = regexp.MustCompile(`(?i)at most (\d+) image`)
)

// sizeOf reads an error answer for what it says about the request's size:
// a context overflow (status 400 or 413 and one of several phrases, with
// the numbers when given), an image limit, or OpenAI's 429 "Request too
// large" (type "tokens"), which no retry cures.
func sizeOf(status int, body []byte, message, typ string) tooLarge {
	var t tooLarge
	lower := strings.ToLower(message + " " + typ)
	firstNumber := func(res []*regexp.Regexp, text string) int {
		for _, re := range res {
			if m := re.FindStringSubmatch(text); m != nil {
				n, _ := strconv.Atoi(m[1])
				return n
			}
		}
		return 0
	}
	switch {
	case status == http.StatusTooManyRequests && (typ == "tokens" || strings.Contains(lower, "request too large")):
		t.overflow, t.neverRetry429Tokens = true, true
	case status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge:
		for _, p := range overflowPhrases {
			if strings.Contains(lower, p) {
				t.overflow = true
				break
			}
		}
		if m := imageLimitRE.FindStringSubmatch(message); m != nil {
			t.imageLimit, _ = strconv.Atoi(m[1])
		}
	}
	if t.overflow {
		full := message + " " + string(body)
		t.context = firstNumber(contextNumberRE, full)
		t.prompt = firstNumber(promptNumberRE, full)
	}
	return t
}

func clip(s string) string {
	const limit = 300
	s = strings.TrimSpace(s)
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// retryAfter reads how long the server asked us to wait: Retry-After in
// seconds or as an HTTP date, or OpenAI's retry-after-ms.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if h == nil {
		return 0, false
	}
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// retryableStatus says whether an HTTP status may go away by itself.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}
