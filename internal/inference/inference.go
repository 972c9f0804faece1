// Package inference is the model port of framewise: the few types an engine
// needs to talk to a vision-language model (Chatter) and to a speech
// recogniser (Transcriber), independent of any wire protocol. Adapters live in
// subpackages (openai); the one test double lives in inferencetest.
//
// The port is deliberately small: a chat request is a list of messages made of
// text and image parts, optionally constrained to a JSON schema; a
// transcription is a list of timed segments. Everything a backend does wrong
// comes back as a *BackendError that says whether retrying later can help.
package inference

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Roles of a Message.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Finish reasons of a ChatResponse. Backends may report others
// ("content_filter", "refusal", …); they are passed through unchanged.
const (
	FinishStop   = "stop"
	FinishLength = "length" // the answer was cut at MaxTokens: do not trust it as complete
)

// Part is one piece of a message: exactly one of Text and Image is set.
type Part struct {
	Text  string
	Image *Image
}

// Image is an encoded still frame sent inline to the model.
type Image struct {
	MIME string // "image/jpeg" or "image/png"; empty means sniff Data
	Data []byte // encoded JPEG or PNG bytes
	// Detail is the resolution hint some backends honour: "", "auto",
	// "low" or "high". Empty leaves the backend's default.
	Detail string
}

// Message is one turn of a conversation.
type Message struct {
	Role  string // RoleSystem, RoleUser or RoleAssistant
	Parts []Part
}

// ChatRequest is one call to a chat model.
type ChatRequest struct {
	Messages []Message
	// Temperature is sent only when set; nil leaves the backend's default.
	Temperature *float64
	// MaxTokens bounds the answer; 0 leaves the backend's default. An answer
	// that reaches it comes back with FinishReason FinishLength.
	MaxTokens int
	// JSONSchema, when set, asks for structured output following it: a JSON
	// Schema object, sent under SchemaName (default "response"). StrictJSON
	// chooses strict mode where the backend supports it (it then requires
	// every property to be required and additionalProperties false).
	JSONSchema json.RawMessage
	SchemaName string
	StrictJSON bool
	// Stream, when set, asks the backend to stream its answer and receives
	// the answer's text in order as it arrives (fragments may split
	// anywhere, even mid-word); Chat still returns the whole ChatResponse
	// at the end. Reasoning text (reasoning_content, reasoning, <think>…</think>
	// in content) is never passed to Stream. Once Stream has been called,
	// a failure is returned as is and the request is not retried.
	Stream func(text string)
}

// ChatResponse is a model's answer.
type ChatResponse struct {
	Text         string
	FinishReason string // FinishStop, FinishLength or what the backend said
	InputTokens  int
	OutputTokens int
}

// Chatter sends a chat request to a model. Implementations are safe for
// concurrent use and bound their own concurrency. With ChatRequest.Stream
// set, Chat streams; an implementation that cannot stream calls Stream once
// with the whole text.
type Chatter interface {
	Chat(ctx context.Context, req ChatRequest) (*ChatResponse, error)
}

// TranscriptSegment is one span of recognised speech (or sound), in seconds.
type TranscriptSegment struct {
	Start, End float64
	Text       string
}

// Transcriber turns audio into timed text. The offset is added to every
// returned time, so a caller that cuts a long recording into chunks gets
// times on the timeline of the whole recording.
type Transcriber interface {
	Transcribe(ctx context.Context, audio io.Reader, filename string, offset float64) ([]TranscriptSegment, error)
}

// BackendError is a failure of a model backend, as opposed to a cancelled
// context. Temporary says whether the same request may succeed later (the
// backend was down, overloaded or slow) or will fail again as it stands (bad
// request, wrong key, unknown model).
type BackendError struct {
	Backend    string // profile name of the backend
	StatusCode int    // HTTP status of the last attempt; 0 when none arrived
	// Message is the whole explanation, fit for an operator: it names the
	// backend and, when the backend sent one, carries its own message.
	Message   string
	Temporary bool
	// RetryAfter is the wait the backend asked for, if it asked.
	RetryAfter time.Duration
	// Overflow reports a request too large for the model: prompt plus
	// answer beyond its context (any of the bodies of BACKENDS.md §1), or
	// beyond a hosted API's tokens per request. The same request never
	// succeeds; a smaller one may.
	Overflow bool
	// PromptTokens and ContextTokens are the numbers the server gave with
	// an overflow (0 when it gave none): what it counted for the prompt, and
	// its limit.
	PromptTokens, ContextTokens int
	// ImageLimit is the most images per request the server said it takes
	// ("At most 8 image(s) may be provided in one prompt."), 0 if it did not.
	ImageLimit int
	// Err is the underlying cause (a transport error), if any.
	Err error
}

