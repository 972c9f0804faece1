package main

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const fps = 30

// shot is one continuous piece of generated video.
type shot struct {
	kind   string
	src    string // lavfi chain producing the picture at any size and rate 30
	frames int
}

// sources are shot kinds; each returns a chain whose output is scaled to
// w x h. The expensive sources (fractals, automata, noise) run at a quarter
// of the size and are scaled up, which keeps generation fast and gives the
// softer texture of real footage.
var sources = []struct {
	kind string
	make func(r *rand.Rand, w, h int) string
}{
	{"testsrc2", func(r *rand.Rand, w, h int) string {
		return fmt.Sprintf("testsrc2=s=%dx%d:r=30,hue=h=%d", w, h, r.IntN(360))
	}},
	{"testsrc2-crop", func(r *rand.Rand, w, h int) string { // the same pattern, reframed: a hard case
		return fmt.Sprintf("testsrc2=s=%dx%d:r=30,crop=%d:%d:%d:%d,scale=%d:%d,hue=h=%d",
			w, h, w/2, h/2, r.IntN(w/2), r.IntN(h/2), w, h, r.IntN(360))
	}},
	{"testsrc", func(r *rand.Rand, w, h int) string {
		return fmt.Sprintf("testsrc=s=%dx%d:r=30,hue=h=%d:s=%.2f", w, h, r.IntN(360), 0.5+r.Float64())
	}},
	{"bars+box", func(r *rand.Rand, w, h int) string {
		bars := []string{"smptehdbars", "smptebars", "pal75bars", "pal100bars"}[r.IntN(4)]
		return fmt.Sprintf("%s=s=%dx%d:r=30,drawbox=x='mod(%d+t*%d\\,%d)':y=%d:w=%d:h=%d:c=%s:t=fill",
			bars, w, h, r.IntN(w), 100+r.IntN(400), w, r.IntN(h/2), 80+r.IntN(200), 80+r.IntN(200), color(r))
	}},
	{"mandelbrot", func(r *rand.Rand, w, h int) string {
		return fmt.Sprintf("mandelbrot=s=%dx%d:r=30:start_scale=%.2f:end_scale=%.4f:end_pts=%d:start_x=%.4f:start_y=%.4f,scale=%d:%d",
			w/4, h/4, 1+2*r.Float64(), 0.01+0.1*r.Float64(), 300+r.IntN(400),
			-0.743643887037151+0.01*r.Float64(), 0.131825904205330+0.01*r.Float64(), w, h)
	}},
	{"life", func(r *rand.Rand, w, h int) string {
		return fmt.Sprintf("life=s=%dx%d:r=30:mold=10:ratio=%.2f:seed=%d:life_color=%s:death_color=%s:mold_color=%s,scale=%d:%d:flags=neighbor",
			w/4, h/4, 0.1+0.3*r.Float64(), r.IntN(1<<30), color(r), color(r), color(r), w, h)
	}},
	{"cellauto", func(r *rand.Rand, w, h int) string {
		rules := []int{30, 90, 110, 150, 18}
		return fmt.Sprintf("cellauto=s=%dx%d:r=30:rule=%d:seed=%d:random_fill_ratio=%.2f,scale=%d:%d:flags=neighbor,lutyuv=u=%d:v=%d",
			w/4, h/4, rules[r.IntN(len(rules))], r.IntN(1<<30), 0.2+0.6*r.Float64(), w, h, 40+r.IntN(176), 40+r.IntN(176))
	}},
	{"noise+box", func(r *rand.Rand, w, h int) string {
		return fmt.Sprintf("color=c=%s:s=%dx%d:r=30,noise=alls=%d:allf=t,drawbox=x='mod(t*%d\\,%d)':y=%d:w=%d:h=%d:c=%s:t=fill,scale=%d:%d",
			color(r), w/4, h/4, 10+r.IntN(30), 20+r.IntN(100), w/4, r.IntN(h/8), 20+r.IntN(40), 20+r.IntN(40), color(r), w, h)
	}},
	{"gradients", func(r *rand.Rand, w, h int) string {
		return fmt.Sprintf("gradients=s=%dx%d:r=30:c0=%s:c1=%s:c2=%s:speed=%.3f:seed=%d,drawbox=x='mod(t*%d\\,%d)':y=%d:w=%d:h=%d:c=%s:t=fill",
			w, h, color(r), color(r), color(r), 0.01+0.04*r.Float64(), r.IntN(1<<30), 50+r.IntN(300), w, r.IntN(h/2), 60+r.IntN(200), 60+r.IntN(200), color(r))
	}},
	{"sierpinski", func(r *rand.Rand, w, h int) string {
		return fmt.Sprintf("sierpinski=s=%dx%d:r=30:seed=%d:jump=%d:type=%s,scale=%d:%d,hue=h=%d",
			w/2, h/2, r.IntN(1<<30), 1+r.IntN(5), []string{"carpet", "triangle"}[r.IntN(2)], w, h, r.IntN(360))
	}},
	{"rgbtestsrc-rot", func(r *rand.Rand, w, h int) string {
		return fmt.Sprintf("%s=s=%dx%d:r=30,rotate=a=%.2f*t:c=%s",
			[]string{"rgbtestsrc", "yuvtestsrc"}[r.IntN(2)], w/2, h/2, 0.2+r.Float64(), color(r)) + fmt.Sprintf(",scale=%d:%d", w, h)
	}},
}

