package task

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

// MaxSyncDuration is the longest video POST /analyze takes (spec §4.5):
// longer ones go through POST /analyze/tasks.
const MaxSyncDuration = 3600.0

// SyncRequest is a validated POST /analyze request.
type SyncRequest struct {
	Spec Spec
	// Stream is the request's stream parameter (default true): NDJSON
	// events as the answer is produced, or one JSON body at the end.
	Stream bool
}

// DecodeAnalyze parses and validates the JSON body of POST /analyze with
// the checks of POST /analyze/tasks (DecodeCreate) and the limits of a
// synchronous call (spec §4.5): general mode only, a json_schema response
// format but no segment definitions, stream a boolean (default true). The
// video's duration (at most MaxSyncDuration) is checked once it is probed.
func DecodeAnalyze(body []byte, lim Limits) (*SyncRequest, error) {
	top, verr := parseCreateBody(body)
	if verr != nil {
		return nil, verr
	}
	for k, hint := range map[string]string{
		"analysis_mode":        "POST /analyze answers in general mode only; send time_based_metadata requests to POST /analyze/tasks.",
		"min_segment_duration": "segments are produced by POST /analyze/tasks only.",
		"max_segment_duration": "segments are produced by POST /analyze/tasks only.",
		"custom_id":            "custom_id belongs to POST /analyze/tasks and /analyze/batches.",
		"video_id":             "video ids of indexes are not supported; send the video as {\"type\":\"url\",…}, {\"type\":\"asset_id\",…} or {\"type\":\"base64_string\",…}.",
	} {
		if top.has(k) {
			return nil, &ValidationError{Status: 400, Code: "parameter_unknown", Param: k,
				Message: fmt.Sprintf("The %s parameter is not accepted by POST /analyze: %s", k, hint)}
		}
	}
	if verr := top.allowOnly("model_name", "video", "prompt", "prompt_v2", "temperature", "max_tokens",
		"response_format", "start_time", "end_time", "stream"); verr != nil {
		return nil, verr
	}
	req := &SyncRequest{Stream: true}
	if raw, ok := top.get("stream"); ok {
		switch string(bytes.TrimSpace(raw)) {
		case "true":
		case "false":
			req.Stream = false
		default:
			return nil, Invalid("stream", "The stream parameter must be true or false, but %s was given.", jsonKind(raw))
		}
	}
	if rf, ok, verr := top.object("response_format"); verr != nil {
		return nil, verr
	} else if ok {
		if typ, _, _ := rf.str("type"); typ == "segment_definitions" {
			return nil, Invalid("response_format.type", "The response_format.type segment_definitions is not accepted by POST /analyze: segments are produced by POST /analyze/tasks with analysis_mode time_based_metadata. Use type json_schema, or create a task.")
		}
	}
	d := &createDecoder{lim: lim, spec: &Spec{}}
	if verr := d.run(top, d.modelAndMode, d.video, d.prompts, d.temperature, d.maxTokens, d.responseFormat, d.window); verr != nil {
		return nil, verr
	}
	req.Spec = *d.spec
	return req, nil
}

// PrepareSync validates a POST /analyze body and makes its video readable
// as a task's would be: assets are resolved for the request's account, and
// a base64 video is stored. The task is not stored and has no job: the
// caller probes and checks the video (at most MaxSyncDuration), runs it at
// once and calls Discard when done. Creates are not admitted here: the
// caller bounds its synchronous requests itself.
func (s *Service) PrepareSync(ctx context.Context, body []byte) (*Task, bool, error) {
	req, err := DecodeAnalyze(body, s.limits)
	if err != nil {
		return nil, false, err
	}
	now := s.now()
	t := &Task{ID: "sync_" + NewID(now), Spec: req.Spec, Status: Processing, CreatedAt: now, UpdatedAt: now}
	if err := s.resolveAssets(ctx, t); err != nil {
		return nil, false, err
	}
	if t.Spec.Source.Type == SourceBase64 {
		src := bytes.NewReader(t.Spec.Source.Data)
		t.Spec.Source.Data = nil
		if err := s.putBase64(ctx, t, src); err != nil {
			return nil, false, err
		}
	}
	return t, req.Stream, nil
}

// ChargeSync counts the video of a synchronous request, once its duration
// is known, against its account's video quota, as a task's video counts:
// a *BusyError (429 quota_exceeded) when it would pass the quota.
func (s *Service) ChargeSync(ctx context.Context, t *Task) error { return s.store.ChargeVideo(ctx, t) }

// Discard deletes what PrepareSync (or the run of a synchronous request)
// stored for t. It runs after the request's context may have ended.
func (s *Service) Discard(t *Task) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.blobs.Delete(ctx, "tasks/"+t.ID); err != nil {
		s.log.Warn("could not delete the video of a synchronous request", "request", t.ID, "err", err)
	}
}

// AnalysisError is a synchronous analysis that started and failed (a model
// server that failed, an answer the engine refused, the time bound): its
// message is for the client. Status is the HTTP status of a request that
// has not answered yet: 400 for the video, 502 for the model or the
// engine, 504 for the time bound.
type AnalysisError struct {
	Status  int
	Code    string // video_invalid, analysis_failed or analysis_timeout
	Message string
}

func (e *AnalysisError) Error() string { return e.Message }

// SyncBusy is the refusal of a synchronous request when all of the limit
// synchronous slots are taken.
func SyncBusy(limit int) *BusyError {
	return &BusyError{Status: 429, Code: "too_many_requests", RetryAfter: 5,
		Message: fmt.Sprintf("This server runs %d synchronous analyses (POST /analyze) at once, and all are taken. "+
			"Retry after 5 seconds, or create an analysis task (POST /analyze/tasks), which waits in the queue.", limit)}
}
