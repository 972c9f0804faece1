// Command measure benchmarks media.Tool.Measure, the one-pass FFmpeg run
// that finds shot cuts, black, frozen and silent intervals and the audio
// level of a video (see README.md next to this file).
//
//  1. Speed: a generated N-minute 1280x720 30 fps H.264 video with AAC audio
//     is decoded by plain `ffmpeg -i FILE -f null -` (the baseline) and
//     measured by Measure, alternately, best of -runs each; it prints both
//     times, their ratio (target ≤ 1.3) and the peak RSS of each run: the
//     ffmpeg child (wait4 rusage) and the Go process that ran Measure.
//  2. Accuracy: a generated edit of random shots (seeded, 2–8 s) joined by
//     hard cuts and 1 s dissolves; it prints precision, recall and F1 of the
//     detected cuts against the hard cuts at ±0.1 s, what happened at each
//     dissolve, a threshold sweep, and the cuts found in single continuous
//     shots that should have none (motion, noise, flashes, a fast pan).
//  3. Noisy colours: a generated edit of solid-colour scenes under temporal
//     sensor noise, most cuts between colours of the same luma (red, green,
//     blue, grey… of one brightness), some between different lumas, with
//     dissolves and white flashes; precision, and recall on the
//     iso-luminant cuts apart, at ±0.1 s (part of -only accuracy).
//
// Usage:
//
//	go run ./bench/measure                 # both, 10 minutes
//	go run ./bench/measure -minutes 2 -only speed
//	go run ./bench/measure -only accuracy -seed 7 -v -sweep
//
// Generated videos are cached in -cache (default $TMPDIR/framewise-bench-measure).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/framewise/framewise/internal/media"
)

var (
	minutes      = flag.Int("minutes", 10, "length of the speed video in minutes")
	size         = flag.String("size", "1280x720", "frame size of the generated videos")
	cacheDir     = flag.String("cache", filepath.Join(os.TempDir(), "framewise-bench-measure"), "where generated videos are kept")
	seed         = flag.Uint64("seed", 1, "seed of the generated edits")
	runs         = flag.Int("runs", 2, "timed runs of the baseline and of Measure (best is kept)")
	shots        = flag.Int("shots", 40, "shots in the accuracy video")
	dissolves    = flag.Int("dissolves", 5, "joins that are dissolves in the accuracy video")
	only         = flag.String("only", "", `"speed" or "accuracy"; empty runs both`)
	tol          = flag.Float64("tol", 0.1, "tolerance in seconds when matching cuts")
	verbose      = flag.Bool("v", false, "list every miss and false detection")
	sweep        = flag.Bool("sweep", false, "also measure the accuracy video at other scene thresholds")
	noise        = flag.Int("noise", 20, "strength of the temporal noise of the noisy colour edit (FFmpeg noise alls)")
	colourScenes = flag.Int("colour-scenes", 60, "scenes in the noisy colour edit")
	child        = flag.String("child-measure", "", "internal: run Measure on this file and print JSON")
)