func color(r *rand.Rand) string { return fmt.Sprintf("0x%06X", r.IntN(1<<24)) }

// timeline is a generated edit: shots joined by hard cuts or 1 s dissolves.
type timeline struct {
	shots     []shot
	dissolve  []bool // dissolve[i]: shots i and i+1 are joined by a dissolve
	cuts      []float64
	dissolves [][2]float64 // [start, end] of each dissolve
	duration  float64
	post      string // a filter chain applied to the whole edit, e.g. noise
}

// newTimeline draws n shots of minSec..maxSec seconds and makes nDissolves
// of the joins dissolves (never two in a row, so every dissolve has clean
// shots on both sides).
func newTimeline(r *rand.Rand, w, h, n, nDissolves int, minSec, maxSec float64) *timeline {
	tl := &timeline{dissolve: make([]bool, n-1)}
	prev := -1
	for i := 0; i < n; i++ {
		k := r.IntN(len(sources))
		if k == prev && r.IntN(2) == 0 { // same kind twice in a row sometimes, not always
			k = r.IntN(len(sources))
		}
		prev = k
		frames := int((minSec + (maxSec-minSec)*r.Float64()) * fps)
		tl.shots = append(tl.shots, shot{kind: sources[k].kind, src: sources[k].make(r, w, h), frames: frames})
	}
	for placed := 0; placed < nDissolves; {
		j := r.IntN(n - 1)
		if tl.dissolve[j] || (j > 0 && tl.dissolve[j-1]) || (j+1 < n-1 && tl.dissolve[j+1]) {
			continue
		}
		tl.dissolve[j] = true
		placed++
	}
	return retime(tl)
}

// graph is the filter_complex that renders the timeline to [v].
func (tl *timeline) graph() string {
	var b strings.Builder
	for i, s := range tl.shots {
		fmt.Fprintf(&b, "%s,fps=30,format=yuv420p,setsar=1,trim=end_frame=%d,setpts=PTS-STARTPTS[s%d];", s.src, s.frames, i)
	}
	// Groups: runs of shots joined by dissolves, rendered with xfade.
	var groups []string
	for i := 0; i < len(tl.shots); {
		label := fmt.Sprintf("s%d", i)
		frames := tl.shots[i].frames
		j := i
		for j < len(tl.dissolve) && tl.dissolve[j] {
			out := fmt.Sprintf("x%d", j)
			fmt.Fprintf(&b, "[%s][s%d]xfade=transition=fade:duration=1:offset=%g[%s];",
				label, j+1, float64(frames-fps)/fps, out)
			frames += tl.shots[j+1].frames - fps
			label = out
			j++
		}
		groups = append(groups, "["+label+"]")
		i = j + 1
	}
	post := ""
	if tl.post != "" {
		post = "," + tl.post
	}
	fmt.Fprintf(&b, "%sconcat=n=%d:v=1:a=0%s[v]", strings.Join(groups, ""), len(groups), post)
	return b.String()
}

