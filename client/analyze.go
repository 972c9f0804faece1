package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"

	"github.com/framewise/framewise/api"
)

const analyzePath = "/analyze"

// maxEventBytes bounds one line of an analysis stream.
const maxEventBytes = 8 << 20

// Analyze analyzes a video while the call waits (POST /analyze with stream
// false) and returns the whole answer. Videos of at most 1 hour, general
// mode only; use CreateTask for longer videos and segments. An answer cut
// at max_tokens has FinishReason "length" and its warning in Error. A
// server whose synchronous slots are all taken answers 429, which is
// retried after its Retry-After: the analysis has no effect to duplicate.
func (c *Client) Analyze(ctx context.Context, req *api.AnalyzeRequest, opts ...CallOption) (*api.AnalyzeResponse, error) {
	r, err := analyzeRequest(req, false, opts)
	if err != nil {
		return nil, err
	}
	var out api.AnalyzeResponse
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AnalyzeStream analyzes a video while the call waits (POST /analyze with
// stream true) and yields the events of the answer as they arrive:
// stream_start, text_generation events (fragments of the text, in order),
// and stream_end, whose Error is set when the answer was cut or the
// analysis failed after it started. Errors before the stream (a bad
// request, 429 after the retries) and a broken stream are yielded as the
// error of a last pair. Stopping the iteration (or canceling ctx) closes
// the connection, which stops the analysis on the server.
func (c *Client) AnalyzeStream(ctx context.Context, req *api.AnalyzeRequest, opts ...CallOption) iter.Seq2[api.StreamEvent, error] {
	return func(yield func(api.StreamEvent, error) bool) {
		r, err := analyzeRequest(req, true, opts)
		if err != nil {
			yield(api.StreamEvent{}, err)
			return
		}
		var resp *http.Response
		err = c.retry(ctx, r, func() (err error) {
			resp, err = c.roundTrip(ctx, r)
			return err
		})
		if err != nil {
			yield(api.StreamEvent{}, err)
			return
		}
		defer resp.Body.Close()
		ended, stopped := false, false
		err = eachLine(resp.Body, maxEventBytes, func(line []byte) (bool, error) {
			var ev api.StreamEvent
			if err := json.Unmarshal(line, &ev); err != nil {
				return false, fmt.Errorf("framewise: POST /analyze: decoding event: %w", err)
			}
			ended = ev.EventType == api.EventStreamEnd
			stopped = !yield(ev, nil)
			return !stopped && !ended, nil
		})
		if stopped || (ended && err == nil) {
			return
		}
		if err == nil {
			err = errors.New("framewise: POST /analyze: the stream ended before its stream_end event")
		}
		yield(api.StreamEvent{}, err)
	}
}

// AnalyzeText runs AnalyzeStream and passes each piece of text to each as
// it arrives; it returns the stream_end event. An analysis that failed
// after the stream started is an error naming the server's message.
func (c *Client) AnalyzeText(ctx context.Context, req *api.AnalyzeRequest, each func(text string), opts ...CallOption) (*api.StreamEvent, error) {
	for ev, err := range c.AnalyzeStream(ctx, req, opts...) {
		if err != nil {
			return nil, err
		}
		switch ev.EventType {
		case api.EventTextGeneration:
			if each != nil {
				each(ev.Text)
			}
		case api.EventStreamEnd:
			if ev.Error != nil && ev.FinishReason == "" {
				return &ev, fmt.Errorf("framewise: the analysis failed: %s", ev.Error.Message)
			}
			return &ev, nil
		}
	}
	return nil, errors.New("framewise: POST /analyze: the stream ended before its stream_end event")
}

// analyzeRequest is the POST /analyze request of req with stream set. It
// may be sent again: a refused or failed analysis has no effect.
func analyzeRequest(req *api.AnalyzeRequest, stream bool, opts []CallOption) (*request, error) {
	if req == nil {
		return nil, errors.New("framewise: Analyze: nil request")
	}
	body := *req
	body.Stream = &stream
	r, err := jsonRequest("Analyze", http.MethodPost, analyzePath, &body, opts)
	if err != nil {
		return nil, err
	}
	r.idempotent = true
	return r, nil
}