func main() {
	flag.Parse()
	if *child != "" {
		if err := childMeasure(*child); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	var w, h int
	if _, err := fmt.Sscanf(*size, "%dx%d", &w, &h); err != nil || w < 64 || h < 64 {
		fail(fmt.Errorf("bad -size %q", *size))
	}
	fmt.Printf("machine: %d CPUs (%s/%s), %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, ffmpegVersion())
	if *only == "" || *only == "speed" {
		if err := speed(w, h); err != nil {
			fail(err)
		}
	}
	if *only == "" || *only == "accuracy" {
		if err := accuracy(w, h); err != nil {
			fail(err)
		}
	}
	if *only == "colours" { // the noisy colour edit alone (also part of accuracy)
		tool, err := media.New(media.Config{})
		if err == nil {
			err = colourAccuracy(tool, w, h)
		}
		if err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench/measure:", err)
	os.Exit(1)
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

// childResult is what a child process reports about one Measure run.
type childResult struct {
	Seconds         float64 `json:"seconds"`
	SelfMaxRSSKB    int64   `json:"self_maxrss_kb"`     // the Go process
	ChildMaxRSSKB   int64   `json:"children_maxrss_kb"` // ffmpeg (and the ffprobe before it)
	CPUSeconds      float64 `json:"cpu_seconds"`        // user+system, Go process and ffmpeg, during Measure
	ProgressCalls   int     `json:"progress_calls"`
	Cuts            int     `json:"cuts"`
	Black           int     `json:"black"`
	Frozen          int     `json:"frozen"`
	Silence         int     `json:"silence"`
	Volume          int     `json:"volume"`
	VolumeStep      float64 `json:"volume_step"`
	LastProgressPct float64 `json:"last_progress"`
}

// childMeasure runs in a fresh process so that its rusage covers exactly
// one Measure run: RUSAGE_SELF is the Go side, RUSAGE_CHILDREN the ffmpeg
// run (and the ffprobe before it, which is far smaller).
func childMeasure(path string) error {
	tool, err := media.New(media.Config{})
	if err != nil {
		return err
	}
	ctx := context.Background()
	info, err := tool.Probe(ctx, path)
	if err != nil {
		return err
	}
	var res childResult
	var self0, kids0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self0)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids0)
	start := time.Now()
	m, err := tool.Measure(ctx, path, info, media.MeasureOptions{Progress: func(p float64) {
		res.ProgressCalls++
		res.LastProgressPct = p
	}})
	if err != nil {
		return err
	}
	res.Seconds = time.Since(start).Seconds()
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	res.SelfMaxRSSKB, res.ChildMaxRSSKB = self.Maxrss, kids.Maxrss
	res.CPUSeconds = cpu(&self) - cpu(&self0) + cpu(&kids) - cpu(&kids0)
	res.Cuts, res.Black, res.Frozen, res.Silence, res.Volume = len(m.Cuts), len(m.Black), len(m.Frozen), len(m.Silence), len(m.Volume)
	res.VolumeStep = m.VolumeStep
	return json.NewEncoder(os.Stdout).Encode(res)
}

func runChild(path string) (*childResult, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-child-measure", path)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("measure child: %w", err)
	}
	var res childResult
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("measure child: %w: %s", err, out)
	}
	return &res, nil
}

func cpu(ru *syscall.Rusage) float64 {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// baseline times `ffmpeg -i FILE -f null -` and returns its CPU time
// (user+system) and peak RSS.
func baseline(path string) (wall time.Duration, cpuSec float64, rssKB int64, err error) {
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", path, "-f", "null", "-")
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, 0, fmt.Errorf("baseline ffmpeg: %w", err)
	}
	wall = time.Since(start)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpuSec, rssKB = cpu(ru), ru.Maxrss
	}
	return wall, cpuSec, rssKB, nil
}

func mb(kb int64) string { return fmt.Sprintf("%.0f MB", float64(kb)/1024) }

