package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
)

func TestBarLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		task api.Task
		want string
	}{
		{api.Task{Status: api.StatusQueued}, "[--------------------]   0% queued 3s"},
		{api.Task{Status: api.StatusProcessing, Progress: &api.Progress{Stage: "sampling frames", Percent: 50}},
			"[##########----------]  50% sampling frames 3s"},
		{api.Task{Status: api.StatusProcessing, Progress: &api.Progress{Percent: 140}},
			"[####################] 100% processing 3s"},
		{api.Task{Status: api.StatusProcessing, Progress: &api.Progress{Stage: "x", Percent: -5}},
			"[--------------------]   0% x 3s"},
		{api.Task{Status: api.StatusReady, Progress: &api.Progress{Stage: "done", Percent: 90}},
			"[####################] 100% ready 3s"},
		{api.Task{Status: api.StatusFailed, Progress: &api.Progress{Stage: "probing", Percent: 10}},
			"[##------------------]  10% failed 3s"},
	}
	for _, tt := range tests {
		if got := barLine(&tt.task, 3200*time.Millisecond); got != tt.want {
			t.Errorf("barLine(%+v) = %q, want %q", tt.task, got, tt.want)
		}
	}
}

func TestProgressTTY(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &progress{w: &buf, tty: true, start: start, now: func() time.Time { return start.Add(2 * time.Second) }}
	p.update(&api.Task{Status: api.StatusProcessing, Progress: &api.Progress{Stage: "transcribing audio", Percent: 25}})
	p.update(&api.Task{Status: api.StatusReady})
	p.done()
	want := "\r[#####---------------]  25% transcribing audio 2s" +
		"\r[####################] 100% ready 2s" + strings.Repeat(" ", 13) + // pads over the longer line
		"\n"
	if buf.String() != want {
		t.Errorf("output = %q\nwant     %q", buf.String(), want)
	}

	// a failed task has no progress; the bar stays where it was
	buf.Reset()
	p = &progress{w: &buf, tty: true, start: start, now: func() time.Time { return start }}
	p.update(&api.Task{Status: api.StatusProcessing, Progress: &api.Progress{Stage: "probing", Percent: 10}})
	p.update(&api.Task{Status: api.StatusFailed})
	p.done()
	want = "\r[##------------------]  10% probing 0s\r[##------------------]  10% failed 0s \n"
	if buf.String() != want {
		t.Errorf("failed: output = %q\nwant     %q", buf.String(), want)
	}
}

func TestProgressLines(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p := &progress{w: &buf, now: time.Now}
	for _, task := range []api.Task{
		{Status: api.StatusQueued},
		{Status: api.StatusQueued},
		{Status: api.StatusProcessing, Progress: &api.Progress{Stage: "probing", Percent: 1}},
		{Status: api.StatusProcessing, Progress: &api.Progress{Stage: "probing", Percent: 9}},
		{Status: api.StatusProcessing, Progress: &api.Progress{Percent: 50}},
		{Status: api.StatusReady},
	} {
		p.update(&task)
	}
	p.done()
	want := "status: queued\nstatus: processing (probing, 1%)\nstatus: processing (50%)\nstatus: ready\n"
	if buf.String() != want {
		t.Errorf("output = %q\nwant     %q", buf.String(), want)
	}
}

func TestIsTerminal(t *testing.T) {
	t.Parallel()
	env := testEnv(nil)
	if isTerminal(&bytes.Buffer{}, env) {
		t.Error("a buffer is not a terminal")
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null, env) {
		t.Error("the null device is not a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w, env) {
		t.Error("a pipe is not a terminal")
	}
}