// ffmpegRun runs ffmpeg with quiet logging and returns how long it took.
func ffmpegRun(args ...string) (time.Duration, error) {
	full := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...)
	cmd := exec.Command("ffmpeg", full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("ffmpeg %s: %v\n%s", strings.Join(short(full), " "), err, stderr.String())
	}
	return time.Since(start), nil
}

func short(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if len(a) > 200 {
			a = a[:200] + "…"
		}
		out[i] = a
	}
	return out
}

// cached returns path when it exists, otherwise builds it with make into a
// temporary name first, so an interrupted run leaves no half file.
func cached(path string, make func(tmp string) error) (built bool, took time.Duration, err error) {
	if _, err := os.Stat(path); err == nil {
		return false, 0, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, 0, err
	}
	tmp := strings.TrimSuffix(path, filepath.Ext(path)) + ".part" + filepath.Ext(path)
	start := time.Now()
	if err := make(tmp); err != nil {
		os.Remove(tmp)
		return false, 0, err
	}
	return true, time.Since(start), os.Rename(tmp, path)
}

// genAccuracy renders a timeline without audio.
func genAccuracy(path string, tl *timeline) (bool, time.Duration, error) {
	return cached(path, func(tmp string) error {
		_, err := ffmpegRun("-filter_complex", tl.graph(), "-map", "[v]",
			"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", "250", "-pix_fmt", "yuv420p", tmp)
		return err
	})
}

// speedClipSeconds is the length of the clip the speed video loops.
const speedClipSeconds = 30

// genSpeed renders a clip of random shots with audio (a tone with pauses
// over quiet pink noise, stereo 48 kHz AAC) in H.264 veryfast crf 23 capped
// at 4 Mbit/s (a common 720p bit rate), then loops it to minutes with
// stream copy. It returns the clip's timeline, cut to the clip length.
func genSpeed(dir string, minutes int, w, h int, seed uint64) (long, clip string, tl *timeline, built bool, took time.Duration, err error) {
	clip = filepath.Join(dir, fmt.Sprintf("speed-clip%d-%dx%d-s%d.mp4", speedClipSeconds, w, h, seed))
	r := rand.New(rand.NewPCG(seed, 2))
	tl = newTimeline(r, w, h, 8, 1, 2, 8)
	for tl.duration < speedClipSeconds { // top up
		tl.shots[len(tl.shots)-1].frames += int((speedClipSeconds-tl.duration)*fps) + 1
		tl = retime(tl)
	}
	audio := fmt.Sprintf("sine=frequency=330:sample_rate=48000,volume=enable='between(mod(t\\,17)\\,11\\,13)':volume=0[tone];"+
		"anoisesrc=color=pink:amplitude=0.02:sample_rate=48000:seed=7[noise];"+
		"[tone][noise]amix=inputs=2:duration=first,aformat=channel_layouts=stereo,atrim=duration=%d[a]", speedClipSeconds)
	built1, took1, err := cached(clip, func(tmp string) error {
		_, err := ffmpegRun("-filter_complex", tl.graph()+";"+audio, "-map", "[v]", "-map", "[a]", "-t", fmt.Sprint(speedClipSeconds),
			"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-maxrate", "4M", "-bufsize", "8M", "-pix_fmt", "yuv420p",
			"-c:a", "aac", "-b:a", "128k", tmp)
		return err
	})
	if err != nil {
		return "", "", nil, false, 0, err
	}
	// Only what the clip keeps.
	var cuts []float64
	for _, c := range tl.cuts {
		if c < speedClipSeconds {
			cuts = append(cuts, c)
		}
	}
	var dissolves [][2]float64
	for _, d := range tl.dissolves {
		if d[1] <= speedClipSeconds {
			dissolves = append(dissolves, d)
		}
	}
	tl.cuts, tl.dissolves, tl.duration = cuts, dissolves, speedClipSeconds

	long = filepath.Join(dir, fmt.Sprintf("speed-%dmin-%dx%d-s%d-c%d.mp4", minutes, w, h, seed, speedClipSeconds))
	loops := (minutes*60 + speedClipSeconds - 1) / speedClipSeconds
	built2, took2, err := cached(long, func(tmp string) error {
		_, err := ffmpegRun("-stream_loop", fmt.Sprint(loops-1), "-i", clip, "-c", "copy", "-t", fmt.Sprint(minutes*60),
			"-movflags", "+faststart", tmp)
		return err
	})
	return long, clip, tl, built1 || built2, took1 + took2, err
}

