package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/inference"
	"github.com/framewise/framewise/internal/inference/inferencetest"
	"github.com/framewise/framewise/internal/inference/openai"
)

// fragments collects what a streamed call passes to Stream.
type fragments struct {
	mu   sync.Mutex
	list []string
}

func (f *fragments) add(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = append(f.list, s)
}

func (f *fragments) text() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.list, "")
}

func (f *fragments) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.list)
}

// streamPersonalities are the built-in personalities, the friendly double
// and a vLLM without reasoning parser (thinking inline in content).
func streamPersonalities() []inferencetest.Personality {
	inline := inferencetest.VLLM()
	inline.Name, inline.Reasoning = "vllm-inline-think", inferencetest.ReasoningInline
	return append(inferencetest.Personalities(), inferencetest.Personality{}, inline)
}

const segmentsSchema = `{"type":"object","properties":{
	"blue_scenes":{"type":"array","description":"scenes where the screen is blue","items":{"type":"object",
		"properties":{"start_time":{"type":"number"},"end_time":{"type":"number"}},
		"required":["start_time","end_time"],"additionalProperties":false}}},
	"required":["blue_scenes"],"additionalProperties":false}`

// A streamed call gives the answer the same call without streaming gives,
// in fragments, without reasoning, whatever the server's stream quirks.
func TestStreamSameAnswerAsWhole(t *testing.T) {
	t.Parallel()
	for _, p := range streamPersonalities() {
		for _, kind := range []string{"plain", "structured", "cut"} {
			name := p.Name
			if name == "" {
				name = "friendly"
			}
			t.Run(name+"/"+kind, func(t *testing.T) {
				t.Parallel()
				s := inferencetest.New(t, inferencetest.WithPersonality(p))
				c := newClient(t, s, openai.Config{})
				req := inference.ChatRequest{Messages: redBlue(t)}
				switch kind {
				case "structured":
					req.JSONSchema, req.SchemaName = json.RawMessage(segmentsSchema), "scenes"
				case "cut":
					req.MaxTokens = 5
					if p.Reasoning != "" {
						req.MaxTokens = 15 // the thinking spends 10 first
					}
				}
				whole, err := c.Chat(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				var got fragments
				req.Stream = got.add
				resp, err := c.Chat(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				if resp.Text != whole.Text || got.text() != resp.Text {
					t.Errorf("streamed %q, returned %q; without streaming %q", got.text(), resp.Text, whole.Text)
				}
				if got.count() < 3 {
					t.Errorf("%d fragments: the answer was not streamed", got.count())
				}
				for _, f := range got.list {
					if strings.Contains(f, "think") || strings.Contains(f, "<") || strings.Contains(f, "compare colours") {
						t.Errorf("reasoning reached Stream: fragment %q", f)
					}
				}
				if resp.FinishReason != whole.FinishReason || resp.InputTokens != whole.InputTokens || resp.OutputTokens != whole.OutputTokens {
					t.Errorf("streamed %+v, without streaming %+v", *resp, *whole)
				}
				if want := map[bool]string{true: inference.FinishLength, false: inference.FinishStop}[kind == "cut"]; resp.FinishReason != want {
					t.Errorf("finish reason %q, want %q", resp.FinishReason, want)
				}
				if resp.InputTokens == 0 || resp.OutputTokens == 0 {
					t.Errorf("no usage: %+v", *resp)
				}
				calls := waitCalls(t, s, 2)
				if len(calls) != 2 || calls[0].Streamed || !calls[1].Streamed || calls[1].Canceled || calls[1].Fragments < got.count() {
					t.Errorf("calls %+v", calls)
				}
			})
		}
	}
}

// After text has reached Stream, an error inside the stream is returned at
// once, with the server's message, and the request is not repeated.
func TestStreamErrorAfterTextNotRetried(t *testing.T) {
	t.Parallel()
	legacy := inferencetest.LlamaCpp()
	legacy.LegacyStreamErrors = true
	for _, p := range append(streamPersonalities(), legacy) {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			s := inferencetest.New(t, inferencetest.WithPersonality(p))
			s.FailStreamNext(1, 25) // past the thinking, inside the answer
			c := newClient(t, s, openai.Config{})
			var got fragments
			resp, err := c.Chat(context.Background(), inference.ChatRequest{Messages: redBlue(t), Stream: got.add})
			var be *inference.BackendError
			if !errors.As(err, &be) || resp != nil {
				t.Fatalf("got %+v, %v; want a *BackendError", resp, err)
			}
			if be.Temporary || !strings.Contains(be.Message, "injected failure mid-stream") || !strings.Contains(be.Message, "not retried") {
				t.Errorf("error %+v", be)
			}
			if got.count() == 0 {
				t.Error("no text reached Stream before the error")
			}
			if calls := waitCalls(t, s, 1); len(calls) != 1 || !calls[0].StreamFailed {
				t.Errorf("calls %+v, want 1 that failed mid-stream (no retry once text was streamed)", calls)
			}
		})
	}
}

