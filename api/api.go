// Package api holds the public wire types of framewise's TwelveLabs v1.3
// compatible JSON: requests, responses and error bodies. It has no behaviour;
// the server converts its domain types to and from these in internal/apiconv,
// and the Go client in package client sends and receives them.
//
// Optional request fields are pointers so that "absent" (or JSON null, which
// the server treats the same) differs from a zero value such as
// temperature 0. Use String, Float and Int to fill them.
package api

import (
	"encoding/json"
	"time"
)

// BasePath is the path prefix of every API route.
const BasePath = "/v1.3"

// Task status values.
const (
	StatusQueued     = "queued"
	StatusPending    = "pending"
	StatusProcessing = "processing"
	StatusReady      = "ready"
	StatusFailed     = "failed"
)

// Analysis modes.
const (
	ModeGeneral           = "general"
	ModeTimeBasedMetadata = "time_based_metadata"
)

// Model names.
const (
	ModelPegasus12 = "pegasus1.2"
	ModelPegasus15 = "pegasus1.5"
)

// Video source types.
const (
	SourceURL     = "url"
	SourceAssetID = "asset_id"
	SourceBase64  = "base64_string"
	SourceVideoID = "video_id"
)

// String returns a pointer to s, for optional request fields.
func String(s string) *string { return &s }

// Float returns a pointer to f, for optional request fields.
func Float(f float64) *float64 { return &f }

// Int returns a pointer to i, for optional request fields.
func Int(i int) *int { return &i }

// CreateTaskRequest is the body of POST /analyze/tasks.
type CreateTaskRequest struct {
	ModelName          *string         `json:"model_name,omitempty"`
	CustomID           *string         `json:"custom_id,omitempty"`
	Video              *VideoContext   `json:"video,omitempty"`
	Prompt             *string         `json:"prompt,omitempty"`
	PromptV2           *PromptV2       `json:"prompt_v2,omitempty"`
	AnalysisMode       *string         `json:"analysis_mode,omitempty"`
	Temperature        *float64        `json:"temperature,omitempty"`
	MaxTokens          *int            `json:"max_tokens,omitempty"`
	ResponseFormat     *ResponseFormat `json:"response_format,omitempty"`
	MinSegmentDuration *float64        `json:"min_segment_duration,omitempty"`
	MaxSegmentDuration *float64        `json:"max_segment_duration,omitempty"`
	StartTime          *float64        `json:"start_time,omitempty"`
	EndTime            *float64        `json:"end_time,omitempty"`
}

// VideoContext names the video of a request: exactly one source, chosen by Type.
type VideoContext struct {
	Type         string `json:"type"`
	URL          string `json:"url,omitempty"`
	AssetID      string `json:"asset_id,omitempty"`
	Base64String string `json:"base64_string,omitempty"`
}

// PromptV2 is a prompt with reference images placed by <@name> placeholders.
type PromptV2 struct {
	InputText    string        `json:"input_text"`
	MediaSources []MediaSource `json:"media_sources,omitempty"`
}

// MediaSource is a reference image of a prompt or a segment definition.
type MediaSource struct {
	Name         string `json:"name"`
	MediaType    string `json:"media_type"`
	URL          string `json:"url,omitempty"`
	AssetID      string `json:"asset_id,omitempty"`
	Base64String string `json:"base64_string,omitempty"`
}

// ResponseFormat asks for JSON following a schema, or for timestamped segments.
type ResponseFormat struct {
	Type               string              `json:"type"`
	JSONSchema         json.RawMessage     `json:"json_schema,omitempty"`
	SegmentDefinitions []SegmentDefinition `json:"segment_definitions,omitempty"`
	SegmentTimeFormat  *string             `json:"segment_time_format,omitempty"`
}

// SegmentDefinition describes one kind of segment to find in the video.
type SegmentDefinition struct {
	ID           string         `json:"id"`
	Description  string         `json:"description"`
	Fields       []SegmentField `json:"fields,omitempty"`
	MediaSources []MediaSource  `json:"media_sources,omitempty"`
	TimeRanges   []TimeRange    `json:"time_ranges,omitempty"`
}

