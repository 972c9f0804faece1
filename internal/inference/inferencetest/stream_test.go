package inferencetest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/inference/inferencetest"
)

// rawStream posts c with stream: true and returns the status, the
// Content-Type and the body as sent (up to where the server cut it) with
// the read error.
func (c *chat) rawStream(s *inferencetest.Server, includeUsage bool) (int, string, string, error) {
	c.t.Helper()
	c.set("stream", true)
	if includeUsage {
		c.set("stream_options", map[string]any{"include_usage": true})
	}
	status, header, body, err := c.exchange(s)
	return status, header.Get("Content-Type"), string(body), err
}

// chunks parses the data events of a stream; [DONE] is returned as nil.
func chunks(t *testing.T, body string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(body, "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			out = append(out, nil)
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			t.Fatalf("event %q is not JSON: %v", data, err)
		}
		out = append(out, m)
	}
	return out
}

// text joins the content (and reasoning) deltas of a stream.
func text(cs []map[string]any, key string) string {
	var b strings.Builder
	for _, c := range cs {
		ch, _ := c["choices"].([]any)
		if len(ch) == 0 {
			continue
		}
		if d, ok := ch[0].(map[string]any)["delta"].(map[string]any); ok {
			s, _ := d[key].(string)
			b.WriteString(s)
		}
	}
	return b.String()
}

func TestStreamSameAnswerEachPersonality(t *testing.T) {
	t.Parallel()
	for _, p := range append(inferencetest.Personalities(), inferencetest.Personality{}) {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			s := inferencetest.New(t, inferencetest.WithPersonality(p))
			want := red5blue7(t).post(s, "/v1/chat/completions")
			status, ctype, body, err := red5blue7(t).rawStream(s, true)
			if err != nil || status != 200 || ctype != "text/event-stream" {
				t.Fatalf("status %d, Content-Type %q, read error %v", status, ctype, err)
			}
			cs := chunks(t, body)
			if got := text(cs, "content"); got != want.content {
				t.Errorf("streamed content %q, want the non-stream answer %q", got, want.content)
			}
			done := cs[len(cs)-1] == nil
			if done == (p.Name == "ollama") {
				t.Errorf("stream ends with [DONE]: %v\n%s", done, body)
			}
			var usage map[string]any
			var finish any
			for _, c := range cs {
				if c == nil {
					continue
				}
				if u, ok := c["usage"].(map[string]any); ok {
					usage = u
					if ch := c["choices"].([]any); p.Name != "llamacpp" && len(ch) != 0 {
						t.Errorf("usage chunk has choices: %v", c)
					}
				}
				if ch := c["choices"].([]any); len(ch) > 0 {
					if f := ch[0].(map[string]any)["finish_reason"]; f != nil {
						finish = f
					}
				}
				if _, ok := c["obfuscation"]; ok != (p.Name == "openai") {
					t.Errorf("obfuscation present: %v", ok)
				}
			}
			if usage == nil || int(usage["completion_tokens"].(float64)) != want.usage.CompletionTokens {
				t.Errorf("usage %v, want completion_tokens %d", usage, want.usage.CompletionTokens)
			}
			if wantFinish := map[bool]any{true: nil, false: "stop"}[p.Name == "ollama"]; finish != wantFinish {
				t.Errorf("finish_reason %v, want %v", finish, wantFinish)
			}
			if c := s.Calls()[1]; !c.Streamed || c.Fragments < 10 || c.Canceled || c.Status != 200 {
				t.Errorf("call %+v", c)
			}
			switch p.Name {
			case "llamacpp":
				if !strings.HasPrefix(body, ": keep-alive\n\n") || !strings.Contains(body, `"timings"`) {
					t.Errorf("llama.cpp stream without keep-alive comments or timings:\n%s", body)
				}
			case "sglang":
				if !strings.Contains(body, `"matched_stop":151645`) {
					t.Errorf("SGLang stream without matched_stop:\n%s", body)
				}
			}
			if p.Reasoning == inferencetest.ReasoningContent || p.Reasoning == inferencetest.ReasoningField {
				if got := text(cs, p.Reasoning); !strings.Contains(got, "compare colours") {
					t.Errorf("reasoning in %s: %q", p.Reasoning, got)
				}
			}
		})
	}
}

func TestStreamUsageOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t, inferencetest.WithPersonality(inferencetest.VLLM()))
	_, _, body, _ := red5blue7(t).rawStream(s, false)
	if strings.Contains(body, `"usage"`) || !strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Errorf("without include_usage:\n%s", body)
	}
}

func TestStreamFaults(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		p      inferencetest.Personality
		tail   string // how the stream ends
		noDone bool
	}{
		{"vllm", inferencetest.VLLM(), "\n\ndata: [DONE]\n\n", false},
		{"llamacpp", inferencetest.LlamaCpp(), `"type":"server_error"}}` + "\n\n", true},
		{"llamacpp legacy", func() inferencetest.Personality { p := inferencetest.LlamaCpp(); p.LegacyStreamErrors = true; return p }(), "", true},
		{"ollama", inferencetest.Ollama(), `"code":null,`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := inferencetest.New(t, inferencetest.WithPersonality(c.p))
			s.FailStreamNext(1, 5)
			_, _, body, err := red5blue7(t).rawStream(s, true)
			if err != nil || !strings.Contains(body, "injected failure mid-stream") || !strings.Contains(body, c.tail) ||
				strings.Contains(body, "[DONE]") != !c.noDone {
				t.Errorf("error inside the stream (read error %v):\n%s", err, body)
			}
			if c.p.LegacyStreamErrors && !strings.Contains(body, "\nerror: {") {
				t.Errorf("legacy error line missing:\n%s", body)
			}
			if call := s.Calls()[0]; !call.StreamFailed || call.Fragments != 5 {
				t.Errorf("call %+v", call)
			}

			s.DropStreamNext(1, 3)
			_, _, body, err = red5blue7(t).rawStream(s, true)
			if err == nil || strings.Contains(body, "[DONE]") {
				t.Errorf("dropped stream read without error: %v\n%s", err, body)
			}
			// The call is recorded when the handler returns, after it has
			// closed the connection.
			for deadline := time.Now().Add(time.Second); len(s.Calls()) < 2 && time.Now().Before(deadline); {
				time.Sleep(2 * time.Millisecond)
			}
			if calls := s.Calls(); len(calls) != 2 || !calls[1].Dropped || calls[1].Fragments != 3 {
				t.Fatalf("calls %+v", calls)
			}
		})
	}
}
