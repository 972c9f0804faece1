package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
)

const barWidth = 20

// progress shows how a task advances while the CLI waits for it: a bar
// redrawn in place on a terminal, otherwise one line per change of status
// or stage, so that logs stay readable.
type progress struct {
	w     io.Writer
	tty   bool
	start time.Time
	now   func() time.Time

	lastKey string  // status and stage last printed, in line mode
	lastLen int     // length of the bar line last drawn, in tty mode
	lastPct float64 // percent last drawn, kept when a failed task drops its progress
}

func newProgress(w io.Writer, env Env) *progress {
	return &progress{w: w, tty: isTerminal(w, env), start: time.Now(), now: time.Now}
}

// update shows the task's state; it is a client.OnUpdate callback.
func (p *progress) update(t *api.Task) {
	if !p.tty {
		stage := ""
		if t.Progress != nil {
			stage = t.Progress.Stage
		}
		if key := t.Status + "\x00" + stage; key != p.lastKey {
			p.lastKey = key
			fmt.Fprintln(p.w, statusLine(t))
		}
		return
	}
	if t.Progress != nil {
		p.lastPct = clampPercent(t.Progress.Percent)
	} else if t.Status == api.StatusFailed {
		t = &api.Task{Status: t.Status, Progress: &api.Progress{Percent: p.lastPct}}
	}
	line := barLine(t, p.now().Sub(p.start))
	pad := ""
	if n := len(line); n < p.lastLen {
		pad = strings.Repeat(" ", p.lastLen-n)
	}
	p.lastLen = len(line)
	fmt.Fprint(p.w, "\r"+line+pad)
}

// done ends the bar's line, so that what follows starts on a new one.
func (p *progress) done() {
	if p.tty && p.lastLen > 0 {
		fmt.Fprintln(p.w)
		p.lastLen = 0
	}
}

// statusLine describes a task's state for line mode, e.g.
// "status: processing (sampling frames, 40%)".
func statusLine(t *api.Task) string {
	s := "status: " + t.Status
	if pr := t.Progress; pr != nil {
		switch {
		case pr.Stage != "":
			s += fmt.Sprintf(" (%s, %.0f%%)", pr.Stage, clampPercent(pr.Percent))
		default:
			s += fmt.Sprintf(" (%.0f%%)", clampPercent(pr.Percent))
		}
	}
	return s
}

// barLine draws a task's state, e.g. "[##########----------]  50% sampling frames 12s".
// The label is the stage when the server reports one, else the status.
func barLine(t *api.Task, elapsed time.Duration) string {
	pct, label := 0.0, t.Status
	if pr := t.Progress; pr != nil {
		pct = clampPercent(pr.Percent)
		if pr.Stage != "" {
			label = pr.Stage
		}
	}
	if t.Status == api.StatusReady {
		pct, label = 100, api.StatusReady
	}
	if t.Status == api.StatusFailed {
		label = api.StatusFailed
	}
	filled := int(pct / 100 * barWidth)
	bar := strings.Repeat("#", filled) + strings.Repeat("-", barWidth-filled)
	return fmt.Sprintf("[%s] %3.0f%% %s %s", bar, pct, label, elapsed.Round(time.Second))
}

func clampPercent(p float64) float64 { return min(max(p, 0), 100) }

// isTerminal reports whether w is a terminal that can redraw a line. It
// uses only the standard library: a character device other than the null
// device, and TERM not "dumb".
func isTerminal(w io.Writer, env Env) bool {
	f, ok := w.(*os.File)
	if !ok || getenv(env, "TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}

// waitAndPrint waits for a task while showing its progress on stderr, then
// prints its result (see writeResult; with --json, the task) on stdout. A
// failed task is an error, so the command exits 1.
func waitAndPrint(ctx context.Context, c *client.Client, cf *clientFlags, id string, env Env) error {
	p := newProgress(env.Stderr, env)
	task, err := c.Wait(ctx, id, client.OnUpdate(p.update))
	p.done()
	var failed *client.TaskFailedError
	switch {
	case errors.As(err, &failed):
		if cf.json {
			if err := printTaskJSON(ctx, c, id, env); err != nil {
				return cf.explain(err)
			}
		}
		return err
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("stopped waiting (%v); the task goes on, follow it with: framewise tasks wait %s", ctx.Err(), id)
	case err != nil:
		return cf.explain(err)
	}
	if cf.json {
		return cf.explain(printTaskJSON(ctx, c, id, env))
	}
	if task.Error != nil && task.Error.Message != "" {
		fmt.Fprintln(env.Stderr, "warning:", task.Error.Message)
	}
	if task.Result != nil {
		return writeResult(env.Stdout, task)
	}
	return nil
}

// printTaskJSON prints the task as the server sends it.
func printTaskJSON(ctx context.Context, c *client.Client, id string, env Env) error {
	var raw json.RawMessage
	if _, err := c.GetTask(ctx, id, client.WithRawResponse(&raw)); err != nil {
		return err
	}
	writeRaw(env.Stdout, raw)
	return nil
}