func speed(w, h int) error {
	fmt.Printf("\n== Speed: %d-minute %dx%d 30 fps H.264 (veryfast, crf 23) + AAC stereo 48 kHz\n", *minutes, w, h)
	path, clip, tl, built, took, err := genSpeed(*cacheDir, *minutes, w, h, *seed)
	if err != nil {
		return err
	}
	if built {
		fmt.Printf("generated %s in %.1f s (a %d s clip, looped)\n", path, took.Seconds(), speedClipSeconds)
	} else {
		fmt.Printf("cached %s (a %d s clip, looped)\n", path, speedClipSeconds)
	}
	if st, err := os.Stat(path); err == nil {
		fmt.Printf("file: %.1f MB, %.2f Mbit/s\n", float64(st.Size())/1e6, float64(st.Size())*8/float64(*minutes*60)/1e6)
	}

	// Runs alternate ABBA so that a slow phase of a shared machine hits
	// both sides; wall and CPU time (user+system) are both reported, CPU
	// time being less sensitive to other load.
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tbaseline s\tCPU s\tffmpeg RSS\tMeasure s\tCPU s\tffmpeg RSS\tGo RSS\tratio wall\tratio CPU\t")
	bestBase, bestMeas := math.Inf(1), math.Inf(1)
	bestBaseCPU, bestMeasCPU := math.Inf(1), math.Inf(1)
	var last *childResult
	for i := 1; i <= *runs; i++ {
		var (
			bt         time.Duration
			bcpu       float64
			brss       int64
			res        *childResult
			errB, errM error
		)
		if i%2 == 1 {
			bt, bcpu, brss, errB = baseline(path)
			res, errM = runChild(path)
		} else {
			res, errM = runChild(path)
			bt, bcpu, brss, errB = baseline(path)
		}
		if err := errors.Join(errB, errM); err != nil {
			return err
		}
		last = res
		bestBase, bestMeas = min(bestBase, bt.Seconds()), min(bestMeas, res.Seconds)
		bestBaseCPU, bestMeasCPU = min(bestBaseCPU, bcpu), min(bestMeasCPU, res.CPUSeconds)
		fmt.Fprintf(tw, "%d\t%.1f\t%.1f\t%s\t%.1f\t%.1f\t%s\t%s\t%.3f\t%.3f\t\n", i, bt.Seconds(), bcpu, mb(brss),
			res.Seconds, res.CPUSeconds, mb(res.ChildMaxRSSKB), mb(res.SelfMaxRSSKB), res.Seconds/bt.Seconds(), res.CPUSeconds/bcpu)
	}
	fmt.Fprintf(tw, "best\t%.1f\t%.1f\t\t%.1f\t%.1f\t\t\t%.3f\t%.3f\t\n", bestBase, bestBaseCPU, bestMeas, bestMeasCPU,
		bestMeas/bestBase, bestMeasCPU/bestBaseCPU)
	tw.Flush()
	verdict := "met"
	if bestMeas/bestBase > 1.3 {
		verdict = "NOT met"
	}
	fmt.Printf("ratio best Measure / best baseline = %.3f wall (target ≤ 1.3: %s), %.3f CPU; Measure ran at %.1fx real time\n",
		bestMeas/bestBase, verdict, bestMeasCPU/bestBaseCPU, float64(*minutes*60)/bestMeas)
	fmt.Printf("Measure found %d cuts, %d black, %d frozen, %d silent intervals, %d volume samples (step %.3g s); %d progress reports, last %.1f%%\n",
		last.Cuts, last.Black, last.Frozen, last.Silence, last.Volume, last.VolumeStep, last.ProgressCalls, last.LastProgressPct)
	loops := (*minutes*60 + speedClipSeconds - 1) / speedClipSeconds
	fmt.Printf("expected about %d cuts: %d per clip × %d loops + %d seams where the clip starts again\n",
		len(tl.cuts)*loops+loops-1, len(tl.cuts), loops, loops-1)

	// The clip itself is a second accuracy sample: other shots, audio.
	tool, err := media.New(media.Config{})
	if err != nil {
		return err
	}
	dets, m, _, err := measureCuts(tool, clip, media.MeasureOptions{})
	if err != nil {
		return err
	}
	s := score(tl, dets, *tol)
	fmt.Printf("the clip alone: %d hard cuts, %d detected, precision %.3f, recall %.3f; %d silent intervals (the tone pauses at 11–13 s and 28–30 s)\n",
		len(tl.cuts), len(dets), s.precision(), s.recall(), len(m.Silence))
	return nil
}

// ---- accuracy

type detection struct {
	time, score float64
}

type scoreCard struct {
	tp, fp, fn       int
	inDissolve       int   // detections inside a dissolve (not counted as FP)
	dissolvesHit     int   // dissolves with at least one detection
	dissolveMulti    int   // dissolves with more than one
	misses, falsePos []int // indices, for -v
}

