// Package task is the core of framewise: an analysis task, its states and
// the transitions allowed between them, the validation of a create request
// into a Spec, and the Service that owns every change of task state.
//
// It imports only the standard library. Storage and the job queue are
// reached through the consumer-side interfaces Store and Prober.
package task

import (
	"encoding/json"
	"time"
)

// Status is the lifecycle state of a task.
type Status string

// Task states. A task only moves forward; Ready and Failed are final.
const (
	Queued     Status = "queued"
	Pending    Status = "pending"
	Processing Status = "processing"
	Ready      Status = "ready"
	Failed     Status = "failed"
)

// Terminal reports whether s is a final state.
func (s Status) Terminal() bool { return s == Ready || s == Failed }

// Valid reports whether s is a known state.
func (s Status) Valid() bool {
	switch s {
	case Queued, Pending, Processing, Ready, Failed:
		return true
	}
	return false
}

// rank orders the states so that transitions can be checked to go forward.
func (s Status) rank() int {
	switch s {
	case Queued:
		return 0
	case Pending:
		return 1
	case Processing:
		return 2
	case Ready, Failed:
		return 3
	}
	return -1
}

// CanMoveTo reports whether a task in state s may move to next. Staying in
// Processing is allowed so that a job retried after a crash can resume.
func (s Status) CanMoveTo(next Status) bool {
	if s.Terminal() || !next.Valid() {
		return false
	}
	if s == next {
		return s == Processing
	}
	return next.rank() > s.rank()
}

// Model names and analysis modes, as on the wire.
const (
	Pegasus12 = "pegasus1.2"
	Pegasus15 = "pegasus1.5"

	ModeGeneral           = "general"
	ModeTimeBasedMetadata = "time_based_metadata"
)

// Source types, as on the wire.
const (
	SourceURL     = "url"
	SourceAssetID = "asset_id"
	SourceBase64  = "base64_string"
)

// Task is one analysis task as stored.
type Task struct {
	ID          string
	Spec        Spec
	Status      Status
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CompletedAt *time.Time
	// Duration is the probed duration of the video in seconds, once known.
	Duration *float64
	// BlobKey names the stored copy of the source video, once there is one.
	BlobKey string
	Result  *Result
	// ErrorMessage is set when the task failed, or as a truncation warning
	// on a ready task whose FinishReason is "length".
	ErrorMessage string
	// Stage and Percent report progress while the task runs.
	Stage   string
	Percent float64
	// Webhooks is the delivery of the task's notification to each webhook
	// endpoint of its account, as read by Get and List; nil when it has none.
	Webhooks []WebhookStatus
}

// WebhookStatus is the delivery of a task's notification to one endpoint.
type WebhookStatus struct {
	URL       string
	Delivered bool
	Attempts  int
	LastError string
}

// Spec is a validated create request with defaults applied. It is stored
// with the task and echoed as request_params.
type Spec struct {
	Model    string `json:"model"`
	CustomID string `json:"custom_id,omitempty"`
	Source   Source `json:"source"`
	Mode     string `json:"mode"`
	// Prompt is set (possibly to a non-empty string) when the request used prompt.
	Prompt             *string         `json:"prompt,omitempty"`
	PromptV2           *PromptV2       `json:"prompt_v2,omitempty"`
	Temperature        float64         `json:"temperature"`
	MaxTokens          int             `json:"max_tokens"`
	ResponseFormat     *ResponseFormat `json:"response_format,omitempty"`
	MinSegmentDuration *float64        `json:"min_segment_duration,omitempty"`
	MaxSegmentDuration *float64        `json:"max_segment_duration,omitempty"`
	StartTime          *float64        `json:"start_time,omitempty"`
	EndTime            *float64        `json:"end_time,omitempty"`
}

// Source is where the video comes from. Base64 data is kept out of the
// stored spec: the decoded bytes go to the blob store at create.
type Source struct {
	Type    string `json:"type"`
	URL     string `json:"url,omitempty"`
	AssetID string `json:"asset_id,omitempty"`
	// Data holds decoded base64 video bytes between validation and storage.
	Data []byte `json:"-"`
}

// PromptV2 is a prompt with reference images.
type PromptV2 struct {
	InputText    string        `json:"input_text"`
	MediaSources []MediaSource `json:"media_sources,omitempty"`
}

// MediaSource is a reference image. Base64 data is kept, decoded, but
// never echoed back.
type MediaSource struct {
	Name      string `json:"name"`
	MediaType string `json:"media_type"`
	URL       string `json:"url,omitempty"`
	AssetID   string `json:"asset_id,omitempty"`
	Base64    string `json:"base64_string,omitempty"`
}

// ResponseFormat is the validated response_format of a request.
type ResponseFormat struct {
	Type               string              `json:"type"`
	JSONSchema         json.RawMessage     `json:"json_schema,omitempty"`
	SegmentDefinitions []SegmentDefinition `json:"segment_definitions,omitempty"`
	// SegmentTimeFormat is "" when the request did not set it (seconds).
	SegmentTimeFormat string `json:"segment_time_format,omitempty"`
}

// SegmentDefinition describes one kind of segment.
type SegmentDefinition struct {
	ID           string         `json:"id"`
	Description  string         `json:"description"`
	Fields       []SegmentField `json:"fields,omitempty"`
	MediaSources []MediaSource  `json:"media_sources,omitempty"`
	TimeRanges   []TimeRange    `json:"time_ranges,omitempty"`
}

// SegmentField is a typed custom field of a segment.
type SegmentField struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Description string   `json:"description,omitempty"`
	Format      string   `json:"format,omitempty"`
	Enum        []string `json:"enum,omitempty"`
	ItemsType   string   `json:"items_type,omitempty"`
}

// TimeRange is a window in seconds.
type TimeRange struct {
	StartTime float64 `json:"start_time"`
	EndTime   float64 `json:"end_time"`
}

// Result is the output of a ready task.
type Result struct {
	GenerationID string `json:"generation_id"`
	Data         string `json:"data"`
	FinishReason string `json:"finish_reason"`
	OutputTokens int    `json:"output_tokens"`
	InputTokens  *int   `json:"input_tokens,omitempty"`
}
