package vlmbench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/framewise/framewise/internal/inference/inferencetest"
)

// cacheDir keeps the generated videos between runs. The long testsrc2
// videos follow the naming and recipe of bench/sample, which uses the same
// directory, so either benchmark reuses the other's files.
func cacheDir() string { return filepath.Join(os.TempDir(), "framewise-bench") }

// Scene is one solid-colour scene of the accuracy video.
type Scene struct {
	Colour     string  `json:"colour"`
	Start, End float64 `json:"-"`
	Frames     int     `json:"frames"`        // length in frames at sceneFPS
	RGB        string  `json:"rgb,omitempty"` // the value shown when not the palette's own (0xRRGGBB)
}

// The accuracy video: solid palette colours at 320x180, 25 fps, H.264
// ultrafast with a 2 s GOP (the same GOP as the throughput videos).
const (
	sceneSize    = "320x180"
	sceneFPS     = 25
	sceneGOP     = 50
	sceneTotal   = 1800.0 // seconds
	sceneMin     = 2.0
	sceneMax     = 120.0
	sceneMinimum = 40 // scenes at least
	// minLumaStep is the smallest luma difference (BT.601, 0–255) between
	// consecutive scenes. media.Measure found cuts in luma-only thumbnails
	// (a cut needs a mean absolute difference of at least
	// media.DefaultSceneThreshold of full scale, 0.06 × 255 ≈ 15), so a cut
	// between two colours of (nearly) the same luma, such as red (76) and
	// green (75), was invisible to it. The rule keeps the main video about
	// the engine rather than the cut detector; the accuracy benchmark also
	// reports a video without it. See README.md ("Iso-luminant cuts").
	minLumaStep = 40.0
)

// luma is the BT.601 luma of a palette colour, 0–255.
func luma(colour string) float64 {
	c, ok := inferencetest.RGB(colour)
	if !ok {
		panic("unknown colour " + colour)
	}
	return 0.299*float64(c.R) + 0.587*float64(c.G) + 0.114*float64(c.B)
}

// planScenes draws the scenes of the accuracy video from seed: lengths
// log-uniform in [sceneMin, sceneMax] (many short scenes, some long ones),
// whole frames, drawn until they fill sceneTotal (the last one is cut to
// fit; no scene is shorter than sceneMin); each colour differs from the one before, and differs in luma
// by at least minLuma (0: any other colour). Every palette colour of the
// double may appear.
func planScenes(seed uint64, minLuma float64) []Scene {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	colours := inferencetest.Colours()
	total := int(math.Round(sceneTotal * sceneFPS))
	minF, maxF := int(sceneMin*sceneFPS), int(sceneMax*sceneFPS)
	var out []Scene
	at, prev := 0, ""
	for at < total {
		n := int(math.Round(math.Exp(math.Log(float64(minF)) + r.Float64()*(math.Log(float64(maxF))-math.Log(float64(minF))))))
		n = min(max(n, minF), maxF)
		switch rest := total - at; {
		case n >= rest: // the last scene, cut to fit
			n = rest
		case rest-n < minF: // never leave a sliver shorter than a scene
			if rest <= maxF {
				n = rest
			} else {
				n = rest - minF
			}
		}
		var c string
		for {
			c = colours[r.IntN(len(colours))]
			if c != prev && (prev == "" || math.Abs(luma(c)-luma(prev)) >= minLuma) {
				break
			}
		}
		out = append(out, Scene{Colour: c, Frames: n})
		at += n
		prev = c
	}
	f := 0
	for i := range out {
		out[i].Start = float64(f) / sceneFPS
		f += out[i].Frames
		out[i].End = float64(f) / sceneFPS
	}
	return out
}

// sceneVideo returns a cached video of scenes, generating it when missing:
// one lavfi color source per scene, joined with the concat filter.
func sceneVideo(name string, scenes []Scene) (string, error) {
	return sceneVideoNoise(name, scenes, 0)
}