// retime computes the truth from the shot lengths, in frames: a dissolve
// overlaps the last second of shot i with the first second of shot i+1.
func retime(tl *timeline) *timeline {
	out := &timeline{shots: tl.shots, dissolve: tl.dissolve, post: tl.post}
	at := 0
	for i, s := range out.shots {
		at += s.frames
		if i == len(out.shots)-1 {
			break
		}
		if out.dissolve[i] {
			at -= fps
			out.dissolves = append(out.dissolves, [2]float64{float64(at) / fps, float64(at+fps) / fps})
		} else {
			out.cuts = append(out.cuts, float64(at)/fps)
		}
	}
	out.duration = float64(at) / fps
	return out
}

// genSingle renders one continuous shot of the given chain.
func genSingle(path, chain string, seconds int) (bool, time.Duration, error) {
	return cached(path, func(tmp string) error {
		_, err := ffmpegRun("-filter_complex", fmt.Sprintf("%s,format=yuv420p,trim=duration=%d[v]", chain, seconds), "-map", "[v]",
			"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", tmp)
		return err
	})
}

// ---- noisy colour edits (cuts between colours of similar brightness)

// rgb is an 8-bit RGB colour.
type rgb struct{ r, g, b int }

// luma is the BT.601 luma of c, 0..255.
func (c rgb) luma() float64 { return 0.299*float64(c.r) + 0.587*float64(c.g) + 0.114*float64(c.b) }

func (c rgb) String() string { return fmt.Sprintf("0x%02X%02X%02X", c.r, c.g, c.b) }

// hues are the directions of the colours of a noisy edit; grey has none.
var hues = []struct {
	name    string
	r, g, b float64
}{
	{"red", 255, 0, 0}, {"green", 0, 255, 0}, {"blue", 0, 0, 255},
	{"yellow", 255, 255, 0}, {"cyan", 0, 255, 255}, {"magenta", 255, 0, 255},
	{"grey", 0, 0, 0},
}

// colourOfLuma is hue h at BT.601 luma l: grey l plus sat times the largest
// multiple of the hue's zero-luma part (the hue minus its own luma) that
// stays inside 0..255. Adding a zero-luma vector keeps the luma, so every
// colour of one l has the same luma up to rounding (< 0.5).
func colourOfLuma(l float64, h int, sat float64) rgb {
	d := hues[h]
	y := 0.299*d.r + 0.587*d.g + 0.114*d.b
	dir := [3]float64{d.r - y, d.g - y, d.b - y}
	a := math.Inf(1)
	for _, v := range dir {
		switch {
		case v > 0:
			a = math.Min(a, (255-l)/v)
		case v < 0:
			a = math.Min(a, l/-v)
		}
	}
	if math.IsInf(a, 1) { // grey
		a = 0
	}
	a *= sat
	ch := func(v float64) int { return int(math.Round(math.Max(0, math.Min(255, l+a*v)))) }
	return rgb{ch(dir[0]), ch(dir[1]), ch(dir[2])}
}

// noisyLevels are the luma levels of a noisy colour edit: mid-tones, where
// every hue can be strongly saturated (near black or white a colour of the
// same luma as grey is necessarily pale).
var noisyLevels = []float64{70, 110, 150}

// colourEdit is a noisy colour edit: the timeline and, for each of its
// cuts, whether it joins two colours of similar luma (difference < 10 of
// 255) and the luma difference; the flashes are the times of 3-frame white
// flashes inside scenes, which are no cuts.
type colourEdit struct {
	tl      *timeline
	iso     []bool    // per cut
	dLuma   []float64 // per cut: |luma after - luma before|
	flashes []float64 // seconds
	noise   int       // alls of the noise filter
}