// Failures before any text reached Stream are retried like any call: an
// error as the stream's first event, a 503 before the stream, a connection
// dropped before the first fragment.
func TestStreamRetriedBeforeFirstText(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		fault func(*inferencetest.Server)
	}{
		{"error event first", func(s *inferencetest.Server) { s.FailStreamNext(1, 0) }},
		{"transient 503", func(s *inferencetest.Server) { s.FailNextTransient(1) }},
		{"dropped before text", func(s *inferencetest.Server) { s.DropStreamNext(1, 0) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := inferencetest.New(t, inferencetest.WithPersonality(inferencetest.VLLM()))
			c.fault(s)
			cl := newClient(t, s, openai.Config{})
			var got fragments
			resp, err := cl.Chat(context.Background(), inference.ChatRequest{Messages: redBlue(t), Stream: got.add})
			if err != nil {
				t.Fatal(err)
			}
			if got.text() != resp.Text || !strings.HasPrefix(resp.Text, "Seen colours: red") {
				t.Errorf("streamed %q, returned %q", got.text(), resp.Text)
			}
			if n := len(waitCalls(t, s, 2)); n != 2 {
				t.Errorf("%d calls, want 2 (one retry)", n)
			}
		})
	}
}

// A connection dropped mid-answer is an error, never a short answer.
func TestStreamDroppedConnectionIsError(t *testing.T) {
	t.Parallel()
	for _, p := range []inferencetest.Personality{inferencetest.VLLM(), inferencetest.Ollama()} {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			s := inferencetest.New(t, inferencetest.WithPersonality(p))
			s.DropStreamNext(1, 25)
			c := newClient(t, s, openai.Config{})
			var got fragments
			resp, err := c.Chat(context.Background(), inference.ChatRequest{Messages: redBlue(t), Stream: got.add})
			var be *inference.BackendError
			if !errors.As(err, &be) || resp != nil || be.Temporary || !strings.Contains(be.Message, "connection broke") {
				t.Fatalf("got %+v, %v; want a permanent *BackendError about the connection", resp, err)
			}
			if calls := waitCalls(t, s, 1); got.count() == 0 || len(calls) != 1 || !calls[0].Dropped {
				t.Errorf("fragments %d, calls %+v", got.count(), s.Calls())
			}
		})
	}
}

// Cancelling the context mid-stream closes the HTTP stream at once: the
// double sees the client go away.
func TestStreamCancelReachesServer(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t, inferencetest.WithPersonality(inferencetest.VLLM()), inferencetest.WithTokenDelay(20*time.Millisecond))
	c := newClient(t, s, openai.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got fragments
	_, err := c.Chat(ctx, inference.ChatRequest{Messages: redBlue(t), Stream: func(text string) {
		got.add(text)
		cancel()
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	calls := waitCalls(t, s, 1)
	if len(calls) != 1 || !calls[0].Canceled || calls[0].Fragments > 3 {
		t.Errorf("the double did not see the cancellation promptly: calls %+v (fragments passed on: %d)", calls, got.count())
	}
}

// Text reaches Stream while the model is still producing: the first
// fragment arrives before the double has finished the call.
func TestStreamArrivesBeforeTheEnd(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t, inferencetest.WithTokenDelay(5*time.Millisecond))
	c := newClient(t, s, openai.Config{})
	var got fragments
	finishedAtFirst := -1
	var first time.Duration
	start := time.Now()
	resp, err := c.Chat(context.Background(), inference.ChatRequest{Messages: redBlue(t), Stream: func(text string) {
		if got.count() == 0 {
			finishedAtFirst, first = len(s.Calls()), time.Since(start)
		}
		got.add(text)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first text after %v, whole answer after %v (%d fragments, 5ms apart)", first, time.Since(start), got.count())
	if finishedAtFirst != 0 {
		t.Errorf("when the first fragment arrived the double had finished %d calls, want 0", finishedAtFirst)
	}
	if calls := waitCalls(t, s, 1); len(calls) != 1 || got.count() < calls[0].Fragments/2 || got.text() != resp.Text {
		t.Errorf("fragments %d of %+v; streamed %q, returned %q", got.count(), calls, got.text(), resp.Text)
	}
}

// waitCalls returns the double's calls once n are recorded (a streamed call
// is recorded when its handler returns, just after the client has read the
// end of the stream), or after a second.
func waitCalls(t *testing.T, s *inferencetest.Server, n int) []inferencetest.Call {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for len(s.Calls()) < n && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	return s.Calls()
}

// A server that fences some JSON answers fences the same ones whether they
// are streamed or not.
func TestStreamFencesAsWhole(t *testing.T) {
	t.Parallel()
	p := inferencetest.OpenAI()
	p.FenceEvery = 2
	s := inferencetest.New(t, inferencetest.WithPersonality(p))
	c := newClient(t, s, openai.Config{})
	fenced := 0
	for start := range 8 {
		req := inference.ChatRequest{
			Messages:   []inference.Message{frames(t, "Find the blue scenes.", float64(start), "red", "blue", "blue")},
			JSONSchema: json.RawMessage(segmentsSchema),
		}
		whole, err := c.Chat(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var got fragments
		req.Stream = got.add
		resp, err := c.Chat(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text != whole.Text || got.text() != resp.Text {
			t.Errorf("start %d: streamed %q, without streaming %q", start, resp.Text, whole.Text)
		}
		if strings.Contains(whole.Text, "```") {
			fenced++
		}
	}
	if fenced == 0 || fenced == 8 {
		t.Errorf("%d of 8 answers fenced: the test does not tell a streamed request's fencing from its own", fenced)
	}
}
