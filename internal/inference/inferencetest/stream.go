package inferencetest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"time"
	"unicode/utf8"
)

// Streaming is described in the package doc ("Streaming").

// streamFault is a fault for the next streamed calls.
type streamFault struct{ calls, after int }

// take uses one call of the fault: the fragments after which it strikes, or
// -1 when it is not set.
func (f *streamFault) take() int {
	if f.calls <= 0 {
		return -1
	}
	f.calls--
	return f.after
}

// FailStreamNext makes the next n streamed chat calls send an error inside
// their HTTP 200 stream after `after` fragments, in the personality's way.
func (s *Server) FailStreamNext(n, after int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failStream = streamFault{calls: n, after: max(after, 0)}
}

// DropStreamNext makes the next n streamed chat calls lose their connection
// after `after` fragments: the server closes it without ending the body.
func (s *Server) DropStreamNext(n, after int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropStream = streamFault{calls: n, after: max(after, 0)}
}

// streamed is one answer to send as an event stream.
type streamed struct {
	id, model          string
	content, reasoning string
	finish             string
	usage              map[string]any
	includeUsage       bool
}

// fragmentSizes are the lengths, in characters, of successive fragments.
var fragmentSizes = []int{3, 1, 4, 2, 6, 2, 5, 3}

// fragments cuts text into pieces of a few characters, never inside a
// character.
func fragments(text string) []string {
	var out []string
	for i := 0; text != ""; i++ {
		n, cut := fragmentSizes[i%len(fragmentSizes)], 0
		for ; n > 0 && cut < len(text); n-- {
			_, size := utf8.DecodeRuneInString(text[cut:])
			cut += size
		}
		out = append(out, text[:cut])
		text = text[cut:]
	}
	return out
}

// sglangEOS is the token SGLang reports in matched_stop at a stop (Qwen's
// <|im_end|>).
const sglangEOS = 151645

// stream sends a as server-sent events, as the personality's server does.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, call *Call, a streamed) {
	s.mu.Lock()
	delay := s.tokenDelay
	failAt, dropAt := s.failStream.take(), s.dropStream.take()
	s.mu.Unlock()
	call.Streamed = true
	name := s.pers.Name
	ctx := r.Context()
	rc := http.NewResponseController(w)

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	send := func(text string) bool {
		if ctx.Err() != nil {
			call.Canceled = true
			return false
		}
		if _, err := io.WriteString(w, text); err != nil || rc.Flush() != nil {
			call.Canceled = true
			return false
		}
		return true
	}
	event := func(v any) bool {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		return send("data: " + string(bytes.TrimSpace(b.Bytes())) + "\n\n")
	}
	seq := 0
	chunk := func(delta map[string]any, finish any) map[string]any {
		choice := map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}
		c := map[string]any{
			"id": a.id, "object": "chat.completion.chunk", "created": time.Now().Unix(), "model": a.model,
			"choices": []any{choice},
		}
		switch name {
		case nameSGLang:
			choice["matched_stop"] = nil
		case nameOpenAI:
			c["system_fingerprint"] = "fp_inferencetest"
			c["obfuscation"] = obfuscation(seq)
			if a.includeUsage {
				c["usage"] = nil
			}
		case nameOllama:
			c["system_fingerprint"] = "fp_ollama"
		}
		seq++
		return c
	}
	keepAlive := func() bool { return name != nameLlamaCpp || send(": keep-alive\n\n") }

	if !keepAlive() || !event(chunk(map[string]any{"role": "assistant", "content": ""}, nil)) {
		return
	}
	reasoningKey := "reasoning_content"
	if s.pers.Reasoning == ReasoningField {
		reasoningKey = "reasoning"
	}
	var deltas []map[string]any
	for _, f := range fragments(a.reasoning) {
		deltas = append(deltas, map[string]any{reasoningKey: f})
	}
	for _, f := range fragments(a.content) {
		deltas = append(deltas, map[string]any{"content": f})
	}
	for i := 0; ; i++ {
		switch {
		case i == failAt || (failAt > len(deltas) && i == len(deltas)):
			s.streamError(send, event)
			call.StreamFailed = true
			return
		case i == dropAt || (dropAt > len(deltas) && i == len(deltas)):
			if conn, _, err := rc.Hijack(); err == nil {
				_ = conn.Close()
			}
			call.Dropped = true
			return
		case i == len(deltas):
		default:
			if i > 0 && delay > 0 {
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					call.Canceled = true
					return
				}
			}
			if !event(chunk(deltas[i], nil)) {
				return
			}
			call.Fragments++
			if (i+1)%8 == 0 && !keepAlive() {
				return
			}
			continue
		}
		break
	}

	var finish any = a.finish
	if name == nameOllama && a.finish != "length" {
		finish = nil
	}
	last := chunk(map[string]any{}, finish)
	switch name {
	case nameSGLang:
		if a.finish == "stop" {
			last["choices"].([]any)[0].(map[string]any)["matched_stop"] = sglangEOS
		}
	case nameLlamaCpp:
		last["usage"] = a.usage
		last["timings"] = map[string]any{
			"prompt_n": a.usage["prompt_tokens"], "prompt_ms": 812.4, "predicted_n": a.usage["completion_tokens"],
			"predicted_ms": 1530.2, "predicted_per_second": 41.8,
		}
	}
	if !event(last) {
		return
	}
	if a.includeUsage && name != nameLlamaCpp {
		u := chunk(nil, nil)
		u["choices"], u["usage"] = []any{}, a.usage
		if !event(u) {
			return
		}
	}
	if name != nameOllama {
		send("data: [DONE]\n\n")
	}
}