// SegmentField is a typed custom field filled for each segment.
type SegmentField struct {
	Name        string      `json:"name"`
	Type        string      `json:"type"`
	Description string      `json:"description,omitempty"`
	Format      string      `json:"format,omitempty"`
	Enum        []string    `json:"enum,omitempty"`
	Items       *FieldItems `json:"items,omitempty"`
}

// FieldItems is the element type of an array field.
type FieldItems struct {
	Type string `json:"type"`
}

// TimeRange is a window of the video, in seconds.
type TimeRange struct {
	StartTime float64 `json:"start_time"`
	EndTime   float64 `json:"end_time"`
}

// CreateTaskResponse is the 202 body of POST /analyze/tasks.
type CreateTaskResponse struct {
	TaskID string `json:"task_id"`
	Status string `json:"status"`
}

// Task is the body of GET /analyze/tasks/{id} and an item of the list.
type Task struct {
	TaskID        string         `json:"task_id"`
	CustomID      *string        `json:"custom_id"`
	VideoSource   *VideoSource   `json:"video_source,omitempty"`
	RequestParams *RequestParams `json:"request_params,omitempty"`
	Status        string         `json:"status"`
	CreatedAt     time.Time      `json:"created_at"`
	CompletedAt   *time.Time     `json:"completed_at,omitempty"`
	Result        *TaskResult    `json:"result,omitempty"`
	Error         *TaskError     `json:"error,omitempty"`
	Webhooks      []WebhookInfo  `json:"webhooks,omitempty"`
	// Progress is a framewise extension that clients may ignore: the stage
	// of a task that is not finished and how far it has come.
	Progress *Progress `json:"framewise_progress,omitempty"`
}

// VideoSource echoes where a task's video came from; base64 data is never echoed.
type VideoSource struct {
	Type           string          `json:"type"`
	URL            string          `json:"url,omitempty"`
	AssetID        string          `json:"asset_id,omitempty"`
	VideoID        string          `json:"video_id,omitempty"`
	IndexID        string          `json:"index_id,omitempty"`
	SystemMetadata *SystemMetadata `json:"system_metadata,omitempty"`
}

// SystemMetadata holds facts measured from the video.
type SystemMetadata struct {
	Duration *float64 `json:"duration,omitempty"`
}

// RequestParams echoes the effective parameters of a task.
type RequestParams struct {
	AnalysisMode       string          `json:"analysis_mode"`
	Prompt             *string         `json:"prompt,omitempty"`
	PromptV2           *PromptV2       `json:"prompt_v2,omitempty"`
	ResponseFormat     *ResponseFormat `json:"response_format,omitempty"`
	Temperature        float64         `json:"temperature"`
	MaxTokens          int             `json:"max_tokens"`
	MinSegmentDuration *float64        `json:"min_segment_duration,omitempty"`
	MaxSegmentDuration *float64        `json:"max_segment_duration,omitempty"`
	StartTime          *float64        `json:"start_time,omitempty"`
	EndTime            *float64        `json:"end_time,omitempty"`
}

// TaskResult is the output of a ready task.
type TaskResult struct {
	GenerationID string `json:"generation_id"`
	Data         string `json:"data"`
	FinishReason string `json:"finish_reason"`
	Usage        Usage  `json:"usage"`
}

// Usage counts tokens.
type Usage struct {
	OutputTokens int  `json:"output_tokens"`
	InputTokens  *int `json:"input_tokens,omitempty"`
}

// TaskError explains a failed task, or warns about a truncated result.
type TaskError struct {
	Message string `json:"message"`
}

// WebhookInfo reports delivery of a task's notification to one endpoint.
type WebhookInfo struct {
	URL       string `json:"url"`
	Delivered bool   `json:"delivered"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error,omitempty"`
}

// Progress is the framewise_progress extension of a task.
type Progress struct {
	Stage   string  `json:"stage"`
	Percent float64 `json:"percent"`
}

