package media

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBoundFor(t *testing.T) {
	t.Parallel()
	b := Bound{Base: 2 * time.Minute, PerSecond: 2 * time.Second}
	for _, tt := range []struct {
		seconds float64
		want    time.Duration
	}{{0, 2 * time.Minute}, {-1, 2 * time.Minute}, {30, 3 * time.Minute}, {1800, 62 * time.Minute}} {
		if got := b.For(tt.seconds); got != tt.want {
			t.Errorf("For(%g) = %s, want %s", tt.seconds, got, tt.want)
		}
	}
	e := &BoundError{What: "the analysis", Limit: 14 * time.Minute, Video: 1800}
	if got, want := e.Error(), "the analysis exceeded its time bound of 14m0s for 30m0s of video"; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
}

// ffmpegOn lists the running processes whose command line names path.
func ffmpegOn(t *testing.T, path string) []string {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil || len(dirs) == 0 {
		t.Skip("no /proc to list processes")
	}
	var found []string
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err == nil && bytes.Contains(b, []byte(path)) {
			found = append(found, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return found
}

// A run that outlives its bound is stopped: FFmpeg is killed, the call
// returns at once with a *BoundError naming the run, and no process is left.
func TestRunBoundStopsFFmpeg(t *testing.T) {
	t.Parallel()
	// Each run below takes well over a second of decoding (1,500 frames;
	// the decode check decodes a video of up to 30 s in full), against a
	// bound of 100 ms: none can finish inside it, even on a fast machine.
	tool, err := New(Config{MaxHeavy: 2, RunBound: Bound{Base: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	path := generate(t, "long.mp4", append([]string{"-f", "lavfi", "-i", "testsrc2=s=640x360:r=50:d=30"}, x264...)...)
	info, err := tool.Probe(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]func() error{
		"the measuring pass": func() error {
			_, err := tool.Measure(context.Background(), path, info, MeasureOptions{})
			return err
		},
		"the decode check": func() error { return tool.DecodeCheckProbed(context.Background(), path, info) },
		"the frame sampling": func() error {
			var times []float64
			for at := 0.0; at < 30; at += 0.25 {
				times = append(times, at)
			}
			return tool.SampleAt(context.Background(), path, times, SampleOptions{Exact: true}, func(Frame) error { return nil })
		},
	}
	for what, run := range runs {
		started := time.Now()
		err := run()
		took := time.Since(started)
		var be *BoundError
		if !errors.As(err, &be) || be.What != what || be.Limit != 100*time.Millisecond {
			t.Errorf("%s: err = %v, want a *BoundError naming it", what, err)
			continue
		}
		if took > 3*time.Second {
			t.Errorf("%s: returned after %s, want soon after its 100ms bound", what, took)
		}
		if procs := ffmpegOn(t, path); len(procs) > 0 {
			t.Errorf("%s: processes left: %q", what, procs)
		}
		t.Logf("%s: %v (%s)", what, err, took.Round(time.Millisecond))
	}
}
