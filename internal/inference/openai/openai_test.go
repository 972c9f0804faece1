package openai_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/inference"
	"github.com/framewise/framewise/internal/inference/inferencetest"
	"github.com/framewise/framewise/internal/inference/openai"
)

// newClient returns a client for s with fast retries.
func newClient(t *testing.T, s *inferencetest.Server, cfg openai.Config) *openai.Client {
	t.Helper()
	cfg.BaseURL = s.URL()
	if cfg.Model == "" {
		cfg.Model = "test-vlm"
	}
	if cfg.RetryBaseDelay == 0 {
		cfg.RetryBaseDelay = time.Millisecond
	}
	c, err := openai.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func host(s *inferencetest.Server) string {
	u, _ := url.Parse(s.URL())
	return u.Host
}

// frames is a user message of one-second frames from start, coloured in order.
func frames(t *testing.T, prompt string, start float64, colours ...string) inference.Message {
	t.Helper()
	parts := []inference.Part{inference.Text(prompt)}
	for i, c := range colours {
		jpg, err := inferencetest.SolidJPEG(c, 64, 36)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, inference.Text(inference.FrameTimeText(start+float64(i))), inference.JPEG(jpg))
	}
	return inference.Message{Role: inference.RoleUser, Parts: parts}
}

func redBlue(t *testing.T) []inference.Message {
	return []inference.Message{
		{Role: inference.RoleSystem, Parts: []inference.Part{inference.Text("You describe videos.")}},
		frames(t, "What do you see?", 0, "red", "red", "red", "blue", "blue"),
	}
}

func TestChatTextAndImages(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t)
	c := newClient(t, s, openai.Config{})
	temp := 0.0
	resp, err := c.Chat(context.Background(), inference.ChatRequest{Messages: redBlue(t), Temperature: &temp, MaxTokens: 200})
	if err != nil {
		t.Fatal(err)
	}
	if want := "Seen colours: red from 0.0s to 3.0s; blue from 3.0s to 5.0s."; resp.Text != want {
		t.Errorf("Text = %q, want %q", resp.Text, want)
	}
	if resp.FinishReason != inference.FinishStop || resp.InputTokens < 5*85 || resp.OutputTokens != 12 {
		t.Errorf("resp = %+v", resp)
	}
	if calls := s.Calls(); len(calls) != 1 || calls[0].Images != 5 || calls[0].Model != "test-vlm" || calls[0].MaxTokens != 200 {
		t.Errorf("calls = %+v", calls)
	}
}

func TestChatStructured(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t)
	c := newClient(t, s, openai.Config{})
	schema := `{"type":"object","properties":{
		"blue_scenes":{"type":"array","description":"scenes where the screen is blue","items":{"type":"object",
			"properties":{"start_time":{"type":"number"},"end_time":{"type":"number"},"color":{"type":"string"}},
			"required":["start_time","end_time","color"],"additionalProperties":false}}},
		"required":["blue_scenes"],"additionalProperties":false}`
	resp, err := c.Chat(context.Background(), inference.ChatRequest{
		Messages:   redBlue(t),
		JSONSchema: json.RawMessage(schema),
		SchemaName: "time_based_metadata",
		StrictJSON: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Blue []struct {
			Start float64 `json:"start_time"`
			End   float64 `json:"end_time"`
			Color string  `json:"color"`
		} `json:"blue_scenes"`
	}
	dec := json.NewDecoder(strings.NewReader(resp.Text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("answer %q does not follow the schema: %v", resp.Text, err)
	}
	if len(got.Blue) != 1 || got.Blue[0].Start != 3 || got.Blue[0].End != 5 || got.Blue[0].Color != "blue" {
		t.Errorf("blue_scenes = %+v", got.Blue)
	}
	if st := s.Stats(); st.ByKind[inferencetest.KindStructured] != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t)
	s.FailNext(1, 429) // Retry-After: 1, once
	c := newClient(t, s, openai.Config{})
	start := time.Now()
	resp, err := c.Chat(context.Background(), inference.ChatRequest{Messages: redBlue(t)})
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %v, want ≥ 1s (Retry-After)", waited)
	}
	if resp.FinishReason != "stop" || s.Stats().Calls != 2 {
		t.Errorf("resp %+v, stats %+v", resp, s.Stats())
	}
}

