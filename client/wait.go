package client

import (
	"context"
	"time"

	"github.com/framewise/framewise/api"
)

// Default polling schedule of Wait.
const (
	DefaultPollInterval    = 250 * time.Millisecond
	DefaultBackoffFactor   = 1.5
	DefaultMaxPollInterval = 5 * time.Second
)

// statusCanceled is a terminal status of newer upstream versions (spec Q16);
// Wait treats it like failed instead of polling forever.
const statusCanceled = "canceled"

// WaitOption configures Wait.
type WaitOption func(*waitConfig)

type waitConfig struct {
	interval time.Duration
	factor   float64
	maxDelay time.Duration
	onUpdate func(*api.Task)
}

// WithPollInterval sets the delay before the second poll (default 250 ms).
func WithPollInterval(d time.Duration) WaitOption {
	return func(w *waitConfig) {
		if d > 0 {
			w.interval = d
		}
	}
}

// WithBackoffFactor sets how much the delay grows after each poll (default
// 1.5). A factor of 1 polls at a fixed interval; values below 1 count as 1.
func WithBackoffFactor(f float64) WaitOption {
	return func(w *waitConfig) { w.factor = max(f, 1) }
}

// WithMaxPollInterval caps the delay between polls (default 5 s).
func WithMaxPollInterval(d time.Duration) WaitOption {
	return func(w *waitConfig) {
		if d > 0 {
			w.maxDelay = d
		}
	}
}

// OnUpdate calls fn with every polled state of the task, the terminal one
// included, for progress display. fn runs on the goroutine of Wait; the
// terminal task it receives is the one Wait returns.
func OnUpdate(fn func(*api.Task)) WaitOption {
	return func(w *waitConfig) { w.onUpdate = fn }
}

// Wait polls GetTask until the task is ready or failed, waiting 250 ms after
// the first poll and 1.5 times longer after each next one, at most 5 s
// (see the options).
//
// A ready task is returned with a nil error. A failed task is returned
// together with a *TaskFailedError, which matches ErrTaskFailed with
// errors.Is and carries the task's error message. When the context ends or
// GetTask fails (after its own retries), Wait returns the last task it saw,
// possibly nil, and that error.
func (c *Client) Wait(ctx context.Context, taskID string, opts ...WaitOption) (*api.Task, error) {
	var w waitConfig
	for _, o := range opts {
		o(&w)
	}
	t, err := poll(ctx, c, opts, func() (*api.Task, error) {
		t, err := c.GetTask(ctx, taskID)
		if err == nil && w.onUpdate != nil {
			w.onUpdate(t)
		}
		return t, err
	}, func(t *api.Task) bool {
		return t.Status == api.StatusReady || t.Status == api.StatusFailed || t.Status == statusCanceled
	})
	if err == nil && t.Status != api.StatusReady {
		fe := &TaskFailedError{TaskID: taskID, Status: t.Status}
		if t.Error != nil {
			fe.Message = t.Error.Message
		}
		return t, fe
	}
	return t, err
}