func (s scoreCard) precision() float64 { return ratio(s.tp, s.tp+s.fp) }
func (s scoreCard) recall() float64    { return ratio(s.tp, s.tp+s.fn) }
func (s scoreCard) f1() float64 {
	p, r := s.precision(), s.recall()
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// score matches detections to hard cuts one to one within ±tol; a
// detection inside a dissolve (±tol) is reported apart, not as a false
// positive.
func score(tl *timeline, dets []detection, tol float64) scoreCard {
	var s scoreCard
	used := make([]bool, len(dets))
	for _, c := range tl.cuts {
		best := -1
		for j, d := range dets {
			if !used[j] && math.Abs(d.time-c) <= tol && (best < 0 || math.Abs(d.time-c) < math.Abs(dets[best].time-c)) {
				best = j
			}
		}
		if best >= 0 {
			used[best] = true
			s.tp++
		} else {
			s.fn++
			s.misses = append(s.misses, slices.Index(tl.cuts, c))
		}
	}
	perDissolve := make([]int, len(tl.dissolves))
	for j, d := range dets {
		if used[j] {
			continue
		}
		in := false
		for k, iv := range tl.dissolves {
			if d.time >= iv[0]-tol && d.time <= iv[1]+tol {
				perDissolve[k]++
				in = true
				break
			}
		}
		if in {
			s.inDissolve++
		} else {
			s.fp++
			s.falsePos = append(s.falsePos, j)
		}
	}
	for _, n := range perDissolve {
		if n > 0 {
			s.dissolvesHit++
		}
		if n > 1 {
			s.dissolveMulti++
		}
	}
	return s
}

func measureCuts(tool *media.Tool, path string, opts media.MeasureOptions) ([]detection, *media.Measurements, time.Duration, error) {
	start := time.Now()
	m, err := tool.Measure(context.Background(), path, nil, opts)
	if err != nil {
		return nil, nil, 0, err
	}
	var dets []detection
	for _, c := range m.Cuts {
		dets = append(dets, detection{c.Time, c.Score})
	}
	return dets, m, time.Since(start), nil
}

func accuracy(w, h int) error {
	r := rand.New(rand.NewPCG(*seed, 1))
	tl := newTimeline(r, w, h, *shots, *dissolves, 2, 8)
	fmt.Printf("\n== Accuracy: %d shots of 2–8 s (seed %d), %d hard cuts, %d dissolves of 1 s, %.0f s, %dx%d\n",
		len(tl.shots), *seed, len(tl.cuts), len(tl.dissolves), tl.duration, w, h)
	path := filepath.Join(*cacheDir, fmt.Sprintf("accuracy-%dx%d-s%d-n%d-d%d.mp4", w, h, *seed, *shots, *dissolves))
	built, took, err := genAccuracy(path, tl)
	if err != nil {
		return err
	}
	if built {
		fmt.Printf("generated %s in %.1f s\n", path, took.Seconds())
	} else {
		fmt.Printf("cached %s\n", path)
	}
	tool, err := media.New(media.Config{})
	if err != nil {
		return err
	}

	// The default settings, as the server runs them.
	dets, m, took, err := measureCuts(tool, path, media.MeasureOptions{})
	if err != nil {
		return err
	}
	s := score(tl, dets, *tol)
	fmt.Printf("Measure with defaults (threshold %.2f, min gap %.2f s) took %.1f s\n", media.DefaultSceneThreshold, media.DefaultCutMinGap, took.Seconds())
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "hard cuts\tdetected\tTP\tFP\tFN\tprecision\trecall\tF1\t")
	fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%.3f\t%.3f\t%.3f\t\n", len(tl.cuts), len(dets), s.tp, s.fp, s.fn, s.precision(), s.recall(), s.f1())
	tw.Flush()
	fmt.Printf("dissolves: %d of %d produced a detection inside the dissolve (%d more than one); %d detections inside dissolves, not counted as false positives\n",
		s.dissolvesHit, len(tl.dissolves), s.dissolveMulti, s.inDissolve)
	for k, iv := range tl.dissolves {
		var in []string
		for _, d := range dets {
			if d.time >= iv[0]-*tol && d.time <= iv[1]+*tol {
				in = append(in, fmt.Sprintf("%.2f s into it (score %.2f)", d.time-iv[0], d.score))
			}
		}
		if len(in) == 0 {
			in = []string{"no detection"}
		}
		fmt.Printf("  dissolve %d [%.2f, %.2f]: %s\n", k+1, iv[0], iv[1], strings.Join(in, ", "))
	}
	fmt.Printf("other measurements on this video: %d black, %d frozen intervals\n", len(m.Black), len(m.Frozen))
	if *verbose || s.fn+s.fp > 0 {
		explain(tl, dets, s)
	}

	if *sweep {
		fmt.Println("threshold sweep (hard cuts, ±0.1 s; one Measure run each):")
		tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "threshold\tdetected\tprecision\trecall\tF1\tdissolves hit\t")
		for _, th := range []float64{0.02, 0.03, 0.04, media.DefaultSceneThreshold, 0.06, 0.08, 0.10, 0.12} {
			d, _, _, err := measureCuts(tool, path, media.MeasureOptions{SceneThreshold: th})
			if err != nil {
				return err
			}
			sc := score(tl, d, *tol)
			mark := ""
			if th == media.DefaultSceneThreshold {
				mark = " (default)"
			}
			fmt.Fprintf(tw, "%.2f%s\t%d\t%.3f\t%.3f\t%.3f\t%d/%d\t\n", th, mark, len(d), sc.precision(), sc.recall(), sc.f1(), sc.dissolvesHit, len(tl.dissolves))
		}
		tw.Flush()
	}
	var cutScores []float64
	for _, d := range dets {
		for _, c := range tl.cuts {
			if math.Abs(d.time-c) <= *tol {
				cutScores = append(cutScores, d.score)
			}
		}
	}
	slices.Sort(cutScores)
	if len(cutScores) > 0 {
		fmt.Printf("scores of the detected hard cuts: min %.3f, median %.3f, max %.3f (threshold %.2f)\n",
			cutScores[0], cutScores[len(cutScores)/2], cutScores[len(cutScores)-1], media.DefaultSceneThreshold)
	}

	if err := colourAccuracy(tool, w, h); err != nil {
		return err
	}
	return negatives(tool, w, h)
}

