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

// errorMessage extracts the server's own explanation from an error body in
// the dialects seen in the wild: OpenAI and vLLM {"error":{"message"}},
// Ollama {"error":"…"}, SGLang {"message"}, FastAPI {"detail"}; anything
// else is quoted as short plain text.
func errorMessage(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &v) == nil {
		var nested struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(v.Error, &nested) == nil && nested.Message != "":
			return clip(nested.Message)
		case json.Unmarshal(v.Error, &s) == nil && s != "":
			return clip(s)
		case v.Message != "":
			return clip(v.Message)
		case json.Unmarshal(v.Detail, &s) == nil && s != "":
			return clip(s)
		case len(v.Detail) > 0 && string(v.Detail) != "null":
			return clip(string(v.Detail))
		}
	}
	text := strings.TrimSpace(string(body))
	if strings.HasPrefix(text, "<") { // an HTML error page says nothing useful
		return ""
	}
	return clip(strings.Join(strings.Fields(text), " "))
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