// isoLuma is the largest luma difference of an "iso-luminant" cut.
const isoLuma = 10.0

// newColourEdit draws n solid-colour scenes of minSec..maxSec seconds:
// each next scene keeps the luma level of the one before (± 3) with
// probability isoProb, in another hue (grey counting as one), else moves to
// another level (a difference of 40 or more); saturation 0.7..1 of the
// most the hue has at that luma. nDissolves joins are 1 s dissolves and
// nFlashes scenes get a flash of 3 white (85 %) frames in their middle
// part. The whole edit then gets temporal uniform noise of strength noise
// (FFmpeg's noise filter, every frame different, luma and chroma).
func newColourEdit(r *rand.Rand, w, h, n, nDissolves, nFlashes, noise int, minSec, maxSec, isoProb float64) *colourEdit {
	tl := &timeline{dissolve: make([]bool, n-1)}
	type pick struct {
		level, hue int
		c          rgb
	}
	var picks []pick
	for i := 0; i < n; i++ {
		var p pick
		if i == 0 {
			p.level, p.hue = r.IntN(len(noisyLevels)), r.IntN(len(hues))
		} else {
			prev := picks[i-1]
			p.level, p.hue = prev.level, prev.hue
			if r.Float64() < isoProb {
				for p.hue == prev.hue {
					p.hue = r.IntN(len(hues))
				}
			} else {
				for p.level == prev.level {
					p.level = r.IntN(len(noisyLevels))
				}
				p.hue = r.IntN(len(hues))
			}
		}
		l := noisyLevels[p.level] + float64(r.IntN(7)-3)
		p.c = colourOfLuma(l, p.hue, 0.7+0.3*r.Float64())
		picks = append(picks, p)
		frames := int((minSec + (maxSec-minSec)*r.Float64()) * fps)
		tl.shots = append(tl.shots, shot{kind: fmt.Sprintf("%s %s (luma %.0f)", hues[p.hue].name, p.c, p.c.luma()),
			src: fmt.Sprintf("color=c=%s:s=%dx%d:r=30", p.c, w, h), frames: frames})
	}
	for placed := 0; placed < nDissolves; {
		j := r.IntN(n - 1)
		if tl.dissolve[j] || (j > 0 && tl.dissolve[j-1]) || (j+1 < n-1 && tl.dissolve[j+1]) {
			continue
		}
		tl.dissolve[j] = true
		placed++
	}
	// Flashes: in the clean middle of a scene (away from its cuts and any
	// dissolve), at most one per scene.
	flashAt := map[int]int{}
	for tries := 0; len(flashAt) < nFlashes && tries < 1000; tries++ {
		i := r.IntN(n)
		lo, hi := fps/2, tl.shots[i].frames-fps/2-3
		if i > 0 && tl.dissolve[i-1] {
			lo += fps
		}
		if i < n-1 && tl.dissolve[i] {
			hi -= fps
		}
		if _, ok := flashAt[i]; ok || hi <= lo {
			continue
		}
		flashAt[i] = lo + r.IntN(hi-lo)
		tl.shots[i].src += fmt.Sprintf(",drawbox=c=white@0.85:t=fill:enable='between(n\\,%d\\,%d)'", flashAt[i], flashAt[i]+2)
	}
	tl = retime(tl)
	tl.post = fmt.Sprintf("noise=alls=%d:allf=t+u", noise)
	e := &colourEdit{tl: tl, noise: noise}
	// Cut k is the k-th join that is not a dissolve; the start of shot i
	// in the edit is the sum of the frames before it, less a second per
	// dissolve before it.
	start := 0
	for i := range tl.shots {
		if f, ok := flashAt[i]; ok {
			e.flashes = append(e.flashes, float64(start+f)/fps)
		}
		start += tl.shots[i].frames
		if i < n-1 {
			if tl.dissolve[i] {
				start -= fps
				continue
			}
			d := math.Abs(picks[i+1].c.luma() - picks[i].c.luma())
			e.dLuma = append(e.dLuma, d)
			e.iso = append(e.iso, d < isoLuma)
		}
	}
	slices.Sort(e.flashes)
	return e
}