// colourAccuracy measures a noisy edit of solid colours (newColourEdit):
// precision and recall of all its hard cuts, and recall on the cuts
// between colours of similar luma apart; dissolves and flashes must not
// count.
func colourAccuracy(tool *media.Tool, w, h int) error {
	// A quarter of the size (320x180 by default): the noise then survives
	// the scaling to the 64x36 thumbnails about four times as strong as at
	// 640x360 (each thumbnail pixel averages 25 pixels instead of 100), and
	// the file stays small though noise costs many bits.
	w, h = w/4, h/4
	r := rand.New(rand.NewPCG(*seed, 3))
	e := newColourEdit(r, w, h, *colourScenes, 4, 6, *noise, 1.5, 4, 0.75)
	tl := e.tl
	nIso := 0
	for _, iso := range e.iso {
		if iso {
			nIso++
		}
	}
	fmt.Printf("\n== Noisy colour edit: %d solid-colour scenes of 1.5–4 s (seed %d), %d hard cuts (%d between colours whose luma differs by < %.0f of 255), %d dissolves, %d white flashes, noise alls=%d temporal uniform, %.0f s, %dx%d\n",
		len(tl.shots), *seed, len(tl.cuts), nIso, isoLuma, len(tl.dissolves), len(e.flashes), e.noise, tl.duration, w, h)
	path := filepath.Join(*cacheDir, fmt.Sprintf("colours-%dx%d-s%d-n%d-noise%d-%08x.mp4", w, h, *seed, *colourScenes, e.noise,
		crc32.ChecksumIEEE([]byte(tl.graph()))))
	built, took, err := genAccuracy(path, tl)
	if err != nil {
		return err
	}
	if built {
		fmt.Printf("generated %s in %.1f s\n", path, took.Seconds())
	} else {
		fmt.Printf("cached %s\n", path)
	}
	dets, _, took, err := measureCuts(tool, path, media.MeasureOptions{})
	if err != nil {
		return err
	}
	s := score(tl, dets, *tol)
	// Recall on each kind of cut, from the misses.
	missedIso := 0
	for _, i := range s.misses {
		if e.iso[i] {
			missedIso++
		}
	}
	// False detections near a flash (within its 3 frames ± tol).
	atFlash := 0
	for _, j := range s.falsePos {
		for _, f := range e.flashes {
			if dets[j].time >= f-*tol && dets[j].time <= f+0.1+*tol {
				atFlash++
				break
			}
		}
	}
	fmt.Printf("Measure with defaults took %.1f s\n", took.Seconds())
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "hard cuts\tdetected\tTP\tFP\tFN\tprecision\trecall\trecall iso-luminant\trecall other\tdissolves hit\tflashes hit\t")
	fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%.3f\t%.3f\t%.3f (%d/%d)\t%.3f (%d/%d)\t%d/%d\t%d/%d\t\n", len(tl.cuts), len(dets), s.tp, s.fp, s.fn,
		s.precision(), s.recall(), ratio(nIso-missedIso, nIso), nIso-missedIso, nIso,
		ratio(len(tl.cuts)-nIso-(s.fn-missedIso), len(tl.cuts)-nIso), len(tl.cuts)-nIso-(s.fn-missedIso), len(tl.cuts)-nIso,
		s.dissolvesHit, len(tl.dissolves), atFlash, len(e.flashes))
	tw.Flush()
	verdict := "met"
	if s.precision() < 0.98 || ratio(nIso-missedIso, nIso) < 0.98 {
		verdict = "NOT met"
	}
	fmt.Printf("target precision ≥ 0.98 and recall on iso-luminant cuts ≥ 0.98: %s\n", verdict)
	var isoScores []float64
	for k, c := range tl.cuts {
		if !e.iso[k] {
			continue
		}
		for _, d := range dets {
			if math.Abs(d.time-c) <= *tol {
				isoScores = append(isoScores, d.score)
			}
		}
	}
	slices.Sort(isoScores)
	if n := len(isoScores); n > 0 {
		fmt.Printf("scores of the detected iso-luminant cuts: min %.3f, median %.3f, max %.3f\n", isoScores[0], isoScores[n/2], isoScores[n-1])
	}
	if *verbose || s.fn+s.fp > 0 {
		for _, i := range s.misses {
			fmt.Printf("  luma difference %.1f at cut %d\n", e.dLuma[i], i+1)
		}
		explain(tl, dets, s)
	}
	if *sweep {
		fmt.Println("threshold sweep (noisy colour edit, ±0.1 s; one Measure run each):")
		tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "threshold\tdetected\tprecision\trecall\trecall iso-luminant\tdissolves hit\t")
		for _, th := range []float64{0.02, 0.03, 0.04, media.DefaultSceneThreshold, 0.06, 0.08, 0.10, 0.12} {
			d, _, _, err := measureCuts(tool, path, media.MeasureOptions{SceneThreshold: th})
			if err != nil {
				return err
			}
			sc := score(tl, d, *tol)
			missed := 0
			for _, i := range sc.misses {
				if e.iso[i] {
					missed++
				}
			}
			mark := ""
			if th == media.DefaultSceneThreshold {
				mark = " (default)"
			}
			fmt.Fprintf(tw, "%.2f%s\t%d\t%.3f\t%.3f\t%.3f\t%d/%d\t\n", th, mark, len(d), sc.precision(), sc.recall(),
				ratio(nIso-missed, nIso), sc.dissolvesHit, len(tl.dissolves))
		}
		tw.Flush()
	}
	return nil
}

