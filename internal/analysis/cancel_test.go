package analysis

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/framewise/framewise/internal/task"
)

// canceledTasks is a task service whose task was canceled while Begin
// moved it: Begin has no task to return.
type canceledTasks struct{ fakeTasks }

func (*canceledTasks) Begin(ctx context.Context, id string) (*task.Task, error) {
	return nil, fmt.Errorf("%w: failed → processing", task.ErrTransition)
}

func TestRunOfCanceledTaskDoesNothing(t *testing.T) {
	t.Parallel()
	p := &Pipeline{Tasks: &canceledTasks{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := p.Run(context.Background(), "t1", 1, 5); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}
