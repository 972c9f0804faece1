// Package vlmbench benchmarks the vision-language-model engine
// (internal/engine/vlm) end to end against the inferencetest double:
// segment accuracy on a generated colour-scene video (BenchmarkAccuracy)
// and throughput, with peak memory, on long videos (BenchmarkThroughput).
// See README.md.
package vlmbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/engine"
	"github.com/framewise/framewise/internal/engine/vlm"
	"github.com/framewise/framewise/internal/inference"
	"github.com/framewise/framewise/internal/inference/inferencetest"
	"github.com/framewise/framewise/internal/inference/openai"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/task"
)

// Settings shared by the benchmarks: the server's defaults where it has
// them (frames per call, frame width, heavy FFmpeg runs), 8 parallel calls.
const (
	framesPerCall = 16
	maxParallel   = 8
	maxTokens     = 4096
)

// recorder wraps the chat adapter and notes when each call starts and
// ends, relative to zero.
type recorder struct {
	inner inference.Chatter
	zero  time.Time

	mu     sync.Mutex
	starts []time.Duration
	ends   []time.Duration
}

func (r *recorder) Chat(ctx context.Context, req inference.ChatRequest) (*inference.ChatResponse, error) {
	t0 := time.Since(r.zero)
	resp, err := r.inner.Chat(ctx, req)
	t1 := time.Since(r.zero)
	r.mu.Lock()
	r.starts = append(r.starts, t0)
	r.ends = append(r.ends, t1)
	r.mu.Unlock()
	return resp, err
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.zero, r.starts, r.ends = time.Now(), nil, nil
	r.mu.Unlock()
}

// rig is the OpenAI adapter pointed at the double (in this process, or in
// another one when double is nil), and the media tool.
type rig struct {
	double *inferencetest.Server
	rec    *recorder
	tool   *media.Tool
}

// newRig starts a double in this process and returns a rig using it.
func newRig(tb testing.TB, latency time.Duration) *rig {
	tb.Helper()
	double := newDouble(tb, latency)
	r := rigAt(tb, double.URL())
	r.double = double
	return r
}

// newRigWith starts a double with opts (e.g. a personality) in this process
// and returns a rig using it.
func newRigWith(tb testing.TB, opts ...inferencetest.Option) *rig {
	tb.Helper()
	double := inferencetest.New(tb, opts...)
	r := rigAt(tb, double.URL())
	r.double = double
	return r
}

func newDouble(tb testing.TB, latency time.Duration) *inferencetest.Server {
	var opts []inferencetest.Option
	if latency > 0 {
		opts = append(opts, inferencetest.WithLatency(latency))
	}
	return inferencetest.New(tb, opts...)
}

// rigAt returns a rig using the double at url.
func rigAt(tb testing.TB, url string) *rig {
	tb.Helper()
	chat, err := openai.New(openai.Config{BaseURL: url, Model: "m", Name: "double",
		MaxParallel: maxParallel, Timeout: 5 * time.Minute, MaxRetries: 2})
	if err != nil {
		tb.Fatal(err)
	}
	tool, err := media.New(media.Config{}) // the server's defaults: MaxHeavy = CPUs (at least 2)
	if err != nil {
		tb.Fatal(err)
	}
	return &rig{rec: &recorder{inner: chat, zero: time.Now()}, tool: tool}
}

// run is what one engine run did.
type run struct {
	Wall       float64 // seconds in Analyze
	Calls      int     // model calls made (and received by the double)
	Images     int     // images the double received (0 when it is elsewhere)
	MaxConc    int     // most calls in flight at once
	FirstCall  float64 // start of the first call, seconds after Analyze began
	LastCall   float64 // start of the last call
	DecodeEnd  float64 // the last "decoding" progress report
	CallsEarly int     // calls that started before DecodeEnd
	Fenced     int     // answers the double gave in a ```json fence with prose around
	Data       string  `json:"-"`
}