// sceneVideoNoise is sceneVideo with sensor noise of strength noise (see
// noiseChain) on every frame when noise > 0; such a video is encoded with
// x264 veryfast (crf 23), as noise costs ultrafast many bits.
func sceneVideoNoise(name string, scenes []Scene, noise int) (string, error) {
	dir := cacheDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// The name carries a digest of the plan, so a changed plan never reuses
	// a stale file.
	plan, _ := json.Marshal(scenes)
	suffix, post, preset := "", "", "ultrafast"
	if noise > 0 {
		suffix, post, preset = fmt.Sprintf("-noise%d", noise), ","+noiseChain(noise), "veryfast"
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%s-%dfps-g%d%s-%08x.mp4", name, sceneSize, sceneFPS, sceneGOP, suffix, fnv32(plan)))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	var fc strings.Builder
	for i, s := range scenes {
		c := s.Colour
		if s.RGB != "" {
			c = s.RGB
		}
		fmt.Fprintf(&fc, "color=c=%s:s=%s:r=%d:d=%s[v%d];", c, sceneSize, sceneFPS,
			ffnum(float64(s.Frames)/sceneFPS), i)
	}
	for i := range scenes {
		fmt.Fprintf(&fc, "[v%d]", i)
	}
	fmt.Fprintf(&fc, "concat=n=%d:v=1:a=0%s,format=yuv420p[v]", len(scenes), post)
	start := time.Now()
	fmt.Printf("generating %s (%d scenes)...\n", path, len(scenes))
	if err := ffmpegTo(path, "-filter_complex", fc.String(), "-map", "[v]",
		"-c:v", "libx264", "-preset", preset, "-crf", "23", "-g", fmt.Sprint(sceneGOP)); err != nil {
		return "", err
	}
	fmt.Printf("  done in %.1f s\n", time.Since(start).Seconds())
	return path, nil
}

// ---- noisy videos: an imprecise model on iso-luminant cuts, and events
// inside one shot

// sensorNoise is the strength of the noise on the noisy videos: FFmpeg's
// noise filter, uniform, temporal (every frame differs), on luma and
// chroma, as in bench/measure's noisy colour edit.
const sensorNoise = 20

func noiseChain(strength int) string { return fmt.Sprintf("noise=alls=%d:allf=t+u", strength) }

// The noisy scene video: like the accuracy video (320x180, 25 fps, 2 s
// GOP, log-uniform scene lengths) but shorter, with shorter scenes and
// sensor noise, and most cuts between colours of the same luma.
const (
	noisySeed  = 5
	noisyTotal = 360.0 // seconds
	noisyMax   = 40.0  // longest scene, seconds
	// noisyIsoProb is the chance that a scene keeps the luma group of the
	// scene before (a cut between colours of the same luma).
	noisyIsoProb = 0.7
	// isoLuma is the largest luma difference (BT.601, 0..255) of a cut
	// counted as iso-luminant, as in bench/measure.
	isoLuma = 10.0
)

// isoColour is a colour of the noisy videos: the palette name the double
// gives it and the RGB value shown.
type isoColour struct {
	Name string
	RGB  [3]int
}

func (c isoColour) hex() string { return fmt.Sprintf("0x%02X%02X%02X", c.RGB[0], c.RGB[1], c.RGB[2]) }

func (c isoColour) luma() float64 {
	return 0.299*float64(c.RGB[0]) + 0.587*float64(c.RGB[1]) + 0.114*float64(c.RGB[2])
}

// ofLuma is bench/measure's colourOfLuma: grey of BT.601 luma l plus the
// largest multiple of the zero-luma part of hue (the hue minus its own
// luma) that stays inside 0..255, so that every colour made for one l has
// luma l (± 0.5 from rounding).
func ofLuma(name string, l float64, hue [3]float64) isoColour {
	y := 0.299*hue[0] + 0.587*hue[1] + 0.114*hue[2]
	dir := [3]float64{hue[0] - y, hue[1] - y, hue[2] - y}
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
	var c isoColour
	c.Name = name
	for i, v := range dir {
		c.RGB[i] = int(math.Round(math.Max(0, math.Min(255, l+a*v))))
	}
	return c
}

// isoGroups are the colours of the noisy videos, in groups of (nearly) the
// same luma: red, green, blue, magenta and grey made at luma 100 (as
// bench/measure makes its colours; each stays nearest to the palette value
// of its name, so the double names it right), and the palette's cyan
// (178.8), orange (173.1) and a grey of 175. farColours differ from both
// groups a lot.
var (
	isoGroups = [][]isoColour{
		{
			ofLuma("red", 100, [3]float64{255, 0, 0}), ofLuma("green", 100, [3]float64{0, 255, 0}),
			ofLuma("blue", 100, [3]float64{0, 0, 255}), ofLuma("magenta", 100, [3]float64{255, 0, 255}),
			ofLuma("gray", 100, [3]float64{}),
		},
		{{"cyan", [3]int{0, 255, 255}}, {"orange", [3]int{255, 165, 0}}, ofLuma("gray", 175, [3]float64{})},
	}
	farColours = []isoColour{{"black", [3]int{0, 0, 0}}, {"white", [3]int{255, 255, 255}}, {"yellow", [3]int{255, 255, 0}}}
)

// planNoisyScenes draws the scenes of the noisy scene video: lengths
// log-uniform in [sceneMin, noisyMax] s until they fill noisyTotal; a scene
// in a luma group keeps the group with probability noisyIsoProb (another
// colour of it), else moves to any colour outside the group (a far colour
// included); a far colour is followed by a colour of a group. Consecutive
// scenes never share a name.
func planNoisyScenes(seed uint64) []Scene {
	r := rand.New(rand.NewPCG(seed, 0x1507))
	total := int(math.Round(noisyTotal * sceneFPS))
	minF, maxF := int(sceneMin*sceneFPS), int(noisyMax*sceneFPS)
	group := func(c isoColour) int {
		for g, cs := range isoGroups {
			for _, x := range cs {
				if x == c {
					return g
				}
			}
		}
		return -1
	}
	var all []isoColour
	for _, g := range isoGroups {
		all = append(all, g...)
	}
	all = append(all, farColours...)
	var out []Scene
	at := 0
	var prev isoColour
	for at < total {
		n := int(math.Round(math.Exp(math.Log(float64(minF)) + r.Float64()*(math.Log(float64(maxF))-math.Log(float64(minF))))))
		n = min(max(n, minF), maxF)
		if rest := total - at; n >= rest || rest-n < minF {
			n = rest // the last scene takes the rest
		}
		var c isoColour
		switch g := group(prev); {
		case at == 0:
			c = isoGroups[0][r.IntN(len(isoGroups[0]))]
		case g >= 0 && r.Float64() < noisyIsoProb:
			for c = prev; c.Name == prev.Name; {
				c = isoGroups[g][r.IntN(len(isoGroups[g]))]
			}
		default:
			for c = prev; c.Name == prev.Name || (g >= 0 && group(c) == g) || (g < 0 && group(c) < 0); {
				c = all[r.IntN(len(all))]
			}
		}
		out = append(out, Scene{Colour: c.Name, RGB: c.hex(), Frames: n})
		at += n
		prev = c
	}
	f := 0
	for i := range out {
		out[i].Start = float64(f) / sceneFPS
		f += out[i].Frames
		out[i].End = float64(f) / sceneFPS
	}
	return out
}

// rgbLuma is the BT.601 luma of a scene's colour.
func rgbLuma(s Scene) float64 {
	if s.RGB == "" {
		return luma(s.Colour)
	}
	var c isoColour
	fmt.Sscanf(s.RGB, "0x%02X%02X%02X", &c.RGB[0], &c.RGB[1], &c.RGB[2])
	return c.luma()
}

// The events video: one continuous noisy shot of a grey background (luma
// 100) in which a box of another colour of the same luma, covering
// eventCover of the width and the whole height, slides in from the right
// edge in eventSlide seconds, stays, and slides out again, several times.
// No cut: the box moves a few pixels per frame, so the cut detector finds
// nothing to snap to. The double names the colour of most pixels, so an
// event starts when the box covers half the picture.
const (
	eventsSeed  = 6
	eventsTotal = 180.0 // seconds
	eventCover  = 0.9
	eventSlide  = 0.5 // seconds
	eventMin    = 4.0 // shortest event and gap, seconds
	eventMax    = 16.0
)

// planEvents draws the events (box shown from a to b, whole frames) and
// returns the truth as scenes: the background, then each box colour while
// the box covers more than half the picture, in turn. Box colours cycle
// through the luma-100 group's colours other than grey.
func planEvents(seed uint64) (events []Scene, truth []Scene) {
	r := rand.New(rand.NewPCG(seed, 0xe7e7))
	bg := isoGroups[0][len(isoGroups[0])-1] // grey
	boxes := isoGroups[0][:len(isoGroups[0])-1]
	frames := func(lo, hi float64) int { return int(math.Round((lo + r.Float64()*(hi-lo)) * sceneFPS)) }
	total := int(math.Round(eventsTotal * sceneFPS))
	// The first frame after a (at b) where the box covers more (less) than
	// half: coverage(t) = eventCover * (t-a) / eventSlide.
	cross := eventSlide * 0.5 / eventCover
	at := frames(eventMin, eventMax) // a gap first
	var t []Scene
	last := 0.0
	for k := 0; ; k++ {
		n := frames(eventMin, eventMax)
		if at+n+int(eventMin*sceneFPS) > total {
			break
		}
		c := boxes[k%len(boxes)]
		a, b := float64(at)/sceneFPS, float64(at+n)/sceneFPS
		events = append(events, Scene{Colour: c.Name, RGB: c.hex(), Start: a, End: b, Frames: n})
		s := math.Ceil((a+cross)*sceneFPS-1e-9) / sceneFPS
		e := math.Ceil((b-cross)*sceneFPS-1e-9) / sceneFPS
		t = append(t, Scene{Colour: bg.Name, RGB: bg.hex(), Start: last, End: s}, Scene{Colour: c.Name, RGB: c.hex(), Start: s, End: e})
		last = e
		at += n + frames(eventMin, eventMax)
	}
	t = append(t, Scene{Colour: bg.Name, RGB: bg.hex(), Start: last, End: eventsTotal})
	return events, t
}

// eventsVideo returns the cached events video, generating it when missing:
// a noisy grey color source with one overlaid box source per event, its x
// an expression of t (enable limits it to the event).
func eventsVideo(events []Scene) (string, error) {
	dir := cacheDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	plan := fmt.Appendf(nil, "%+v", events) // with the times, which the JSON of a Scene leaves out
	path := filepath.Join(dir, fmt.Sprintf("events-%s-%dfps-g%d-noise%d-%08x.mp4", sceneSize, sceneFPS, sceneGOP, sensorNoise, fnv32(plan)))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	var w, h int
	fmt.Sscanf(sceneSize, "%dx%d", &w, &h)
	bw := int(math.Round(eventCover * float64(w)))
	bg := isoGroups[0][len(isoGroups[0])-1]
	var fc strings.Builder
	fmt.Fprintf(&fc, "color=c=%s:s=%s:r=%d:d=%s[b];", bg.hex(), sceneSize, sceneFPS, ffnum(eventsTotal))
	label := "b"
	for i, e := range events {
		fmt.Fprintf(&fc, "color=c=%s:s=%dx%d:r=%d:d=%s[o%d];", e.RGB, bw, h, sceneFPS, ffnum(eventsTotal), i)
		a, b := ffnum(e.Start), ffnum(e.End)
		fmt.Fprintf(&fc, "[%s][o%d]overlay=x='W-w*min(1\\,max(0\\,min((t-%s)/%s\\,(%s-t)/%s)))':y=0:enable='between(t\\,%s\\,%s)'[m%d];",
			label, i, a, ffnum(eventSlide), b, ffnum(eventSlide), a, b, i)
		label = fmt.Sprintf("m%d", i)
	}
	fmt.Fprintf(&fc, "[%s]%s,format=yuv420p[v]", label, noiseChain(sensorNoise))
	start := time.Now()
	fmt.Printf("generating %s (%d events)...\n", path, len(events))
	if err := ffmpegTo(path, "-filter_complex", fc.String(), "-map", "[v]",
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", fmt.Sprint(sceneGOP)); err != nil {
		return "", err
	}
	fmt.Printf("  done in %.1f s\n", time.Since(start).Seconds())
	return path, nil
}

func ffnum(v float64) string { return fmt.Sprintf("%.6f", v) }

func fnv32(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// The throughput videos: the recipe and names of bench/sample (testsrc2,
// moving content and a running clock, 640x360 25 fps, H.264 ultrafast with
// a 2 s GOP, AAC mono sine at 48 kHz): a 10-minute segment joined to the
// requested length with the concat demuxer and stream copy.
const (
	genSize    = "640x360"
	genFPS     = 25
	genGOP     = 50
	segMinutes = 10
)

func genName(minutes int) string {
	return fmt.Sprintf("testsrc2-%s-%dfps-g%d-%dm.mp4", genSize, genFPS, genGOP, minutes)
}

// longVideo returns the path of a cached testsrc2 video of the given length
// in minutes (a multiple of segMinutes), making it when missing.
func longVideo(minutes int) (string, error) {
	dir := cacheDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, genName(minutes))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if minutes%segMinutes != 0 {
		return "", fmt.Errorf("length %d min is not a multiple of %d", minutes, segMinutes)
	}
	segPath := filepath.Join(dir, genName(segMinutes))
	if _, err := os.Stat(segPath); err != nil {
		fmt.Printf("generating %s...\n", segPath)
		start := time.Now()
		secs := segMinutes * 60
		if err := ffmpegTo(segPath,
			"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=s=%s:r=%d:d=%d", genSize, genFPS, secs),
			"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000:duration=%d", secs),
			"-c:v", "libx264", "-preset", "ultrafast", "-g", fmt.Sprint(genGOP), "-pix_fmt", "yuv420p",
			"-c:a", "aac", "-b:a", "64k", "-shortest"); err != nil {
			return "", err
		}
		fmt.Printf("  done in %.1f s\n", time.Since(start).Seconds())
	}
	if minutes == segMinutes {
		return segPath, nil
	}
	fmt.Printf("joining %d segments into %s...\n", minutes/segMinutes, path)
	list := filepath.Join(dir, fmt.Sprintf("concat-vlm-%dm.txt", minutes))
	var b strings.Builder
	b.WriteString("ffconcat version 1.0\n")
	for range minutes / segMinutes {
		fmt.Fprintf(&b, "file '%s'\n", strings.ReplaceAll(segPath, "'", `'\''`))
	}
	if err := os.WriteFile(list, []byte(b.String()), 0o644); err != nil {
		return "", err
	}
	defer os.Remove(list)
	return path, ffmpegTo(path, "-f", "concat", "-safe", "0", "-i", list, "-c", "copy")
}

// ffmpegTo runs ffmpeg with args writing out, through a temporary name so
// that an interrupted run leaves no broken file in the cache.
func ffmpegTo(out string, args ...string) error {
	tmp := out + ".part.mp4"
	full := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...)
	full = append(full, tmp)
	cmd := exec.Command("ffmpeg", full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("ffmpeg: %w: %s", err, stderr.String())
	}
	return os.Rename(tmp, out)
}
