package openai

// Streaming (inference.ChatRequest.Stream). The request is the same as
// without streaming plus stream: true and stream_options.include_usage; the
// event stream is read here, not by openai-go's decoder, which skips old
// llama.cpp's `error:` lines and raw JSON error lines and drops a last
// event that has no blank line after it. What real servers do
// (BACKENDS.md §6) and what is made of it:
//
//   - usage comes in a chunk of its own whose choices are [] (vLLM, SGLang,
//     OpenAI, Ollama) or beside the last choice (llama.cpp): choices are
//     never indexed blindly, usage is taken from whichever chunk has it;
//   - an error inside the HTTP 200 stream — `data: {"error":…}` (then
//     [DONE] or not), `event: error`, old llama.cpp's `error: {…}` line, a
//     bare JSON error line — is the server's failure, with its message;
//   - a stream that ends cleanly (the HTTP body complete) without [DONE]
//     and without finish_reason (Ollama) is a complete answer, finish
//     reason "stop"; a body cut short (connection dropped, reset, no end
//     of the chunked body) is an error, never a short answer;
//   - comment lines (`: keep-alive`), event ids and unknown fields
//     (timings, obfuscation, matched_stop) are ignored;
//   - reasoning deltas (reasoning_content, reasoning) are not the answer;
//     <think>…</think> in content is withheld by inference.ReasoningFilter
//     even when split across chunks;
//   - a server that ignores stream and answers one JSON completion is read
//     as such, its text passed to Stream once.
//
// Failures before the first text reached Stream are retried like any call;
// after it they are returned at once, not Temporary, since a retry would
// repeat text the caller has passed on.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/framewise/framewise/internal/inference"
)

// maxEventBytes bounds one event of a stream (a server that never ends a
// line must not fill memory).
const maxEventBytes = 8 << 20

// chatStream sends params as a streamed request; emit receives the
// answer's text as it arrives.
func (c *Client) chatStream(ctx context.Context, params sdk.ChatCompletionNewParams, emit func(string)) (*inference.ChatResponse, error) {
	params.StreamOptions = sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)}
	sent := 0 // characters passed to emit, over all attempts
	count := func(text string) {
		sent += utf8.RuneCountInString(text)
		emit(text)
	}
	var resp *inference.ChatResponse
	err := c.do(ctx, func(ctx context.Context, opt option.RequestOption) error {
		var res *http.Response
		_, err := c.chat.New(ctx, params, opt,
			option.WithJSONSet("stream", true),
			option.WithHeader("Accept", "text/event-stream"),
			option.WithResponseBodyInto(&res))
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt == "application/json" {
			resp, err = readWhole(res.Body, count)
		} else {
			resp, err = readStream(res.Body, count)
		}
		if err != nil && sent > 0 {
			return &afterText{err: err, chars: sent}
		}
		return err
	})
	return resp, err
}

// afterText is a failure once part of the answer was passed to Stream.
type afterText struct {
	err   error
	chars int
}

func (e *afterText) Error() string { return e.err.Error() }
func (e *afterText) Unwrap() error { return e.err }

// streamFault is an error the server sent inside an HTTP 200 stream.
// status is the error's code when it is an HTTP status, else 500.
type streamFault struct {
	status int
	body   []byte // the error event, for errorInfo and sizeOf
}

func (f *streamFault) Error() string {
	return "error inside the answer stream: " + errorMessage(f.body)
}

// newStreamFault reads an error event: {"error":{…}}, {"error":"…"}, a
// bare error object or text (errorInfo reads them all).
func newStreamFault(data []byte) *streamFault {
	data = bytes.TrimSpace(data)
	f := &streamFault{status: http.StatusInternalServerError, body: data}
	var v struct {
		Error struct {
			Code json.RawMessage `json:"code"`
		} `json:"error"`
		Code json.RawMessage `json:"code"`
	}
	if json.Unmarshal(data, &v) == nil {
		for _, raw := range []json.RawMessage{v.Error.Code, v.Code} {
			var n int
			if json.Unmarshal(raw, &n) == nil && n >= 400 && n <= 599 {
				f.status = n
				break
			}
		}
	}
	return f
}

