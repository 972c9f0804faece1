package task

import "time"

// Limits are the configurable numeric limits of a create request. The
// defaults follow the seed document (spec §9); newer upstream values can be
// set in configuration.
type Limits struct {
	DefaultModel          string // model used when model_name is absent
	MaxSegmentDefinitions int    // segment_definitions per request
	MaxFields             int    // fields per segment definition
	MaxEnumValues         int    // enum values per field
	MaxMediaSources       int    // media sources per prompt or definition
	MaxTokensP12          int    // max_tokens upper bound for pegasus1.2
	MaxTokensP15          int    // max_tokens upper bound for pegasus1.5
	MaxPromptTokens       int    // prompt / prompt_v2.input_text length in tokens
	MaxBase64Bytes        int    // decoded size of a base64 video or image
	// MaxConcurrentCreates bounds the creates that decode, store and
	// probe a base64 video at once; 0 means DefaultMaxConcurrentCreates
	// (the number of CPUs, at least 2).
	MaxConcurrentCreates int
	// CreateQueueWait is how long a create waits for one of those slots
	// before it is answered 429 too_many_requests with Retry-After; 0
	// means DefaultCreateQueueWait (5 s), negative means no wait.
	CreateQueueWait time.Duration
	// MeasureOnly names the model names this server answers with its
	// built-in engine, which measures the video and cannot follow a
	// json_schema: such a request is refused at create, not failed later.
	MeasureOnly map[string]bool
}

// DefaultLimits returns the seed's limits.
func DefaultLimits() Limits {
	return Limits{
		DefaultModel:          Pegasus12,
		MaxSegmentDefinitions: 10,
		MaxFields:             20,
		MaxEnumValues:         50,
		MaxMediaSources:       4,
		MaxTokensP12:          4096,
		MaxTokensP15:          65536,
		MaxPromptTokens:       2000,
		MaxBase64Bytes:        30 << 20,
	}
}