func TestRetryAfterIsCapped(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t)
	s.SetRetryAfter("3600")
	s.FailNext(1, 429)
	c := newClient(t, s, openai.Config{MaxRetryDelay: 20 * time.Millisecond})
	start := time.Now()
	if _, err := c.Chat(context.Background(), inference.ChatRequest{Messages: redBlue(t)}); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("waited %v despite the 20ms cap", waited)
	}
}

func TestRetriesOn5xx(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t)
	s.FailNext(2, 500)
	var logs bytes.Buffer
	c := newClient(t, s, openai.Config{MaxRetries: 2, Name: "gpu-1", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if _, err := c.Chat(context.Background(), inference.ChatRequest{Messages: redBlue(t)}); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Calls != 3 || st.Failed != 2 {
		t.Errorf("stats = %+v", st)
	}
	if n := strings.Count(logs.String(), `retrying" backend=gpu-1`); n != 2 {
		t.Errorf("%d retry warnings, want 2:\n%s", n, logs.String())
	}
}

func TestDownBackend(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t, inferencetest.WithDown())
	c := newClient(t, s, openai.Config{Name: "ollama", MaxRetries: 3})
	_, err := c.Chat(context.Background(), inference.ChatRequest{Messages: redBlue(t)})
	var be *inference.BackendError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v (%T), want *inference.BackendError", err, err)
	}
	want := fmt.Sprintf(`model backend "ollama" (%s) is unavailable after 4 attempts: HTTP 503: the model backend is down (inferencetest)`, host(s))
	if be.Error() != want || !be.Temporary || be.StatusCode != 503 || be.Backend != "ollama" {
		t.Errorf("err = %q %+v\nwant %q", be.Error(), be, want)
	}
	if !inference.IsTemporary(err) || s.Stats().Calls != 4 {
		t.Errorf("calls = %d, want 4", s.Stats().Calls)
	}
}

func TestUnreachableBackend(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t)
	c := newClient(t, s, openai.Config{Name: "vllm", MaxRetries: 1})
	s.Close()
	_, err := c.Transcribe(context.Background(), bytes.NewReader(wav(16000, sound{1, 440})), "a.wav", 0)
	var be *inference.BackendError
	if !errors.As(err, &be) || !be.Temporary || be.StatusCode != 0 {
		t.Fatalf("err = %v", err)
	}
	prefix := fmt.Sprintf(`model backend "vllm" (%s) is unavailable after 2 attempts: `, host(s))
	if !strings.HasPrefix(be.Error(), prefix) || !strings.Contains(be.Error(), "connection refused") {
		t.Errorf("err = %q", be.Error())
	}
}

func TestNonRetryable(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t, inferencetest.WithAPIKey("right"), inferencetest.WithModels("test-vlm"))
	tests := []struct {
		name   string
		cfg    openai.Config
		req    inference.ChatRequest
		status int
		want   string
	}{
		{"wrong key", openai.Config{APIKey: "wrong"}, inference.ChatRequest{Messages: redBlue(t)}, 401,
			"rejected the request: HTTP 401: Incorrect API key provided.; check the API key configured for this backend"},
		{"unknown model", openai.Config{APIKey: "right", Model: "nope"}, inference.ChatRequest{Messages: redBlue(t)}, 404,
			`HTTP 404: model "nope" not found; check the base URL (it usually ends in /v1) and that the server serves model "nope"`},
		{"undecodable image", openai.Config{APIKey: "right"}, inference.ChatRequest{Messages: []inference.Message{{Role: inference.RoleUser,
			Parts: []inference.Part{inference.JPEG([]byte{0xff, 0xd8, 0xff, 0xe0, 0, 1})}}}}, 400,
			"HTTP 400: messages[0].content[0]: image could not be decoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, s, tt.cfg)
			before := s.Stats().Calls
			_, err := c.Chat(context.Background(), tt.req)
			var be *inference.BackendError
			if !errors.As(err, &be) {
				t.Fatalf("err = %v", err)
			}
			if be.Temporary || be.StatusCode != tt.status || !strings.Contains(be.Error(), tt.want) {
				t.Errorf("err = %q %+v, want %d containing %q", be.Error(), be, tt.status, tt.want)
			}
			if n := s.Stats().Calls - before; n != 1 {
				t.Errorf("%d attempts, want 1", n)
			}
		})
	}
}