func (r *rig) analyze(ctx context.Context, path string, info *media.Info, defs []task.SegmentDefinition, edit func(*vlm.Config)) (run, error) {
	cfg := vlm.Config{Name: "double", Chat: r.rec, Media: r.tool, FramesPerCall: framesPerCall, MaxParallel: maxParallel}
	if edit != nil {
		edit(&cfg)
	}
	eng := vlm.New(cfg)
	spec := task.Spec{Model: task.Pegasus15, Mode: task.ModeTimeBasedMetadata, MaxTokens: maxTokens,
		ResponseFormat: &task.ResponseFormat{Type: "segment_definitions", SegmentDefinitions: defs}}
	if r.double != nil {
		r.double.Reset()
	}
	r.rec.reset()
	var mu sync.Mutex
	var decodeEnd time.Duration
	start := r.rec.zero
	out, err := eng.Analyze(ctx, engine.Input{Spec: spec, VideoPath: path, Info: info, Start: 0, End: info.Duration,
		Progress: func(stage string, _ float64) {
			if stage == "decoding" {
				mu.Lock()
				decodeEnd = time.Since(start)
				mu.Unlock()
			}
		}})
	wall := time.Since(start)
	if err != nil {
		return run{}, err
	}
	res := run{Wall: wall.Seconds(), DecodeEnd: decodeEnd.Seconds(), Data: out.Data}
	r.rec.mu.Lock()
	res.Calls = len(r.rec.starts)
	for i, s := range r.rec.starts {
		if i == 0 || s.Seconds() < res.FirstCall {
			res.FirstCall = s.Seconds()
		}
		res.LastCall = max(res.LastCall, s.Seconds())
		if s < decodeEnd {
			res.CallsEarly++
		}
		inFlight := 0 // calls in flight when call i started
		for j, s2 := range r.rec.starts {
			if s2 <= s && r.rec.ends[j] > s {
				inFlight++
			}
		}
		res.MaxConc = max(res.MaxConc, inFlight)
	}
	r.rec.mu.Unlock()
	if r.double != nil {
		st := r.double.Stats()
		res.Calls, res.Images, res.MaxConc = st.Calls, st.Images, st.MaxConcurrent
		for _, c := range r.double.Calls() {
			if c.Fenced {
				res.Fenced++
			}
		}
	}
	return res, nil
}

// segmentsOf reads time_based_metadata result data into spans per id.
func segmentsOf(data string) (map[string][]span, error) {
	var doc map[string][]struct {
		Start float64 `json:"start_time"`
		End   float64 `json:"end_time"`
	}
	if err := json.Unmarshal([]byte(data), &doc); err != nil {
		return nil, fmt.Errorf("result data: %w", err)
	}
	out := map[string][]span{}
	for id, segs := range doc {
		for _, s := range segs {
			out[id] = append(out[id], span{s.Start, s.End})
		}
	}
	return out, nil
}

// dRun is one run of the decode baseline D.
type dRun struct {
	Wall  float64 // seconds
	CPU   float64 // user + system seconds of the ffmpeg process
	RSSKB int64   // its peak RSS
}

// decodeTime runs D: `ffmpeg -i FILE -f null -`.
func decodeTime(path string) (dRun, error) {
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", path, "-f", "null", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return dRun{}, fmt.Errorf("ffmpeg -f null: %w: %s", err, stderr.String())
	}
	d := dRun{Wall: time.Since(start).Seconds()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		d.RSSKB = ru.Maxrss
		d.CPU = tvSeconds(ru.Utime) + tvSeconds(ru.Stime)
	}
	return d, nil
}

func tvSeconds(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }

// cpuTimes are the user + system seconds used so far by this process and
// by its children that were waited for (FFmpeg and ffprobe runs).
func cpuTimes() (self, children float64) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		self = tvSeconds(ru.Utime) + tvSeconds(ru.Stime)
	}
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) == nil {
		children = tvSeconds(ru.Utime) + tvSeconds(ru.Stime)
	}
	return self, children
}

// vmHWM is this process's peak resident set size in KiB (Linux).
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

// childrenMaxRSS is the largest peak RSS of any child process waited for
// so far (FFmpeg and ffprobe runs), in KiB.
func childrenMaxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return -1
	}
	return ru.Maxrss
}

// loadAvg is the first line of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// colourDefs is one segment definition per colour, in palette order.
func colourDefs(colours map[string]bool) []task.SegmentDefinition {
	var defs []task.SegmentDefinition
	for _, c := range inferencetest.Colours() {
		if colours[c] {
			defs = append(defs, task.SegmentDefinition{ID: c, Description: "scenes where the screen is " + c})
		}
	}
	return defs
}
