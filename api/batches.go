package api

import "time"

// Batch statuses and batch item statuses, as on the wire (spec §4.8).
const (
	BatchPending    = "pending"
	BatchProcessing = "processing"
	BatchCanceling  = "canceling"
	BatchCanceled   = "canceled"
	BatchCompleted  = "completed"
	BatchExpired    = "expired"

	ItemQueued     = "queued"
	ItemProcessing = "processing"
	ItemReady      = "ready"
	ItemFailed     = "failed"
	ItemCanceled   = "canceled"
)

// Batch error codes (409).
const (
	CodeBatchNotTerminal = "batch_not_terminal"
	CodeBatchCompleted   = "batch_completed"
	CodeBatchCanceled    = "batch_canceled"
	CodeBatchExpired     = "batch_expired"
)

// CreateBatchRequest is the body of POST /analyze/batches.
type CreateBatchRequest struct {
	ModelName    string             `json:"model_name"`
	AnalysisMode string             `json:"analysis_mode"`
	Defaults     *BatchDefaults     `json:"defaults,omitempty"`
	Requests     []BatchItemRequest `json:"requests"`
}

// BatchPrompt is the prompt of a batch: text that may place reference
// images by <@name>.
type BatchPrompt struct {
	InputText    string        `json:"input_text"`
	MediaSources []MediaSource `json:"media_sources,omitempty"`
}

// BatchDefaults are the parameters every item of a batch has unless it
// sets its own.
type BatchDefaults struct {
	Prompt             *BatchPrompt    `json:"prompt,omitempty"`
	ResponseFormat     *ResponseFormat `json:"response_format,omitempty"`
	Temperature        *float64        `json:"temperature,omitempty"`
	MaxTokens          *int            `json:"max_tokens,omitempty"`
	MinSegmentDuration *float64        `json:"min_segment_duration,omitempty"`
	MaxSegmentDuration *float64        `json:"max_segment_duration,omitempty"`
	StartTime          *float64        `json:"start_time,omitempty"`
	EndTime            *float64        `json:"end_time,omitempty"`
}

// BatchItemRequest is one request of a batch: an asset and the
// parameters it overrides.
type BatchItemRequest struct {
	Video    BatchVideo `json:"video"`
	CustomID string     `json:"custom_id,omitempty"`
	BatchDefaults
}

// BatchVideo names the asset of a batch item; Type is "asset_id".
type BatchVideo struct {
	Type    string `json:"type"`
	AssetID string `json:"asset_id"`
}

// CreateBatchResponse is the 201 body of POST /analyze/batches.
type CreateBatchResponse struct {
	BatchID    string        `json:"batch_id"`
	Status     string        `json:"status"`
	TotalItems int           `json:"total_items"`
	CreatedAt  time.Time     `json:"created_at"`
	ExpiresAt  time.Time     `json:"expires_at"`
	Items      []CreatedItem `json:"items"`
}

// CreatedItem is the task of one batch item.
type CreatedItem struct {
	TaskID   string `json:"task_id"`
	CustomID string `json:"custom_id,omitempty"`
}

// Batch is the body of GET /analyze/batches/{id}, of its cancel, and an
// item of the list.
type Batch struct {
	BatchID         string        `json:"batch_id"`
	AnalysisMode    string        `json:"analysis_mode"`
	ModelName       string        `json:"model_name"`
	Status          string        `json:"status"`
	TotalItems      int           `json:"total_items"`
	CreatedAt       time.Time     `json:"created_at"`
	ExpiresAt       time.Time     `json:"expires_at"`
	CompletedAt     *time.Time    `json:"completed_at,omitempty"`
	CanceledAt      *time.Time    `json:"canceled_at,omitempty"`
	ExpiredAt       *time.Time    `json:"expired_at,omitempty"`
	QueuedItems     int           `json:"queued_items"`
	ProcessingItems int           `json:"processing_items"`
	ReadyItems      int           `json:"ready_items"`
	FailedItems     int           `json:"failed_items"`
	CanceledItems   int           `json:"canceled_items"`
	Webhooks        []WebhookInfo `json:"webhooks,omitempty"`
}

// BatchList is the body of GET /analyze/batches.
type BatchList struct {
	Data     []Batch  `json:"data"`
	PageInfo PageInfo `json:"page_info"`
}

// BatchResult is one line of GET /analyze/batches/{id}/results (JSON Lines).
type BatchResult struct {
	TaskID   string      `json:"task_id"`
	CustomID string      `json:"custom_id,omitempty"`
	Status   string      `json:"status"`
	Data     *TaskResult `json:"data,omitempty"`
	Error    *BatchError `json:"error,omitempty"`
}

// BatchError explains a failed or canceled batch item.
type BatchError struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}
