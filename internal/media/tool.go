// Package media owns every run of FFmpeg and ffprobe: it is the only
// package in framewise that imports os/exec. It turns tool output into typed
// structs (Probe), checks a video against the input requirements of the
// Analyze API (CheckAnalyzable, DecodeCheck; spec §5 V47–V51), and bounds how
// many heavy FFmpeg runs execute at once. Errors from a tool carry its exit
// code and the tail of its stderr; errors meant for the user (RuleError) say
// what is wrong with the video and what to change, and never contain paths.
package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/framewise/framewise/internal/metrics"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Config says where the tools are and how much work may run at once.
// Zero values take the defaults.
type Config struct {
	FFprobePath string // default: "ffprobe" looked up in PATH
	FFmpegPath  string // default: "ffmpeg" looked up in PATH
	// MaxHeavy bounds concurrent heavy runs (decoding, sampling); default
	// the number of CPUs, at least 2: one FFmpeg decode of small video
	// keeps only about 1.4 cores busy (its filters and output run on one
	// thread), so two runs per two cores finish sooner than one after the
	// other (bench/vlm). Probes are light and not bounded.
	MaxHeavy int
	// ProbeTimeout bounds one ffprobe run; default 1 minute.
	ProbeTimeout time.Duration
	// RunBound bounds one FFmpeg run that reads video (decode check,
	// measuring pass, one sampling run, audio extraction) by the seconds
	// of video it reads; zero takes DefaultRunBound.
	RunBound Bound
	// Metrics receives the duration of each heavy run; nil: none.
	Metrics *metrics.Metrics
}

// Bound is a time limit that grows with the video: Base plus PerSecond for
// each second of video. The frame-rate cap (MaxFrameRate) bounds the frames
// a second of video holds, so the work of a run grows with the duration.
type Bound struct {
	Base      time.Duration
	PerSecond time.Duration // added per second of video
}

// The default bounds, in one place (docs/decisions.md, "Time bounds").
// A measuring pass costs about one plain FFmpeg decode of the video
// (bench/measure); a run may take twice real time plus two minutes of
// start-up, a job four times real time plus ten minutes for its few runs
// and its model calls. Hitting one means the video is far costlier to
// decode than its duration says, or the machine is overloaded.
const (
	DefaultRunBase      = 2 * time.Minute
	DefaultRunPerSecond = 2 * time.Second
	DefaultJobBase      = 10 * time.Minute
	DefaultJobPerSecond = 4 * time.Second
)

// DefaultRunBound bounds one FFmpeg run that reads video.
func DefaultRunBound() Bound { return Bound{DefaultRunBase, DefaultRunPerSecond} }

// DefaultJobBound bounds one analysis job.
func DefaultJobBound() Bound { return Bound{DefaultJobBase, DefaultJobPerSecond} }

// For is the limit for seconds of video (≤ 0 or unknown: Base alone).
func (b Bound) For(seconds float64) time.Duration {
	if !(seconds > 0) {
		return b.Base
	}
	return b.Base + time.Duration(seconds*float64(b.PerSecond))
}

// BoundError is work stopped because it ran longer than its time bound. It
// is the cause of the context that ended (context.Cause), and the errors of
// runs stopped by it wrap it. Its message is meant for the user.
type BoundError struct {
	What  string        // what was stopped: "the measuring pass", "the analysis"
	Limit time.Duration // the bound
	Video float64       // seconds of video the bound was derived from
}

func (e *BoundError) Error() string {
	return fmt.Sprintf("%s exceeded its time bound of %s for %s of video", e.What, roundDuration(e.Limit),
		roundDuration(time.Duration(e.Video*float64(time.Second))))
}

// roundDuration prints whole seconds, or milliseconds below a second.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}

// bounded limits one run of the tool (see Config.RunBound) for seconds of
// video; when the bound ends it, context.Cause of the returned context is a
// *BoundError naming what ran.
func (t *Tool) bounded(ctx context.Context, what string, seconds float64) (context.Context, context.CancelFunc) {
	limit := t.runBound.For(seconds)
	return context.WithTimeoutCause(ctx, limit, &BoundError{What: what, Limit: limit, Video: max(0, seconds)})
}

// Tool runs ffprobe and ffmpeg. It is safe for concurrent use.
type Tool struct {
	ffprobe, ffmpeg string
	heavy           chan struct{}
	probeTimeout    time.Duration
	runBound        Bound
	metrics         *metrics.Metrics
}

// New resolves the tool paths and returns a Tool. It fails when ffprobe or
// ffmpeg cannot be found, so a misconfigured server stops at start.
func New(cfg Config) (*Tool, error) {
	probe, err := lookTool(cfg.FFprobePath, "ffprobe")
	if err != nil {
		return nil, err
	}
	mpeg, err := lookTool(cfg.FFmpegPath, "ffmpeg")
	if err != nil {
		return nil, err
	}
	n := cfg.MaxHeavy
	if n <= 0 {
		n = max(2, runtime.NumCPU())
	}
	t := &Tool{
		ffprobe:      probe,
		ffmpeg:       mpeg,
		heavy:        make(chan struct{}, n),
		probeTimeout: cfg.ProbeTimeout,
		runBound:     cfg.RunBound,
		metrics:      cfg.Metrics,
	}
	if t.probeTimeout <= 0 {
		t.probeTimeout = time.Minute
	}
	if t.runBound == (Bound{}) {
		t.runBound = DefaultRunBound()
	}
	return t, nil
}

