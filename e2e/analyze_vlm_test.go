package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
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
	double := inferencetest.New(t, inferencetest.WithTokenDelay(100*time.Millisecond))
	srv := startVLM(t, t.TempDir(), double, 8, 2)
	c := srv.client()
	ctx := waitCtx(t, 3*time.Minute)

	// Baseline, in the same run: the same request answered in one body,
	// measured after a first request has probed the model server (its
	// probe's calls would count against whichever request came first).
	if _, err := c.Analyze(ctx, syncRequest(t)); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	whole, err := c.Analyze(ctx, syncRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	oneBody := time.Since(sent)

	sent = time.Now()
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
	if text.String() != whole.Data {
		t.Errorf("streamed text %q differs from the answer in one body %q", text.String(), whole.Data)
	}

	// A long video goes through windows: notes first (not streamed), then
	// the answer, streamed.
	before := len(double.Calls())
	double.SetTokenDelay(0)
	long := &api.AnalyzeRequest{ModelName: api.String(api.ModelPegasus15), Video: &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, longColourVideo(t))},
		Prompt: api.String("Which colours appear, and when?")}
	var longText strings.Builder
	if _, err := c.AnalyzeText(ctx, long, func(s string) { longText.WriteString(s) }); err != nil {
		t.Fatal(err)
	}
	notes, answers := 0, 0
	for _, call := range double.Calls()[before:] {
		switch {
		case call.Streamed:
			answers++
		case call.Kind == inferencetest.KindChat && call.Frames > 0:
			notes++
		}
	}
	if notes < 2 || answers != 1 || !strings.Contains(longText.String(), "red") {
		t.Errorf("long video: %d notes calls, %d streamed answers, text %q: want windows' notes, then one streamed answer", notes, answers, longText.String())
	}
	t.Logf("stream: first text event after %.2f s, stream_end after %.2f s: text flowed for the last %.2f s (%d events, %d fragments from the model); "+
		"in one body (stream false) the first byte of the answer came after %.2f s; first event / one body = %.2f",
		first.Seconds(), total.Seconds(), (total - first).Seconds(), events, last.Fragments, oneBody.Seconds(), first.Seconds()/oneBody.Seconds())
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
	refused := 0
	for {
		err := firstEvent(ctx, strict, syncRequest(t))
		if err == nil {
			break
		}
		if !errors.Is(err, client.ErrRateLimited) || refused == 50 {
			t.Fatalf("next request: %v (after %d refusals)", err, refused)
		}
		refused++
		time.Sleep(20 * time.Millisecond)
	}
	if refused > 5 {
		t.Errorf("the next request was refused %d times (20 ms apart) after the model server saw the client leave", refused)
	}
	t.Logf("client left; the model server saw it after %v; the next request was admitted after %d refusals (20 ms apart)", seen.Round(time.Millisecond), refused)
}

// firstEvent opens a stream and closes it at its first event: nil when
// the request was admitted.
func firstEvent(ctx context.Context, c *client.Client, req *api.AnalyzeRequest) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, err := range c.AnalyzeStream(ctx, req) {
		return err // stream_start: admitted
	}
	return errors.New("no event")
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

