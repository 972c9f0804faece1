package openai

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/framewise/framewise/internal/inference"
)

// The stream quirks of BACKENDS.md §6, byte for byte.
func TestReadStream(t *testing.T) {
	t.Parallel()
	const (
		role  = `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n"
		red   = `data: {"choices":[{"index":0,"delta":{"content":"red "},"finish_reason":null}]}` + "\n\n"
		blue  = `data: {"choices":[{"index":0,"delta":{"content":"blue"},"finish_reason":null}]}` + "\n\n"
		stop  = `data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n"
		usage = `data: {"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":2,"total_tokens":13}}` + "\n\n"
		done  = "data: [DONE]\n\n"
	)
	for _, c := range []struct {
		name, in         string
		text, finish     string
		input, output    int
		fragments        []string
		errHas           string // "" = no error
		fault            bool   // the error is the server's, from inside the stream
		faultStatus      int
		transport, whole bool
	}{
		{name: "vllm with usage chunk", in: role + red + blue + stop + usage + done, text: "red blue", finish: "stop", input: 11, output: 2, fragments: []string{"red", " blue"}},
		{name: "llama.cpp usage and timings beside the choice, keep-alive", in: ": keep-alive\n\n" + role + red + ": keep-alive\n\n" + blue +
			`data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":2},"timings":{"predicted_ms":1.5}}` + "\n\n" + done,
			text: "red blue", finish: "length", input: 5, output: 2},
		{name: "ollama: no finish_reason, no [DONE]", in: role + red + blue, text: "red blue", finish: "stop"},
		{name: "last event without its blank line", in: role + red + strings.TrimSuffix(blue, "\n\n"), text: "red blue", finish: "stop"},
		{name: "CRLF lines, multi-line data, extra fields", in: strings.ReplaceAll(role+`data: {"choices":[{"index":0,"matched_stop":null,`+"\n"+`data: "delta":{"content":"red"},"finish_reason":"stop"}],"obfuscation":"Zq3"}`+"\n\n"+done, "\n", "\r\n"), text: "red", finish: "stop"},
		{name: "reasoning deltas and think tags withheld", in: role +
			`data: {"choices":[{"index":0,"delta":{"reasoning_content":"hmm"}}]}` + "\n\n" +
			`data: {"choices":[{"index":0,"delta":{"reasoning":"hmm"}}]}` + "\n\n" +
			`data: {"choices":[{"index":0,"delta":{"content":"<thi"}}]}` + "\n\n" +
			`data: {"choices":[{"index":0,"delta":{"content":"nk>plan</th"}}]}` + "\n\n" +
			`data: {"choices":[{"index":0,"delta":{"content":"ink>\n\nred"}}]}` + "\n\n" + stop + done,
			text: "red", finish: "stop", fragments: []string{"red"}},
		{name: "other choices ignored", in: role + red + `data: {"choices":[{"index":1,"delta":{"content":"green"}}]}` + "\n\n" + stop + done, text: "red", finish: "stop"},
		{name: "refusal", in: role + `data: {"choices":[{"index":0,"delta":{"refusal":"I can't"}}]}` + "\n\n" + stop + done, text: "I can't", finish: "refusal", fragments: []string{"I can't"}},
		{name: "vllm error then [DONE]", in: role + red + `data: {"error":{"message":"engine died","type":"InternalServerError","param":null,"code":500}}` + "\n\n" + done,
			errHas: "engine died", fault: true, faultStatus: 500, fragments: []string{"red"}},
		{name: "llama.cpp error, no [DONE]", in: role + `data: {"error":{"code":400,"message":"context size exceeded","type":"exceed_context_size_error"}}` + "\n\n",
			errHas: "context size exceeded", fault: true, faultStatus: 400},
		{name: "old llama.cpp error line", in: role + red + `error: {"code":500,"message":"slot unavailable","type":"server_error"}` + "\n\n",
			errHas: "slot unavailable", fault: true, faultStatus: 500},
		{name: "event: error", in: role + "event: error\ndata: {\"message\":\"overloaded\",\"code\":503}\n\n", errHas: "overloaded", fault: true, faultStatus: 503},
		{name: "bare JSON error line", in: role + red + `{"error":{"message":"model runner crashed","type":"api_error","param":null,"code":null}}` + "\n",
			errHas: "model runner crashed", fault: true, faultStatus: 500},
		{name: "error as text", in: role + `data: {"error":"out of memory"}` + "\n\n", errHas: "out of memory", fault: true, faultStatus: 500},
		{name: "cut mid-stream", in: role + red + `data: {"choices":[{"index":0,"del`, errHas: "unexpected EOF", transport: true},
		{name: "empty", in: "", errHas: "without an answer"},
		{name: "[DONE] only", in: done, errHas: "without an answer"},
		{name: "not JSON", in: "data: <html>\n\n", errHas: "not a chat completion chunk"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			var body io.Reader = strings.NewReader(c.in)
			if c.transport {
				body = io.MultiReader(strings.NewReader(c.in), errReader{io.ErrUnexpectedEOF})
			}
			resp, err := readStream(body, func(s string) { got = append(got, s) })
			if c.errHas != "" {
				var f *streamFault
				if err == nil || !strings.Contains(err.Error(), c.errHas) || errors.As(err, &f) != c.fault ||
					(c.fault && f.status != c.faultStatus) || isTransportError(err) != c.transport {
					t.Fatalf("err = %v (%T), want one containing %q (fault %v, status %d, transport %v)", err, err, c.errHas, c.fault, c.faultStatus, c.transport)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				want := inference.ChatResponse{Text: c.text, FinishReason: c.finish, InputTokens: c.input, OutputTokens: c.output}
				if *resp != want {
					t.Errorf("resp = %+v, want %+v", *resp, want)
				}
				if strings.Join(got, "") != c.text {
					t.Errorf("streamed %q, want %q", got, c.text)
				}
			}
			if c.fragments != nil && strings.Join(got, "|") != strings.Join(c.fragments, "|") {
				t.Errorf("fragments %q, want %q", got, c.fragments)
			}
		})
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// A server that ignores stream: true and answers one completion is read
// whole, its text passed on once.
func TestReadWhole(t *testing.T) {
	t.Parallel()
	var got []string
	resp, err := readWhole(strings.NewReader(`{"choices":[{"index":0,"message":{"role":"assistant","content":"<think>x</think>red"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}`),
		func(s string) { got = append(got, s) })
	if err != nil || resp.Text != "red" || resp.InputTokens != 3 || strings.Join(got, "|") != "red" {
		t.Errorf("resp %+v, err %v, streamed %q", resp, err, got)
	}
}

// An error inside the stream before any text is classified as an error
// answer with that code: retried when it may pass, and a context overflow
// is recognised so that the engine can send less.
func TestStreamFaultClassified(t *testing.T) {
	t.Parallel()
	c, err := New(Config{BaseURL: "http://127.0.0.1:1/v1", Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	overflow := newStreamFault([]byte(`{"error":{"code":400,"message":"request (40000 tokens) exceeds the available context size (32768 tokens), try increasing it","type":"exceed_context_size_error"}}`))
	be := c.classify(overflow, &attempt{status: 200}, false)
	if be.Temporary || !be.Overflow || be.PromptTokens != 40000 || be.ContextTokens != 32768 || be.StatusCode != 400 {
		t.Errorf("overflow inside the stream: %+v", be)
	}
	busy := newStreamFault([]byte(`{"error":{"message":"engine busy","type":"InternalServerError","code":500}}`))
	if be := c.classify(busy, &attempt{status: 200}, false); !be.Temporary || !strings.Contains(be.Message, "engine busy") {
		t.Errorf("server error inside the stream: %+v", be)
	}
}
