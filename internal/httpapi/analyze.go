package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/internal/task"
)

// Analyzer runs synchronous analyses (POST /v1.3/analyze).
type Analyzer interface {
	// Begin admits a request (a *task.BusyError when the synchronous
	// slots are taken), validates it and makes its video readable: its
	// errors are answered before any event is sent.
	Begin(ctx context.Context, body []byte) (AnalyzeRun, error)
}

// AnalyzeRun is one admitted synchronous request whose video is ready.
type AnalyzeRun interface {
	// Streamed is the request's stream parameter.
	Streamed() bool
	// GenerationID identifies the answer (stream_start, the id of a
	// non-streamed answer).
	GenerationID() string
	// Analyze runs the analysis; stream, when set, receives the answer's
	// text as it is produced. A failure is a *task.AnalysisError.
	Analyze(ctx context.Context, stream func(text string)) (*task.Result, string, error)
	// Close frees the request's slot and what it stored.
	Close()
}

// streamer is a response body that writes itself (the NDJSON events of a
// streamed answer) after the adapter has authenticated and admitted the
// request.
type streamer interface {
	serve(w http.ResponseWriter, r *http.Request)
}

// defaultHeartbeat is Options.StreamHeartbeat when it is zero.
const defaultHeartbeat = 15 * time.Second

func (s *Server) analyze(r *http.Request) (int, any, error) {
	body, err := readBody(r, s.maxBody)
	if err != nil {
		return 0, nil, err
	}
	run, err := s.analyzer.Begin(r.Context(), body)
	if err != nil {
		return busyAnswer(flat, err)
	}
	if run.Streamed() {
		return http.StatusOK, &eventStream{run: run, s: s, heartbeat: s.heartbeat}, nil
	}
	defer run.Close()
	res, warning, err := run.Analyze(r.Context(), nil)
	if err != nil {
		return 0, nil, err
	}
	out := api.AnalyzeResponse{ID: run.GenerationID(), Data: res.Data, FinishReason: res.FinishReason,
		Usage: api.Usage{OutputTokens: res.OutputTokens, InputTokens: res.InputTokens}}
	if warning != "" {
		out.Error = &api.TaskError{Message: warning}
	}
	return http.StatusOK, out, nil
}

// eventStream answers a streamed request: stream_start at once, a
// text_generation event per piece of the answer, flushed as it comes,
// and stream_end last, carrying the finish reason and usage, or the error
// of an analysis that failed after the stream started. A client that goes
// away cancels the analysis and its model calls at once.
type eventStream struct {
	run AnalyzeRun
	s   *Server
	// heartbeat is how long the stream stays silent before an empty line
	// is sent (the SDK skips empty lines), so that proxies and clients do
	// not take a long analysis for a dead connection.
	heartbeat time.Duration
}

func (e *eventStream) serve(w http.ResponseWriter, r *http.Request) {
	defer e.run.Close()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)

	var mu sync.Mutex // one writer at a time: events and heartbeats
	last := time.Now()
	write := func(line []byte) {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		_, err := w.Write(line)
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			cancel() // the client is gone: stop the analysis
			return
		}
		last = time.Now()
	}
	send := func(ev api.StreamEvent) {
		b, _ := json.Marshal(ev)
		write(append(b, '\n'))
	}
	gen := e.run.GenerationID()
	send(api.StreamEvent{EventType: api.EventStreamStart, Metadata: &api.EventMetadata{GenerationID: gen}})

	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(e.heartbeat / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				mu.Lock()
				quiet := time.Since(last) >= e.heartbeat
				mu.Unlock()
				if quiet {
					write([]byte("\n"))
				}
			}
		}
	}()

	res, warning, err := e.run.Analyze(ctx, func(text string) {
		if text != "" {
			send(api.StreamEvent{EventType: api.EventTextGeneration, Text: text})
		}
	})
	end := api.StreamEvent{EventType: api.EventStreamEnd, Metadata: &api.EventMetadata{GenerationID: gen}}
	switch {
	case ctx.Err() != nil:
		e.s.log.Info("stream ended: the client went away", "request_id", requestID(r))
		return
	case err != nil:
		msg := "The analysis failed."
		if f, ok := err.(*task.AnalysisError); ok {
			msg = f.Message
		} else {
			e.s.log.Error("stream ended by an internal error", "request_id", requestID(r), "err", err)
		}
		end.Error = &api.TaskError{Message: msg}
	default:
		end.FinishReason = res.FinishReason
		end.Metadata.Usage = &api.Usage{OutputTokens: res.OutputTokens, InputTokens: res.InputTokens}
		if warning != "" {
			end.Error = &api.TaskError{Message: warning}
		}
	}
	send(end)
}
