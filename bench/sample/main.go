// Command sample benchmarks frame sampling (media.Tool.SampleAt) and audio
// extraction (media.Tool.ExtractAudio) on long videos, for the
// vision-language-model engine (see README.md next to this file).
//
// For each length (half of -hours and -hours; 1 h and 2 h by default) it
// generates (once, cached) a 640x360 25 fps H.264 video with AAC audio and
// measures:
//
//   - D: wall time of `ffmpeg -i FILE -f null -` (the decode baseline);
//   - Keyframes: the ffprobe packet scan;
//   - SampleAt of one frame every -every seconds over the whole video, in
//     keyframe mode and in exact mode, each in a fresh child process so
//     that its peak RSS (Go side and FFmpeg children) covers that run only;
//     while frames stream in, simulated model calls (-call each, at most
//     -concurrency at once) start as soon as the frames of their window
//     (-window seconds, -overlap between windows) are in;
//   - ExtractAudio of the whole video to io.Discard;
//   - on the longest video only, the other strategy: one FFmpeg process
//     per frame with input seeking (-perframe frames, extrapolated).
//
// Usage:
//
//	go run ./bench/sample -hours 2
//	go run ./bench/sample -hours 0.5 -skip-d   # quick look, no decode baseline
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/framewise/framewise/internal/media"
)

var (
	hours       = flag.Float64("hours", 2, "length of the longest video in hours; half of it is measured too")
	cacheDir    = flag.String("cache", filepath.Join(os.TempDir(), "framewise-bench"), "where generated videos are kept")
	every       = flag.Float64("every", 5, "seconds between sampled frames")
	width       = flag.Int("width", media.DefaultSampleWidth, "JPEG width")
	window      = flag.Float64("window", 120, "seconds of video per simulated model call")
	overlap     = flag.Float64("overlap", 10, "seconds shared by neighbouring windows")
	callTime    = flag.Duration("call", 2*time.Second, "duration of one simulated model call")
	concurrency = flag.Int("concurrency", 8, "simulated model calls at once")
	perFrame    = flag.Int("perframe", 48, "frames for the one-process-per-frame comparison (0: skip)")
	skipD       = flag.Bool("skip-d", false, "skip the decode baseline D")
	doExact     = flag.Bool("exact", true, "also measure SampleAt in exact mode (decodes every frame: about D)")
	child       = flag.String("child", "", "internal: run one measurement (sample-key, sample-exact, audio) on -file")
	childFile   = flag.String("file", "", "internal: the video of -child")
)

func main() {
	flag.Parse()
	if *child != "" {
		if err := runChildMode(*child, *childFile); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/sample:", err)
		os.Exit(1)
	}
}

