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
	// Checkpoints keeps finished pieces of work (model calls) of this task
	// across retries of its job; nil keeps nothing.
	Checkpoints Checkpoints
	// References maps the names of reference images (prompt_v2 and segment
	// definition media sources) to their bytes.
	References map[string][]byte
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