// streamError sends the personality's error inside the stream.
func (s *Server) streamError(send func(string) bool, event func(any) bool) {
	const message = "injected failure mid-stream (inferencetest): the engine died"
	switch s.pers.Name {
	case nameLlamaCpp:
		obj := map[string]any{"error": map[string]any{"code": 500, "message": message, "type": "server_error"}}
		if s.pers.LegacyStreamErrors {
			b, _ := json.Marshal(obj["error"])
			send("error: " + string(b) + "\n\n")
			return
		}
		event(obj)
	case nameOllama:
		event(map[string]any{"error": map[string]any{"message": message, "type": "api_error", "param": nil, "code": nil}})
	case nameOpenAI:
		event(map[string]any{"error": map[string]any{"message": message, "type": "server_error", "param": nil, "code": nil}})
	default: // vllm, sglang, the friendly double
		if event(map[string]any{"error": map[string]any{"message": message, "type": "InternalServerError", "param": nil, "code": 500}}) {
			send("data: [DONE]\n\n")
		}
	}
}

// obfuscation is the padding OpenAI adds to each chunk, of varying length.
func obfuscation(seq int) string {
	const letters = "Zq3xR7pLm2Vb9KcT"
	return letters[:1+seq*5%len(letters)]
}

// withoutStream is a request body without its stream and stream_options
// members, so that a streamed request gets the answer the same request
// without streaming would (fencing hashes the body). The other members keep
// their bytes and order, and what surrounds the object is kept; the
// members are joined compactly, as clients send them.
func withoutStream(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return body
	}
	out := append([]byte{}, body[:dec.InputOffset()]...)
	for dec.More() {
		t, err := dec.Token()
		key, ok := t.(string)
		var raw json.RawMessage
		if err != nil || !ok || dec.Decode(&raw) != nil {
			return body
		}
		if key == "stream" || key == "stream_options" {
			continue
		}
		if out[len(out)-1] != '{' {
			out = append(out, ',')
		}
		k, _ := json.Marshal(key)
		out = append(append(append(out, k...), ':'), raw...)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return body
	}
	return append(append(out, '}'), body[dec.InputOffset():]...)
}