func run() error {
	long := int(math.Round(*hours * 60))
	if long < segMinutes || long%(2*segMinutes) != 0 {
		return fmt.Errorf("-hours must make a multiple of %d minutes", 2*segMinutes)
	}
	lengths := []int{long / 2, long}
	fmt.Printf("machine: %d CPUs (%s/%s), %s, load average %s\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, ffmpegVersion(), loadAvg())
	fmt.Printf("sampling 1 frame every %g s at width %d; windows of %g s overlapping %g s, one simulated %v call each, %d at once\n",
		*every, *width, *window, *overlap, *callTime, *concurrency)

	benchStart := time.Now()
	var results []*lengthResult
	for _, m := range lengths {
		path, _, err := genVideo(*cacheDir, m)
		if err != nil {
			return err
		}
		res, err := measureLength(path, m)
		if err != nil {
			return err
		}
		results = append(results, res)
	}
	var pf *perFrameResult
	if *perFrame > 0 {
		var err error
		if pf, err = measurePerFrame(results[len(results)-1]); err != nil {
			return err
		}
	}
	report(results, pf)
	fmt.Printf("\nbenchmark took %.0f s\n", time.Since(benchStart).Seconds())
	return nil
}

type lengthResult struct {
	path     string
	minutes  int
	sizeMB   float64
	d        time.Duration
	dRSS     int64
	dCPU     time.Duration
	keysTook time.Duration
	keys     []float64
	modes    map[string]*childResult
}

func measureLength(path string, minutes int) (*lengthResult, error) {
	res := &lengthResult{path: path, minutes: minutes, modes: map[string]*childResult{}}
	if st, err := os.Stat(path); err == nil {
		res.sizeMB = float64(st.Size()) / 1e6
	}
	fmt.Printf("\n== %d min: %s (%.0f MB)\n", minutes, filepath.Base(path), res.sizeMB)
	// Warm the page cache so the first measurement does not pay for the disk.
	if err := readAll(path); err != nil {
		return nil, err
	}

	tool, err := media.New(media.Config{})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res.keys, err = tool.Keyframes(context.Background(), path)
	if err != nil {
		return nil, err
	}
	res.keysTook = time.Since(start)
	fmt.Printf("Keyframes: %d in %.1f s\n", len(res.keys), res.keysTook.Seconds())

	for _, mode := range []string{"sample-key", "audio", "D", "sample-exact"} {
		if mode == "D" {
			// D right before the exact run, which costs about as much, so that
			// both see the same load on a shared machine.
			if *skipD {
				continue
			}
			fmt.Printf("D: ffmpeg -i FILE -f null - (load %s)...\n", loadAvg())
			res.d, res.dRSS, res.dCPU, err = baseline(path)
			if err != nil {
				return nil, err
			}
			fmt.Printf("  %.1f s\n", res.d.Seconds())
			continue
		}
		if mode == "sample-exact" && !*doExact {
			continue
		}
		fmt.Printf("%s (load %s)...\n", mode, loadAvg())
		r, err := runChild(mode, path)
		if err != nil {
			return nil, err
		}
		res.modes[mode] = r
		if mode == "audio" {
			fmt.Printf("  %.1f s, %.0f MB of WAV\n", r.Seconds, float64(r.Bytes)/1e6)
		} else {
			fmt.Printf("  %.1f s for %d frames (%d distinct), first frame after %.2f s, first call at %.2f s, calls done at %.1f s\n",
				r.Seconds, r.Frames, r.Distinct, r.FirstFrame, r.FirstCall, r.AllDone)
		}
	}
	return res, nil
}

// loadAvg is the 1, 5 and 15 minute load average (other work on the machine).
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

func readAll(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

// childResult is what a child process reports about one run.
type childResult struct {
	Seconds       float64 `json:"seconds"`     // the run (sampling or extraction)
	FirstFrame    float64 `json:"first_frame"` // seconds to the first emitted frame
	FirstCall     float64 `json:"first_call"`  // seconds to the start of the first simulated call
	AllDone       float64 `json:"all_done"`    // seconds until the last simulated call ended
	Calls         int     `json:"calls"`
	Frames        int     `json:"frames"`
	Distinct      int     `json:"distinct"`
	MaxErrS       float64 `json:"max_err_s"` // largest |frame time - requested time|
	Bytes         int64   `json:"bytes"`
	MaxHeapKB     int64   `json:"max_heap_kb"` // live Go heap (as of the last GC), sampled every 16 frames
	SelfMaxRSSKB  int64   `json:"self_maxrss_kb"`
	ChildMaxRSSKB int64   `json:"children_maxrss_kb"`
	SelfCPU       float64 `json:"self_cpu_s"`
	ChildCPU      float64 `json:"children_cpu_s"`
}

func runChild(mode, path string) (*childResult, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-child", mode, "-file", path, "-every", fmt.Sprint(*every), "-width", fmt.Sprint(*width),
		"-window", fmt.Sprint(*window), "-overlap", fmt.Sprint(*overlap), "-call", callTime.String(),
		"-concurrency", fmt.Sprint(*concurrency)}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s child: %w", mode, err)
	}
	var res childResult
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("%s child: %w: %s", mode, err, out)
	}
	return &res, nil
}

