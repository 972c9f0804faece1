package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The benchmark videos: testsrc2 (moving content, a running clock) at
// 640x360 25 fps, H.264 ultrafast with a 2 s GOP (a common setting for web
// and streaming video; the x264 default of 250 frames would be 10 s), AAC
// mono sine at 48 kHz. A 10-minute segment is encoded once and joined to the
// requested length with the concat demuxer and stream copy, which takes
// seconds; the clock in the picture restarts every 10 minutes, which does
// not matter for decoding speed.
const (
	genSize    = "640x360"
	genFPS     = 25
	genGOP     = 50 // frames
	segMinutes = 10
)

func genName(minutes int) string {
	return fmt.Sprintf("testsrc2-%s-%dfps-g%d-%dm.mp4", genSize, genFPS, genGOP, minutes)
}

// genVideo returns the path of a cached video of the given length, making
// it (and the 10-minute segment it is joined from) when missing.
func genVideo(dir string, minutes int) (path string, built bool, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, err
	}
	path = filepath.Join(dir, genName(minutes))
	if _, err := os.Stat(path); err == nil {
		return path, false, nil
	}
	seg := minutes
	if minutes > segMinutes {
		seg = segMinutes
	}
	segPath := filepath.Join(dir, genName(seg))
	if _, err := os.Stat(segPath); err != nil {
		fmt.Printf("generating %d-minute segment %s (about %d s of encoding on 2 cores)...\n", seg, segPath, seg*6)
		start := time.Now()
		secs := seg * 60
		err := ffmpegTo(segPath,
			"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=s=%s:r=%d:d=%d", genSize, genFPS, secs),
			"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000:duration=%d", secs),
			"-c:v", "libx264", "-preset", "ultrafast", "-g", fmt.Sprint(genGOP), "-pix_fmt", "yuv420p",
			"-c:a", "aac", "-b:a", "64k", "-shortest")
		if err != nil {
			return "", false, err
		}
		fmt.Printf("  done in %.1f s\n", time.Since(start).Seconds())
	}
	if seg == minutes {
		return segPath, true, nil
	}
	if minutes%seg != 0 {
		return "", false, fmt.Errorf("length %d min is not a multiple of the %d-minute segment", minutes, seg)
	}
	fmt.Printf("joining %d segments into %s...\n", minutes/seg, path)
	start := time.Now()
	list := filepath.Join(dir, fmt.Sprintf("concat-%dm.txt", minutes))
	var b strings.Builder
	b.WriteString("ffconcat version 1.0\n")
	for range minutes / seg {
		fmt.Fprintf(&b, "file '%s'\n", strings.ReplaceAll(segPath, "'", `'\''`))
	}
	if err := os.WriteFile(list, []byte(b.String()), 0o644); err != nil {
		return "", false, err
	}
	defer os.Remove(list)
	if err := ffmpegTo(path, "-f", "concat", "-safe", "0", "-i", list, "-c", "copy"); err != nil {
		return "", false, err
	}
	fmt.Printf("  done in %.1f s\n", time.Since(start).Seconds())
	return path, true, nil
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
		return fmt.Errorf("ffmpeg %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return os.Rename(tmp, out)
}