// TestAnalyzeSyncOwnSlots: synchronous requests and queued tasks do not
// take each other's capacity. With one synchronous slot taken, the next
// synchronous request is answered 429 with Retry-After at once, while a
// queued task still runs to ready before the held stream ends; and with a
// backlog of queued tasks on one worker, a synchronous request is answered
// before the backlog is done.
func TestAnalyzeSyncOwnSlots(t *testing.T) {
	t.Parallel()
	double := inferencetest.New(t, inferencetest.WithTokenDelay(200*time.Millisecond))
	srv := startVLM(t, t.TempDir(), double, 8, 2, "--sync-concurrency", "1", "--workers", "1")
	c := srv.client()
	ctx := waitCtx(t, 4*time.Minute)
	short := makeVideo(t, "sync-slots", 6, 640, 360)

	// Hold the one synchronous slot with a slow stream.
	held := make(chan struct{})
	ended := make(chan time.Time, 1)
	go func() {
		defer func() { ended <- time.Now() }()
		for ev, err := range c.AnalyzeStream(ctx, syncRequest(t)) {
			if err != nil {
				t.Error(err)
				close(held)
				return
			}
			if ev.EventType == api.EventStreamStart {
				close(held)
			}
		}
	}()
	<-held
	status, body := postAnalyze(t, srv, `{"video":{"type":"base64_string","base64_string":"`+base64File(t, short)+`"},"prompt":"x","stream":false}`)
	if status != 429 || !strings.Contains(body, `"too_many_requests"`) || !strings.Contains(body, "POST /analyze/tasks") {
		t.Fatalf("second synchronous request: %d %s, want 429 too_many_requests", status, body)
	}

	// A queued task runs meanwhile (the built-in engine of pegasus1.2).
	created, err := c.CreateTask(ctx, &api.CreateTaskRequest{Video: &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, short)}, Prompt: api.String("x")})
	if err != nil {
		t.Fatal(err)
	}
	task, err := c.Wait(ctx, created.TaskID, fastWait()...)
	if err != nil || task.Status != api.StatusReady {
		t.Fatalf("queued task: %+v %v", task, err)
	}
	readyAt := time.Now()
	if end := <-ended; end.Before(readyAt) {
		t.Errorf("the held stream ended (%v) before the queued task was ready (%v): the task waited for it", end.Format(time.StampMilli), readyAt.Format(time.StampMilli))
	}

	// The reverse: a backlog of queued tasks on one worker does not delay
	// a synchronous request.
	long := makeVideo(t, "sync-backlog", 60, 640, 360)
	var ids []string
	for range 8 {
		created, err := c.CreateTask(ctx, &api.CreateTaskRequest{Video: &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, long)}, Prompt: api.String("x")})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, created.TaskID)
	}
	started := time.Now()
	answer, err := c.Analyze(ctx, &api.AnalyzeRequest{Video: &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, short)}, Prompt: api.String("x")})
	if err != nil || answer.FinishReason != "stop" {
		t.Fatalf("synchronous request during the backlog: %+v %v", answer, err)
	}
	took := time.Since(started)
	waiting := 0
	for _, id := range ids {
		task, err := c.GetTask(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if task.Status != api.StatusReady {
			waiting++
		}
	}
	if waiting == 0 {
		t.Errorf("every queued task was done before the synchronous answer (%v): it waited for the backlog", took)
	}
	t.Logf("synchronous answer in %v with %d of 8 queued tasks not yet done", took.Round(time.Millisecond), waiting)
}

// TestAnalyzeSyncHeartbeat: while the analysis is silent (decoding, a
// slow model), the stream sends empty lines every --stream-heartbeat, which
// clients skip: the events around them are intact.
func TestAnalyzeSyncHeartbeat(t *testing.T) {
	t.Parallel()
	double := inferencetest.New(t, inferencetest.WithLatency(1500*time.Millisecond))
	srv := startVLM(t, t.TempDir(), double, 8, 2, "--stream-heartbeat", "200ms")
	ctx := waitCtx(t, 3*time.Minute)
	body, _ := json.Marshal(syncRequest(t))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+srv.addr+"/v1.3/analyze", bytes.NewReader(body))
	req.Header.Set("x-api-key", testKey)
	resp, err := recordingClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	blank, events := 0, []string{}
	for _, l := range lines {
		if l == "" {
			blank++
			continue
		}
		var ev api.StreamEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		events = append(events, ev.EventType)
	}
	if blank < 3 || events[0] != api.EventStreamStart || events[len(events)-1] != api.EventStreamEnd {
		t.Fatalf("%d empty lines, events %v: want heartbeats between stream_start and stream_end", blank, events)
	}
	t.Logf("%d heartbeats, %d events", blank, len(events))
}