func runChildMode(mode, path string) error {
	tool, err := media.New(media.Config{})
	if err != nil {
		return err
	}
	info, err := tool.Probe(context.Background(), path)
	if err != nil {
		return err
	}
	var res *childResult
	switch mode {
	case "sample-key", "sample-exact":
		res, err = sampleWithCalls(tool, path, info.Duration, mode == "sample-exact")
	case "audio":
		res, err = extractAll(tool, path, info.Duration)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return err
	}
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	res.SelfMaxRSSKB, res.ChildMaxRSSKB = self.Maxrss, kids.Maxrss
	res.SelfCPU, res.ChildCPU = cpu(&self).Seconds(), cpu(&kids).Seconds()
	return json.NewEncoder(os.Stdout).Encode(res)
}

func cpu(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sampleWithCalls samples the whole video and, like the engine, starts a
// model call per window as soon as the window's last frame is in.
func sampleWithCalls(tool *media.Tool, path string, duration float64, exact bool) (*childResult, error) {
	var times []float64
	for v := 0.0; v < duration; v += *every {
		times = append(times, v)
	}
	// Windows [k·step, k·step+window), step = window-overlap; each window
	// is one call, made once its last requested time has a frame.
	step := *window - *overlap
	type win struct {
		last   int // index of the window's last time
		frames []media.Frame
	}
	var wins []*win
	for ws := 0.0; ws < duration; ws += step {
		last := -1
		for i, v := range times {
			if v >= ws && v < ws+*window {
				last = i
			}
		}
		if last >= 0 {
			wins = append(wins, &win{last: last})
		}
	}

	res := &childResult{Calls: len(wins)}
	// Calls run -concurrency at once; up to as many more wait. When the
	// queue is full, emit blocks, which stalls FFmpeg: the engine's
	// backpressure, so memory does not grow with the video when the calls
	// are slower than sampling.
	sem := make(chan struct{}, *concurrency)
	queue := make(chan struct{}, 2**concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	start := time.Now()
	var firstCall time.Duration
	call := func(w *win) {
		defer wg.Done()
		sem <- struct{}{}
		mu.Lock()
		if firstCall == 0 {
			firstCall = time.Since(start)
		}
		mu.Unlock()
		time.Sleep(*callTime) // the model looks at w.frames
		w.frames = nil
		<-sem
		<-queue
	}

	liveHeap := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	next := 0 // index of the next time
	wi := 0   // first window not yet called
	lastTime := math.NaN()
	err := tool.SampleAt(context.Background(), path, times, media.SampleOptions{Width: *width, Exact: exact}, func(f media.Frame) error {
		if next == 0 {
			res.FirstFrame = time.Since(start).Seconds()
		}
		res.Frames++
		res.Bytes += int64(len(f.JPEG))
		if res.Frames%16 == 0 {
			metrics.Read(liveHeap)
			res.MaxHeapKB = max(res.MaxHeapKB, int64(liveHeap[0].Value.Uint64()/1024))
		}
		if f.Time != lastTime {
			res.Distinct++
			lastTime = f.Time
		}
		res.MaxErrS = max(res.MaxErrS, math.Abs(f.Time-times[next]))
		for k := wi; k < len(wins); k++ {
			ws := float64(k) * step
			if times[next] >= ws && times[next] < ws+*window {
				wins[k].frames = append(wins[k].frames, f)
			}
		}
		for wi < len(wins) && wins[wi].last == next {
			queue <- struct{}{}
			wg.Add(1)
			go call(wins[wi])
			wi++
		}
		next++
		return nil
	})
	res.Seconds = time.Since(start).Seconds()
	if err != nil {
		return nil, err
	}
	wg.Wait()
	res.AllDone = time.Since(start).Seconds()
	res.FirstCall = firstCall.Seconds()
	return res, nil
}

func extractAll(tool *media.Tool, path string, duration float64) (*childResult, error) {
	var n countWriter
	start := time.Now()
	if err := tool.ExtractAudio(context.Background(), path, 0, duration, &n); err != nil {
		return nil, err
	}
	return &childResult{Seconds: time.Since(start).Seconds(), Bytes: int64(n)}, nil
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// baseline times `ffmpeg -i FILE -f null -`.
func baseline(path string) (took time.Duration, rssKB int64, cpuTime time.Duration, err error) {
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", path, "-f", "null", "-")
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, 0, fmt.Errorf("baseline ffmpeg: %w", err)
	}
	took = time.Since(start)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rssKB, cpuTime = ru.Maxrss, cpu(ru)
	}
	return took, rssKB, cpuTime, nil
}

type perFrameResult struct {
	minutes int
	frames  int
	modes   map[bool]perFrameMode
}

type perFrameMode struct {
	took    time.Duration
	cpu     time.Duration
	maxRSS  int64
	perItem time.Duration // wall per frame with the parallelism used
}

// measurePerFrame is strategy (a): one ffmpeg per frame, input seeking,
// two at a time (the machine's cores), on -perframe of the times spread
// over the video. It runs FFmpeg directly with the same output settings as
// SampleAt, so only the process-per-frame design differs.
func measurePerFrame(lr *lengthResult) (*perFrameResult, error) {
	duration := float64(lr.minutes * 60)
	n := *perFrame
	var times []float64
	for i := range n {
		times = append(times, math.Floor(float64(i)*duration/float64(n)/(*every))*(*every))
	}
	par := max(1, runtime.NumCPU())
	res := &perFrameResult{minutes: lr.minutes, frames: n, modes: map[bool]perFrameMode{}}
	for _, exact := range []bool{false, true} {
		fmt.Printf("\none ffmpeg per frame (exact=%v): %d frames of the %d-min video, %d at a time...\n", exact, n, lr.minutes, par)
		var (
			mu     sync.Mutex
			mode   perFrameMode
			firstE error
			wg     sync.WaitGroup
		)
		sem := make(chan struct{}, par)
		start := time.Now()
		for _, v := range times {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-ss", fmt.Sprint(v)}
				if !exact {
					args = append(args, "-skip_frame", "nokey")
				}
				args = append(args, "-i", lr.path, "-map", "0:V:0", "-frames:v", "1",
					"-vf", fmt.Sprintf("scale=%d:-2", *width), "-q:v", "5", "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1")
				cmd := exec.Command("ffmpeg", args...)
				cmd.Stdout = io.Discard
				err := cmd.Run()
				mu.Lock()
				defer mu.Unlock()
				if err != nil && firstE == nil {
					firstE = err
				}
				if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
					mode.cpu += cpu(ru)
					mode.maxRSS = max(mode.maxRSS, ru.Maxrss)
				}
			}()
		}
		wg.Wait()
		if firstE != nil {
			return nil, firstE
		}
		mode.took = time.Since(start)
		mode.perItem = mode.took / time.Duration(n)
		res.modes[exact] = mode
		fmt.Printf("  %.1f s: %.0f ms per frame of wall time, %.0f ms of CPU per process\n",
			mode.took.Seconds(), float64(mode.perItem.Milliseconds()), float64(mode.cpu.Milliseconds())/float64(n))
	}
	return res, nil
}