func lookTool(path, name string) (string, error) {
	if path == "" {
		path = name
	}
	p, err := exec.LookPath(path)
	if err != nil {
		return "", fmt.Errorf("media: %s not found (%w); install FFmpeg or configure the path to %s", path, err, name)
	}
	return p, nil
}

// FFprobePath reports the resolved ffprobe path (for start-up logs).
func (t *Tool) FFprobePath() string { return t.ffprobe }

// FFmpegPath reports the resolved ffmpeg path.
func (t *Tool) FFmpegPath() string { return t.ffmpeg }

// ToolError is a run of ffprobe or ffmpeg that failed. It carries what an
// operator needs to see in the log; it is not meant for API clients.
type ToolError struct {
	Tool     string // "ffprobe" or "ffmpeg"
	ExitCode int    // -1 when the process did not exit normally (killed, not started)
	Stderr   string // last lines of stderr, at most stderrTail bytes
	Err      error  // the underlying exec error
}

func (e *ToolError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s failed", e.Tool)
	if e.ExitCode >= 0 {
		fmt.Fprintf(&b, " with exit code %d", e.ExitCode)
	} else if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if s := strings.TrimSpace(e.Stderr); s != "" {
		fmt.Fprintf(&b, ": %s", strings.ReplaceAll(s, "\n", " | "))
	}
	return b.String()
}

func (e *ToolError) Unwrap() error { return e.Err }

// stderrTail is how much of a tool's stderr an error keeps.
const stderrTail = 2048

// acquire takes a heavy-run slot for the run named run (a metrics
// label), or fails when ctx ends first. release records the run's time.
func (t *Tool) acquire(ctx context.Context, run string) (release func(), err error) {
	select {
	case t.heavy <- struct{}{}:
		start := time.Now()
		return func() {
			t.metrics.FFmpeg(run, time.Since(start))
			<-t.heavy
		}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run executes a tool and returns its stdout. A failure is a *ToolError,
// except when ctx ended, in which case its cause is returned (wrapped
// together with the tool error for the log).
func (t *Tool) run(ctx context.Context, bin string, args ...string) ([]byte, error) {
	var stdout bytes.Buffer
	stderr := &tailWriter{max: stderrTail}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout = &stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	te := &ToolError{Tool: toolName(bin), ExitCode: -1, Stderr: stderr.String(), Err: err}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		te.ExitCode = exitErr.ExitCode()
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s stopped: %w (%w)", te.Tool, context.Cause(ctx), te)
	}
	return nil, te
}

func toolName(bin string) string {
	if i := strings.LastIndexAny(bin, `/\`); i >= 0 {
		bin = bin[i+1:]
	}
	return strings.TrimSuffix(bin, ".exe")
}

// inputURL makes FFmpeg read path as a plain local file: the "file:" prefix
// stops a name such as "concat:a|b" or "http://…" from selecting another
// protocol.
func inputURL(path string) string { return "file:" + path }

// FormatWhitelist are the container formats (FFmpeg demuxers) every run
// may open. Playlists and manifests (hls, dash, concat), demuxers that open
// other files or devices, and the rarely used demuxers with a history of
// parser bugs are not in it: a file of such a format fails to open as not
// media. m4v, h264 and hevc are raw elementary streams.
const FormatWhitelist = "mov,matroska,avi,flv,asf,mpeg,mpegts,ogg,mxf,mp3,aac,ac3,eac3,wav,w64,flac,aiff," +
	"image2,jpeg_pipe,jpegls_pipe,png_pipe,webp_pipe,bmp_pipe,tiff_pipe,gif,gif_pipe,m4v,h264,hevc"

// inputArgs are the options every run puts before -i. Only the file protocol
// is allowed, so a playlist inside an uploaded file (HLS, concat) cannot make
// FFmpeg open network URLs, and only the demuxers of FormatWhitelist.
func inputArgs(path string) []string {
	return []string{"-protocol_whitelist", "file", "-format_whitelist", FormatWhitelist, "-i", inputURL(path)}
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	max       int
	buf       []byte
	truncated bool
}

func (w *tailWriter) Write(p []byte) (int, error) {
	n := len(p)
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - w.max; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
		w.truncated = true
	}
	return n, nil
}

// String returns the kept tail, starting at a line boundary when the
// beginning was cut off.
func (w *tailWriter) String() string {
	s := string(w.buf)
	if w.truncated {
		if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
			s = s[i+1:]
		}
	}
	return strings.TrimSpace(s)
}
