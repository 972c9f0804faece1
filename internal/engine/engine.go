// Package engine defines the seam between the analysis pipeline and the
// engines that produce results: the built-in measuring engine and the
// vision-language-model engine.
package engine

import (
	"context"
	"errors"

	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/task"
)

// Engine analyses one task's video.
type Engine interface {
	// Name identifies the engine in logs and at start, e.g. "builtin".
	Name() string
	Analyze(ctx context.Context, in Input) (*Output, error)
}

// Input is everything an engine may use.
type Input struct {
	Spec      task.Spec
	VideoPath string      // local file holding the video
	Info      *media.Info // probe facts
	// Start and End bound the analysis window in seconds (start_time and
	// end_time with defaults applied).
	Start, End float64
	// Progress reports the stage and percent done (0–100) of the analysis.
	Progress func(stage string, percent float64)
	// Stream, when set, receives the answer's text in order as it is
	// produced (a synchronous request with stream true): the pieces put
	// together are exactly Output.Data. An engine that cannot produce its
	// answer piece by piece passes it whole, once it is final. Nothing is
	// passed that the answer may later take back.
	Stream func(text string)
	// Checkpoints keeps finished pieces of work (model calls) of this task
	// across retries of its job; nil keeps nothing.
	Checkpoints Checkpoints
	// References maps the names of reference images (prompt_v2 and segment
	// definition media sources) to their bytes.
	References map[string][]byte
	// Windows, when set, asks for the windows Windows[0] through
	// Windows[1] (inclusive) of the plan a Planner saved in Checkpoints
	// only: the engine computes and checkpoints those that are not
	// checkpointed yet and returns an empty Output without merging (one
	// chunk of a fanned-out analysis). Indices are the whole plan's.
	Windows *[2]int
}

// Planner is an engine whose analysis of a long video can fan out: Plan
// cuts the analysis of [Start, End] into its windows once (decoding the
// video to find its cuts), saving the plan in in.Checkpoints as it grows,
// and calls ready after each save with the windows planned so far, an
// estimate of the total, and final true once the plan is complete (then
// planned is the total). Windows already passed to ready never change, so
// chunks of them can run while the rest is planned. When the analysis
// would have fewer than minWindows windows (estimated before any
// decoding), or cannot fan out (e.g. speech recognition is on), it plans
// nothing, never calls ready and returns 0. After a plan, Analyze with
// Windows computes a chunk of it, and Analyze without Windows computes
// what is missing and merges.
type Planner interface {
	Plan(ctx context.Context, in Input, minWindows int, ready func(planned, estimate int, final bool) error) (windows int, err error)
}

// Checkpoints store a task's finished pieces of work by key, so that a job
// retried after a crash does not repeat them.
type Checkpoints interface {
	Load(key string) ([]byte, bool)
	Save(ctx context.Context, key string, value []byte) error
}

// Output is an engine's answer.
type Output struct {
	Data         string
	FinishReason string // "stop" or "length"
	OutputTokens int
	InputTokens  *int
	// Warning is the truncation notice when FinishReason is "length".
	Warning string
}

// Refusal is an answer the engine cannot give for this request (for
// example a mode it does not support). Its message is shown to the client
// and the task fails without retrying.
type Refusal struct{ Message string }

func (e *Refusal) Error() string { return e.Message }

// IsRefusal reports whether err is a Refusal.
func IsRefusal(err error) bool {
	var r *Refusal
	return errors.As(err, &r)
}
