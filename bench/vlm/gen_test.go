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
	Frames     int     `json:"frames"` // length in frames at sceneFPS
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
	dir := cacheDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// The name carries a digest of the plan, so a changed plan never reuses
	// a stale file.
	plan, _ := json.Marshal(scenes)
	path := filepath.Join(dir, fmt.Sprintf("%s-%s-%dfps-g%d-%08x.mp4", name, sceneSize, sceneFPS, sceneGOP, fnv32(plan)))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	var fc strings.Builder
	for i, s := range scenes {
		fmt.Fprintf(&fc, "color=c=%s:s=%s:r=%d:d=%s[v%d];", s.Colour, sceneSize, sceneFPS,
			ffnum(float64(s.Frames)/sceneFPS), i)
	}
	for i := range scenes {
		fmt.Fprintf(&fc, "[v%d]", i)
	}
	fmt.Fprintf(&fc, "concat=n=%d:v=1:a=0,format=yuv420p[v]", len(scenes))
	start := time.Now()
	fmt.Printf("generating %s (%d scenes)...\n", path, len(scenes))
	if err := ffmpegTo(path, "-filter_complex", fc.String(), "-map", "[v]",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", fmt.Sprint(sceneGOP)); err != nil {
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