// streamChunk is what is read of one chat.completion.chunk.
type streamChunk struct {
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content string `json:"content"`
			Refusal string `json:"refusal"`
		} `json:"delta"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// readStream reads a chat-completions event stream; emit receives the
// answer's text as it arrives. See the top of this file for the rules.
func readStream(body io.Reader, emit func(string)) (*inference.ChatResponse, error) {
	var (
		content, refusal strings.Builder
		resp             inference.ChatResponse
		chunks           int // chunks with a choice
		done             bool
	)
	filter := inference.NewReasoningFilter(emit)
	handle := func(event string, data []byte) error {
		data = bytes.TrimSuffix(data, []byte("\n"))
		if event == "error" {
			return newStreamFault(data)
		}
		if string(bytes.TrimSpace(data)) == "[DONE]" {
			done = true
			return nil
		}
		var ch streamChunk
		if err := json.Unmarshal(data, &ch); err != nil {
			return fmt.Errorf("event %q is not a chat completion chunk: %w", clip(string(data)), err)
		}
		if len(ch.Error) > 0 && string(ch.Error) != "null" {
			return newStreamFault(data)
		}
		if ch.Usage != nil {
			resp.InputTokens, resp.OutputTokens = ch.Usage.PromptTokens, ch.Usage.CompletionTokens
		}
		for _, choice := range ch.Choices {
			if choice.Index != 0 {
				continue
			}
			chunks++
			if choice.Delta.Content != "" {
				content.WriteString(choice.Delta.Content)
				filter.Write(choice.Delta.Content)
			}
			refusal.WriteString(choice.Delta.Refusal)
			if choice.FinishReason != "" {
				resp.FinishReason = choice.FinishReason
			}
		}
		return nil
	}

	r := bufio.NewReader(body)
	var (
		event string
		data  []byte
	)
	for !done {
		line, err := readLine(r)
		if err != nil && (err != io.EOF || line == "") {
			if err != io.EOF {
				return nil, err
			}
			if len(data) > 0 { // a last event without its blank line
				if err := handle(event, data); err != nil {
					return nil, err
				}
			}
			break
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch {
		case line == "":
			if len(data) > 0 {
				if err := handle(event, data); err != nil {
					return nil, err
				}
			}
			event, data = "", nil
		case strings.HasPrefix(line, "{"):
			// A bare JSON line: a server that writes its error body into
			// a stream already begun (seen in no source; read defensively).
			if strings.Contains(line, `"error"`) {
				return nil, newStreamFault([]byte(line))
			}
		case field == "data":
			if len(data)+len(value) > maxEventBytes {
				return nil, fmt.Errorf("an event of the stream is longer than %d bytes", maxEventBytes)
			}
			data = append(append(data, value...), '\n')
		case field == "event":
			event = value
		case field == "error": // old llama.cpp: "error: {…}"
			return nil, newStreamFault([]byte(value))
		}
		// Comments (": keep-alive"), id, retry and unknown fields are ignored.
	}
	if chunks == 0 {
		return nil, errors.New("the stream ended without an answer")
	}
	filter.Close()
	resp.Text = inference.StripReasoning(content.String())
	if resp.FinishReason == "" {
		resp.FinishReason = inference.FinishStop
	}
	if resp.Text == "" && refusal.Len() > 0 {
		resp.Text, resp.FinishReason = refusal.String(), "refusal"
		emit(resp.Text)
	}
	return &resp, nil
}

// readLine reads one line without its end (\n or \r\n), bounded by
// maxEventBytes.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		part, err := r.ReadSlice('\n')
		b = append(b, part...)
		if len(b) > maxEventBytes {
			return "", fmt.Errorf("a line of the stream is longer than %d bytes", maxEventBytes)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		line := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		return line, err
	}
}

// readWhole reads a server's whole JSON completion sent in answer to a
// streamed request, and passes its text to emit once.
func readWhole(body io.Reader, emit func(string)) (*inference.ChatResponse, error) {
	var out sdk.ChatCompletion
	if err := json.NewDecoder(body).Decode(&out); err != nil {
		return nil, err
	}
	resp, err := chatResponse(&out)
	if err != nil {
		return nil, err
	}
	if resp.Text != "" {
		emit(resp.Text)
	}
	return resp, nil
}

// broken is the error of a stream that failed after part of the answer was
// passed on: never Temporary, since a retry would repeat that part.
func (c *Client) broken(at *afterText, timedOut bool) *inference.BackendError {
	be := &inference.BackendError{Backend: c.name, StatusCode: http.StatusOK, Err: at.err}
	var f *streamFault
	detail := ""
	switch {
	case timedOut:
		detail = fmt.Sprintf("no complete answer within %s", c.timeout)
	case errors.As(at.err, &f):
		detail = fmt.Sprintf("it sent an error inside the stream (code %d): %s", f.status, errorMessage(f.body))
		be.StatusCode = f.status
	case isTransportError(at.err):
		detail = "the connection broke: " + transportCause(at.err).Error()
	default:
		detail = "unreadable stream: " + at.err.Error()
	}
	be.Message = fmt.Sprintf("model backend %q (%s) failed after streaming %d characters of its answer (not retried): %s",
		c.name, c.host, at.chars, detail)
	return be
}
