package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
	"github.com/framewise/framewise/internal/inference/inferencetest"
)

// syncRequest asks pegasus1.5 (the model double) about the colour video.
func syncRequest(t *testing.T) *api.AnalyzeRequest {
	return &api.AnalyzeRequest{ModelName: api.String(api.ModelPegasus15),
		Video:  &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, colourVideo(t))},
		Prompt: api.String("Which colours appear, and when?")}
}

// streamedCalls counts the double's calls that streamed, and those of
// them the client left before their end.
func streamedCalls(double *inferencetest.Server) (streamed, canceled int) {
	for _, c := range double.Calls() {
		if c.Streamed {
			streamed++
			if c.Canceled {
				canceled++
			}
		}
	}
	return streamed, canceled
}

// TestAnalyzeSyncStreamsTokens: with the model streaming its answer a
// fragment every 40 ms, the first text_generation event reaches the client
// while the model is still writing (the double has not finished its call),
// the text put together is the answer, and the time to the first event is
// a small part of the whole (measured and logged).
func TestAnalyzeSyncStreamsTokens(t *testing.T) {
	t.Parallel()
	double := inferencetest.New(t, inferencetest.WithTokenDelay(40*time.Millisecond))
	srv := startVLM(t, t.TempDir(), double, 8, 2)
	c := srv.client()
	ctx := waitCtx(t, 3*time.Minute)

	sent := time.Now()
	var first, total time.Duration
	var text strings.Builder
	events, doneAtFirst := 0, -1
	var end api.StreamEvent
	for ev, err := range c.AnalyzeStream(ctx, syncRequest(t)) {
		if err != nil {
			t.Fatal(err)
		}
		events++
		switch ev.EventType {
		case api.EventTextGeneration:
			if first == 0 {
				first = time.Since(sent)
				doneAtFirst, _ = streamedCalls(double)
			}
			text.WriteString(ev.Text)
		case api.EventStreamEnd:
			total = time.Since(sent)
			end = ev
		}
	}
	if doneAtFirst != 0 {
		t.Fatalf("the first text event arrived after the model had finished %d streamed calls: not streamed", doneAtFirst)
	}
	if end.FinishReason != "stop" || end.Metadata == nil || end.Metadata.Usage == nil || end.Metadata.Usage.OutputTokens == 0 {
		t.Fatalf("stream_end %+v", end)
	}
	for _, colour := range []string{"red", "blue", "green"} {
		if !strings.Contains(text.String(), colour) {
			t.Errorf("the streamed answer lacks %s: %q", colour, text.String())
		}
	}
	calls := double.Calls()
	last := calls[len(calls)-1]
	if !last.Streamed || last.Fragments < 5 {
		t.Fatalf("the answering call: %+v", last)
	}
	t.Logf("time to first text event %.2f s of %.2f s total (%.0f%%); %d events, %d fragments from the model",
		first.Seconds(), total.Seconds(), 100*first.Seconds()/total.Seconds(), events, last.Fragments)
}

// TestAnalyzeSyncDisconnect: a client that goes away mid-stream stops the
// model call (the double sees its client leave) and frees the request's
// slot: with one synchronous slot, the next request is admitted at once.
func TestAnalyzeSyncDisconnect(t *testing.T) {
	t.Parallel()
	double := inferencetest.New(t, inferencetest.WithTokenDelay(300*time.Millisecond))
	srv := startVLM(t, t.TempDir(), double, 8, 2, "--sync-concurrency", "1")
	c := srv.client()
	ctx := waitCtx(t, 3*time.Minute)

	sctx, cancel := context.WithCancel(ctx)
	var left time.Time
	for ev, err := range c.AnalyzeStream(sctx, syncRequest(t)) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.EventType == api.EventTextGeneration {
			cancel()
			left = time.Now()
			break
		}
	}
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, canceled := streamedCalls(double); canceled == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the model double never saw the client leave: %+v", double.Calls())
		}
		time.Sleep(10 * time.Millisecond)
	}
	seen := time.Since(left)

	// The slot is free: the next request is admitted (not 429) without
	// waiting for the abandoned answer, whose remaining fragments would
	// take many seconds.
	strict := client.New("http://"+srv.addr, client.WithAPIKey(testKey), client.WithMaxRetries(0))
	var admitted time.Duration
	for {
		err := firstEvent(ctx, strict, syncRequest(t))
		if err == nil {
			admitted = time.Since(left)
			break
		}
		if !errors.Is(err, client.ErrRateLimited) || time.Since(left) > 5*time.Second {
			t.Fatalf("next request: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("client left; the model server saw it after %v; the next request was admitted after %v", seen.Round(time.Millisecond), admitted.Round(time.Millisecond))
}

// firstEvent opens a stream of the colour question and closes it at its
// first text event.
func firstEvent(ctx context.Context, c *client.Client, req *api.AnalyzeRequest) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for ev, err := range c.AnalyzeStream(ctx, req) {
		if err != nil {
			return err
		}
		if ev.EventType == api.EventTextGeneration {
			return nil
		}
	}
	return errors.New("the stream ended without text")
}

// TestAnalyzeSyncFailsMidStream: a model server that breaks off its
// stream after some text (an error inside the 200 stream, as vLLM sends
// it; a dropped connection) ends the client's stream with a stream_end
// carrying the error, never with a short answer that looks complete.
func TestAnalyzeSyncFailsMidStream(t *testing.T) {
	t.Parallel()
	double := inferencetest.New(t, inferencetest.WithPersonality(inferencetest.VLLM()))
	srv := startVLM(t, t.TempDir(), double, 8, 2)
	c := srv.client()
	ctx := waitCtx(t, 3*time.Minute)
	for _, tc := range []struct {
		name  string
		fault func()
	}{
		{"error in the stream", func() { double.FailStreamNext(1, 3) }},
		{"dropped connection", func() { double.DropStreamNext(1, 3) }},
	} {
		tc.fault()
		var text strings.Builder
		var end *api.StreamEvent
		for ev, err := range c.AnalyzeStream(ctx, syncRequest(t)) {
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			switch ev.EventType {
			case api.EventTextGeneration:
				text.WriteString(ev.Text)
			case api.EventStreamEnd:
				end = &ev
			}
		}
		if end == nil || end.Error == nil || end.FinishReason != "" || !strings.Contains(end.Error.Message, "broke off") {
			t.Fatalf("%s: stream_end %+v after %q: want an error and no finish reason", tc.name, end, text.String())
		}
		t.Logf("%s: %d characters streamed, then: %s", tc.name, text.Len(), end.Error.Message)
	}
}