func TestBoundedParallelism(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t, inferencetest.WithLatency(100*time.Millisecond))
	c := newClient(t, s, openai.Config{MaxParallel: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		wg.Go(func() {
			_, err := c.Chat(context.Background(), inference.ChatRequest{Messages: []inference.Message{frames(t, "go", float64(10*i), "green")}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.MaxConcurrent != 2 || st.Calls != 6 {
		t.Errorf("stats = %+v, want 6 calls at most 2 at once", st)
	}
}

func TestTruncation(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t)
	c := newClient(t, s, openai.Config{})
	resp, err := c.Chat(context.Background(), inference.ChatRequest{Messages: redBlue(t), MaxTokens: 3})
	if err != nil {
		t.Fatal(err)
	}
	if resp.FinishReason != inference.FinishLength || resp.Text != "Seen colours: red" || resp.OutputTokens != 3 {
		t.Errorf("resp = %+v", resp)
	}
	// max_completion_tokens is honoured the same way.
	c = newClient(t, s, openai.Config{UseMaxCompletionTokens: true})
	if resp, err = c.Chat(context.Background(), inference.ChatRequest{Messages: redBlue(t), MaxTokens: 3}); err != nil || resp.FinishReason != "length" {
		t.Errorf("max_completion_tokens: %+v %v", resp, err)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t, inferencetest.WithLatency(2*time.Second))
	c := newClient(t, s, openai.Config{Name: "slow", Timeout: 50 * time.Millisecond, MaxRetries: -1})
	start := time.Now()
	_, err := c.Chat(context.Background(), inference.ChatRequest{Messages: redBlue(t)})
	if !inference.IsTemporary(err) || !strings.Contains(err.Error(), "after 1 attempt: no answer within 50ms") {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
}

func TestCancelledIsNotABackendFailure(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t, inferencetest.WithLatency(2*time.Second))
	c := newClient(t, s, openai.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Chat(ctx, inference.ChatRequest{Messages: redBlue(t)})
	var be *inference.BackendError
	if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &be) {
		t.Errorf("err = %v, want context.DeadlineExceeded and no BackendError", err)
	}
}

func TestInvalidRequestIsNotSent(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t)
	c := newClient(t, s, openai.Config{})
	if _, err := c.Chat(context.Background(), inference.ChatRequest{}); err == nil {
		t.Fatal("empty request accepted")
	}
	if s.Stats().Calls != 0 {
		t.Error("invalid request was sent")
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, cfg := range []openai.Config{
		{BaseURL: "127.0.0.1:8000/v1", Model: "m"},
		{BaseURL: "ftp://host/v1", Model: "m"},
		{BaseURL: "http://host/v1"},
	} {
		if _, err := openai.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	c, err := openai.New(openai.Config{BaseURL: "http://host/v1", Model: "m"})
	if err != nil || c.Name() != "m" {
		t.Errorf("default name = %q, %v", c.Name(), err)
	}
}

// sound is a stretch of a sine at freq Hz (0: silence).
type sound struct{ seconds, freq float64 }

// wav writes a mono 16-bit PCM WAV file.
func wav(rate int, sounds ...sound) []byte {
	var samples []int16
	for _, s := range sounds {
		for i := range int(s.seconds * float64(rate)) {
			if s.freq > 0 {
				samples = append(samples, int16(16000*math.Sin(2*math.Pi*s.freq*float64(i)/float64(rate))))
			} else {
				samples = append(samples, 0)
			}
		}
	}
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	_ = binary.Write(&b, le, uint32(36+2*len(samples)))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(rate), uint32(2 * rate), uint16(2), uint16(16)} {
		_ = binary.Write(&b, le, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, le, uint32(2*len(samples)))
	_ = binary.Write(&b, le, samples)
	return b.Bytes()
}

func TestTranscribe(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t)
	c := newClient(t, s, openai.Config{Model: "whisper-1"})
	audio := wav(16000, sound{1, 440}, sound{1, 0}, sound{1, 440})
	segs, err := c.Transcribe(context.Background(), bytes.NewReader(audio), "chunk-3.wav", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []inference.TranscriptSegment{{Start: 10, End: 11, Text: "tone 440 Hz"}, {Start: 12, End: 13, Text: "tone 440 Hz"}}
	if len(segs) != len(want) {
		t.Fatalf("segments = %+v, want %+v", segs, want)
	}
	for i, g := range segs {
		if math.Abs(g.Start-want[i].Start) > 0.5 || math.Abs(g.End-want[i].End) > 0.5 || g.Text != want[i].Text {
			t.Errorf("segment %d = %+v, want %+v ± 0.5 s", i, g, want[i])
		}
	}
	// Retries resend the whole file.
	s.FailNext(1, 503)
	if segs, err = c.Transcribe(context.Background(), bytes.NewReader(audio), "", 0); err != nil || len(segs) != 2 {
		t.Errorf("after a 503: %+v, %v", segs, err)
	}
	if st := s.Stats(); st.ByKind[inferencetest.KindTranscription] != 3 {
		t.Errorf("stats = %+v", st)
	}
}

// TestPersonalities: against each server's personality, a transient error
// in that server's own words is retried; a prompt too large for its
// context comes back as a non-temporary overflow with the server's
// numbers, after one attempt; reasoning text never reaches the answer.
func TestPersonalities(t *testing.T) {
	t.Parallel()
	for _, p := range inferencetest.Personalities() {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			p.Reasoning = inferencetest.ReasoningInline
			s := inferencetest.New(t, inferencetest.WithPersonality(p))
			c := newClient(t, s, openai.Config{Name: p.Name})
			ctx := context.Background()

			s.FailNextTransient(2)
			resp, err := c.Chat(ctx, inference.ChatRequest{Messages: redBlue(t), MaxTokens: 200})
			if err != nil {
				t.Fatalf("after two transient errors: %v", err)
			}
			if strings.Contains(resp.Text, "think") || !strings.Contains(resp.Text, "red") {
				t.Errorf("answer %q: reasoning left in, or the frames not described", resp.Text)
			}

			if p.Name == "ollama" {
				return // Ollama never refuses: it drops (the engine's concern)
			}
			before := s.Stats().Calls
			big := inference.ChatRequest{Messages: redBlue(t), MaxTokens: p.ContextTokens}
			_, err = c.Chat(ctx, big)
			be, tooLarge := inference.AsTooLarge(err)
			if p.Name == "llamacpp" {
				// llama.cpp never checks max_tokens: the answer is cut instead.
				if err != nil {
					t.Fatalf("llama.cpp with a large max_tokens: %v", err)
				}
				return
			}
			if !tooLarge || be.Temporary || be.ContextTokens != p.ContextTokens || be.PromptTokens == 0 {
				t.Fatalf("overflow: %v (%+v), want a permanent overflow naming context %d and the prompt's tokens", err, be, p.ContextTokens)
			}
			if n := s.Stats().Calls - before; n != 1 {
				t.Errorf("overflow sent %d times, want once", n)
			}
		})
	}
}

// TestRequestTooLargeIsNotRetried: OpenAI's 429 "Request too large" (tokens
// per minute) never succeeds on retry, unlike a rate limit.
func TestRequestTooLargeIsNotRetried(t *testing.T) {
	t.Parallel()
	p := inferencetest.OpenAI()
	p.TPMLimit = 1000
	s := inferencetest.New(t, inferencetest.WithPersonality(p))
	c := newClient(t, s, openai.Config{Name: "openai"})
	_, err := c.Chat(context.Background(), inference.ChatRequest{Messages: redBlue(t), MaxTokens: 2000})
	be, ok := inference.AsTooLarge(err)
	if !ok || be.StatusCode != 429 || be.Temporary || be.ContextTokens != 1000 {
		t.Fatalf("err %v (%+v), want a permanent 429 overflow with the limit 1000", err, be)
	}
	if n := s.Stats().Calls; n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}