func (e *BackendError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("model backend %q failed (HTTP %d)", e.Backend, e.StatusCode)
}

func (e *BackendError) Unwrap() error { return e.Err }

// IsTemporary reports whether err is a *BackendError that retrying later may
// cure. A cancelled or expired context is not a backend failure and reports
// false; callers check it with errors.Is.
func IsTemporary(err error) bool {
	var be *BackendError
	return errors.As(err, &be) && be.Temporary
}

// AsTooLarge returns the *BackendError in err's chain when it says the
// request was too large for the backend (Overflow or an ImageLimit): a
// smaller request may succeed.
func AsTooLarge(err error) (*BackendError, bool) {
	var be *BackendError
	if errors.As(err, &be) && (be.Overflow || be.ImageLimit > 0) {
		return be, true
	}
	return nil, false
}

// Validate checks the shape of a request before it is sent: at least one
// message, known roles, every part exactly one of text or image, images only
// in user messages, and a schema that is a JSON object.
func (r ChatRequest) Validate() error {
	if len(r.Messages) == 0 {
		return errors.New("inference: chat request has no messages")
	}
	for i, m := range r.Messages {
		switch m.Role {
		case RoleSystem, RoleUser, RoleAssistant:
		default:
			return fmt.Errorf("inference: message %d has unknown role %q", i, m.Role)
		}
		if len(m.Parts) == 0 {
			return fmt.Errorf("inference: message %d (%s) has no parts", i, m.Role)
		}
		for j, p := range m.Parts {
			switch {
			case p.Image != nil && p.Text != "":
				return fmt.Errorf("inference: message %d part %d sets both text and image", i, j)
			case p.Image == nil && p.Text == "":
				return fmt.Errorf("inference: message %d part %d is empty", i, j)
			case p.Image != nil && m.Role != RoleUser:
				return fmt.Errorf("inference: message %d part %d: images are allowed only in user messages, not %s", i, j, m.Role)
			case p.Image != nil && len(p.Image.Data) == 0:
				return fmt.Errorf("inference: message %d part %d: image has no data", i, j)
			}
			if p.Image != nil {
				switch p.Image.Detail {
				case "", "auto", "low", "high":
				default:
					return fmt.Errorf("inference: message %d part %d: image detail %q is not auto, low or high", i, j, p.Image.Detail)
				}
			}
		}
	}
	if r.MaxTokens < 0 {
		return fmt.Errorf("inference: max tokens %d is negative", r.MaxTokens)
	}
	if len(r.JSONSchema) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(r.JSONSchema, &obj); err != nil {
			return fmt.Errorf("inference: JSON schema is not a JSON object: %w", err)
		}
	}
	return nil
}

// Text returns a text part.
func Text(s string) Part { return Part{Text: s} }

// JPEG returns an image part holding JPEG bytes.
func JPEG(data []byte) Part { return Part{Image: &Image{MIME: "image/jpeg", Data: data}} }

// PNG returns an image part holding PNG bytes.
func PNG(data []byte) Part { return Part{Image: &Image{MIME: "image/png", Data: data}} }

// Servers a backend can be identified as (Limits.Server).
const (
	ServerVLLM     = "vllm"
	ServerSGLang   = "sglang"
	ServerLlamaCpp = "llamacpp"
	ServerOllama   = "ollama"
	ServerOpenAI   = "openai"
)

// Limits are what an engine must respect when it sizes a call to one
// backend. They come from probing the server (openai.Client.Probe) and from
// the profile, whose settings win. Zero values mean unknown.
type Limits struct {
	// Server is the kind of server (ServerVLLM, …), "" when unknown.
	Server string
	// ContextTokens is the context length the server enforces for one
	// request: prompt plus answer (vLLM max_model_len, llama.cpp n_ctx of a
	// slot, Ollama num_ctx).
	ContextTokens int
	// ContextSource says where ContextTokens came from, for messages
	// ("max_model_len of /v1/models", "profile context_tokens", …).
	ContextSource string
	// ImageTokens is what the server counts for one image when it decides
	// whether a prompt fits (Ollama estimates 768 whatever the image); 0
	// leaves the engine's own estimate.
	ImageTokens int
	// MaxImages is the most images the server takes in one request; 0 when
	// unknown or unlimited.
	MaxImages int
	// DropsOldest reports a server that does not refuse a prompt too long
	// for its context but silently drops its oldest parts (Ollama).
	DropsOldest bool
}