// MediaURL is the body of POST /analyze/tasks/{id}/media (a framewise
// extension): a signed URL of the task's stored video, valid until
// ExpiresAt, for players that cannot send x-api-key.
type MediaURL struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// TaskList is the body of GET /analyze/tasks.
type TaskList struct {
	Data     []Task   `json:"data"`
	PageInfo PageInfo `json:"page_info"`
}

// PageInfo describes one page of a list.
type PageInfo struct {
	LimitPerPage int `json:"limit_per_page"`
	Page         int `json:"page"`
	TotalPage    int `json:"total_page"`
	TotalResults int `json:"total_results"`
}

// Error codes used in error bodies.
const (
	CodeParameterInvalid     = "parameter_invalid"
	CodeParameterNotProvided = "parameter_not_provided"
	CodeParameterUnknown     = "parameter_unknown"
	CodeAPIKeyInvalid        = "api_key_invalid"
	CodeResourceNotExist     = "resource_not_exist"
	CodeTaskProcessing       = "task_processing"
	CodeTooManyRequests      = "too_many_requests"
	CodeVideoInvalid         = "video_invalid"
	CodeSchemaUnsupported    = "json_schema_unsupported"
	CodeInternal             = "internal_error"
	CodeServiceUnavailable   = "service_unavailable" // 503 with Retry-After: the database is out of reach
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeBodyTooLarge         = "request_too_large"
	// CodeInsufficientStorage (507): the server's disk is full, or the
	// storage quota is used up; nothing of the request was stored.
	CodeInsufficientStorage = "insufficient_storage"
)

// FlatError is the flat error body: {"code", "message", "docs_url"?}.
type FlatError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	DocsURL string `json:"docs_url,omitempty"`
}

// NestedError is the nested error body: {"error": {"code", "message", "details"?}}.
type NestedError struct {
	Error ErrorObject `json:"error"`
}

// ErrorObject is the inside of a NestedError.
type ErrorObject struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// AnalyzeResponse is the body of POST /v1.3/analyze with stream false.
type AnalyzeResponse struct {
	ID           string     `json:"id"`
	Data         string     `json:"data"`
	FinishReason string     `json:"finish_reason"`
	Usage        Usage      `json:"usage"`
	Error        *TaskError `json:"error,omitempty"` // only a truncation warning
}

// Event types of the NDJSON stream of POST /v1.3/analyze.
const (
	EventStreamStart    = "stream_start"
	EventTextGeneration = "text_generation"
	EventStreamEnd      = "stream_end"
)

// StreamEvent is one line of the NDJSON stream of POST /v1.3/analyze:
// stream_start (Metadata with GenerationID) first, then text_generation
// events (Text, fragments of the answer in order), then stream_end
// (FinishReason, Metadata with GenerationID and Usage, and Error when the
// answer was cut or the analysis failed).
type StreamEvent struct {
	EventType    string         `json:"event_type"`
	Text         string         `json:"text,omitempty"`
	FinishReason string         `json:"finish_reason,omitempty"`
	Metadata     *EventMetadata `json:"metadata,omitempty"`
	Error        *TaskError     `json:"error,omitempty"`
}

// EventMetadata is the metadata of stream_start and stream_end.
type EventMetadata struct {
	GenerationID string `json:"generation_id"`
	Usage        *Usage `json:"usage,omitempty"`
}

// AnalyzeRequest is the body of POST /analyze: a synchronous analysis of a
// video of at most 1 hour, in general mode (a prompt, optionally an answer
// following a JSON schema). Stream defaults to true on the wire.
type AnalyzeRequest struct {
	ModelName      *string         `json:"model_name,omitempty"`
	Video          *VideoContext   `json:"video,omitempty"`
	Prompt         *string         `json:"prompt,omitempty"`
	PromptV2       *PromptV2       `json:"prompt_v2,omitempty"`
	Temperature    *float64        `json:"temperature,omitempty"`
	MaxTokens      *int            `json:"max_tokens,omitempty"`
	ResponseFormat *ResponseFormat `json:"response_format,omitempty"`
	StartTime      *float64        `json:"start_time,omitempty"`
	EndTime        *float64        `json:"end_time,omitempty"`
	Stream         *bool           `json:"stream,omitempty"`
}