func explain(tl *timeline, dets []detection, s scoreCard) {
	kindAt := func(t float64) string { // shots around time t
		at := 0.0
		for i, sh := range tl.shots {
			at += float64(sh.frames) / fps
			if i < len(tl.dissolve) && tl.dissolve[i] {
				at--
			}
			if t < at-0.2 || i == len(tl.shots)-1 {
				return sh.kind
			}
			if t < at+0.2 && i+1 < len(tl.shots) {
				return sh.kind + " → " + tl.shots[i+1].kind
			}
		}
		return "?"
	}
	for _, i := range s.misses {
		c := tl.cuts[i]
		near := "nothing near"
		for _, d := range dets {
			if math.Abs(d.time-c) < 1 {
				near = fmt.Sprintf("detection at %+.3f s (score %.3f)", d.time-c, d.score)
			}
		}
		fmt.Printf("  missed cut at %.3f s (%s): %s\n", c, kindAt(c), near)
	}
	for _, j := range s.falsePos {
		d := dets[j]
		fmt.Printf("  false detection at %.3f s, score %.3f (%s)\n", d.time, d.score, kindAt(d.time))
	}
}

// negatives measures single continuous shots that contain no cut.
func negatives(tool *media.Tool, w, h int) error {
	const seconds = 60
	// Half size keeps generation quick; Measure scales to 320 px anyway.
	w, h = w/2, h/2
	cases := []struct{ name, chain string }{
		{"testsrc2, continuous motion", fmt.Sprintf("testsrc2=s=%dx%d:r=30", w, h)},
		{"heavy temporal noise", fmt.Sprintf("testsrc2=s=%dx%d:r=30,noise=alls=40:allf=t,scale=%d:%d", w/2, h/2, w, h)},
		{"fast pan over a still", fmt.Sprintf("smptehdbars=s=%dx%d:r=30,drawgrid=w=32:h=32:c=white,crop=%d:%d:x='(iw-ow)/2*(1+sin(t*1.5))':y=0", 2*w, h, w, h)},
		{"fast zoom (mandelbrot)", fmt.Sprintf("mandelbrot=s=%dx%d:r=30:end_pts=60:end_scale=0.01:maxiter=300,scale=%d:%d", w/4, h/4, w, h)},
		{"flash: 3 white frames every 2 s", fmt.Sprintf("testsrc2=s=%dx%d:r=30,drawbox=c=white@0.9:t=fill:enable='lt(mod(n\\,60)\\,3)'", w, h)},
		{"strobe: bright/dark every 4 frames", fmt.Sprintf("testsrc2=s=%dx%d:r=30,eq=brightness=0.4:enable='lt(mod(n\\,8)\\,4)'", w, h)},
		// A red box of the grey background's luma (100) covering 90 % of
		// the picture slides in over 0.5 s, stays 4 s and slides out, every
		// 8 s, under sensor noise: only the colour changes, steadily.
		{"same-luma box slides in and out, noise", fmt.Sprintf("color=c=0x646464:s=%dx%d:r=30[bg];color=c=0xFF2222:s=%dx%d:r=30[box];"+
			"[bg][box]overlay=x='W-w*min(1\\,max(0\\,min((mod(t\\,8)-1)/0.5\\,(5.5-mod(t\\,8))/0.5)))':y=0,noise=alls=20:allf=t+u",
			w, h, w*9/10, h)},
	}
	fmt.Printf("single continuous shots, %d s each at %dx%d (want 0 cuts; the flash case has 30 flashes, the box slides in 8 times):\n", seconds, w, h)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "shot\tcuts\tmax score\tblack\tfrozen\t")
	for i, c := range cases {
		path := filepath.Join(*cacheDir, fmt.Sprintf("negative-%d-%08x.mp4", i, crc32.ChecksumIEEE([]byte(c.chain))))
		if _, _, err := genSingle(path, c.chain, seconds); err != nil {
			return err
		}
		dets, m, _, err := measureCuts(tool, path, media.MeasureOptions{})
		if err != nil {
			return err
		}
		maxScore := 0.0
		for _, d := range dets {
			maxScore = max(maxScore, d.score)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%d\t%d\t\n", c.name, len(dets), maxScore, len(m.Black), len(m.Frozen))
	}
	return errors.Join(tw.Flush())
}