func mb(kb int64) string { return fmt.Sprintf("%.0f MB", float64(kb)/1024) }

func report(results []*lengthResult, pf *perFrameResult) {
	fmt.Printf("\n== Results (1 frame every %g s, width %d; wall times; CPU = user+sys of all processes)\n", *every, *width)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "video\trun\twall s\t/ D\tCPU s\tframes (distinct)\tmax |Δt| s\tfirst frame s\tGo heap\tGo RSS\tffmpeg RSS\t")
	for _, r := range results {
		name := fmt.Sprintf("%d min", r.minutes)
		ratio := func(s float64) string {
			if r.d == 0 {
				return "-"
			}
			return fmt.Sprintf("%.3f", s/r.d.Seconds())
		}
		if r.d > 0 {
			fmt.Fprintf(tw, "%s\tD: ffmpeg -f null\t%.1f\t1\t%.1f\t\t\t\t\t\t%s\t\n", name, r.d.Seconds(), r.dCPU.Seconds(), mb(r.dRSS))
		}
		fmt.Fprintf(tw, "%s\tKeyframes (ffprobe)\t%.1f\t%s\t\t%d keyframes\t\t\t\t\t\t\n", name, r.keysTook.Seconds(), ratio(r.keysTook.Seconds()), len(r.keys))
		for _, mode := range []string{"sample-key", "sample-exact"} {
			c := r.modes[mode]
			if c == nil {
				continue
			}
			fmt.Fprintf(tw, "%s\tSampleAt %s\t%.1f\t%s\t%.1f\t%d (%d)\t%.3f\t%.2f\t%s\t%s\t%s\t\n", name, strings.TrimPrefix(mode, "sample-"),
				c.Seconds, ratio(c.Seconds), c.SelfCPU+c.ChildCPU, c.Frames, c.Distinct, c.MaxErrS, c.FirstFrame, mb(c.MaxHeapKB), mb(c.SelfMaxRSSKB), mb(c.ChildMaxRSSKB))
		}
		c := r.modes["audio"]
		fmt.Fprintf(tw, "%s\tExtractAudio (all)\t%.1f\t%s\t%.1f\t\t\t\t\t%s\t%s\t\n", name, c.Seconds, ratio(c.Seconds), c.SelfCPU+c.ChildCPU,
			mb(c.SelfMaxRSSKB), mb(c.ChildMaxRSSKB))
	}
	tw.Flush()

	fmt.Printf("\n== Pipeline: simulated model calls (%v each, %d at once) start as windows complete\n", *callTime, *concurrency)
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "video\tmode\tcalls\tfirst call s\tsampling done s\tall calls done s\tbound s\tmet\t")
	for _, r := range results {
		for _, mode := range []string{"sample-key", "sample-exact"} {
			c := r.modes[mode]
			if c == nil {
				continue
			}
			bound, met := "-", "-"
			if r.d > 0 {
				b := 1.25 * math.Max(float64(c.Calls)*callTime.Seconds()/float64(*concurrency), r.d.Seconds())
				bound = fmt.Sprintf("%.1f", b)
				met = map[bool]string{true: "yes", false: "NO"}[c.AllDone <= b]
			}
			fmt.Fprintf(tw, "%d min\t%s\t%d\t%.2f\t%.1f\t%.1f\t%s\t%s\t\n", r.minutes, strings.TrimPrefix(mode, "sample-"),
				c.Calls, c.FirstCall, c.Seconds, c.AllDone, bound, met)
		}
	}
	tw.Flush()
	fmt.Println("bound = 1.25 × max(calls × call / concurrency, D)")

	if pf != nil {
		long := results[len(results)-1]
		n := long.modes["sample-key"].Frames
		fmt.Printf("\n== Strategy comparison on the %d-min video (%d frames)\n", pf.minutes, n)
		tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "mode\tstreaming runs (SampleAt) s\tone ffmpeg per frame s (extrapolated)\tper-frame CPU per frame ms\tper-frame ffmpeg RSS\t")
		for _, exact := range []bool{false, true} {
			m := pf.modes[exact]
			mode := map[bool]string{false: "key", true: "exact"}[exact]
			streamed := "-"
			if c := long.modes["sample-"+mode]; c != nil {
				streamed = fmt.Sprintf("%.1f", c.Seconds)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f (%d measured in %.1f s)\t%.0f\t%s\t\n", mode, streamed,
				m.perItem.Seconds()*float64(n), pf.frames, m.took.Seconds(), float64(m.cpu.Milliseconds())/float64(pf.frames), mb(m.maxRSS))
		}
		tw.Flush()
	}
}

func ffmpegVersion() string {
	out, err := exec.Command("ffmpeg", "-version").Output()
	if err != nil {
		return "ffmpeg ?"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	line, _, _ = strings.Cut(line, " Copyright")
	return line
}
