package media

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests run the installed ffmpeg and ffprobe on tiny videos generated
// with lavfi sources; FFmpeg is a hard requirement of the server, so they
// do not skip.

func newTool(t *testing.T) *Tool {
	t.Helper()
	tool, err := New(Config{MaxHeavy: 2})
	if err != nil {
		t.Fatalf("FFmpeg is required for these tests: %v", err)
	}
	return tool
}

// generate runs ffmpeg with args and returns the output file in a temp dir.
func generate(t *testing.T, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	full := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...)
	full = append(full, out)
	cmd := exec.Command("ffmpeg", full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("generating %s: %v\n%s", name, err, stderr.String())
	}
	return out
}

// x264 are small-output encoder settings for test videos.
var x264 = []string{"-c:v", "libx264", "-preset", "ultrafast", "-crf", "40", "-pix_fmt", "yuv420p"}

func testVideo(t *testing.T, name, size string, seconds string, extra ...string) string {
	t.Helper()
	args := []string{"-f", "lavfi", "-i", "testsrc2=s=" + size + ":r=10:d=" + seconds}
	args = append(args, x264...)
	args = append(args, extra...)
	return generate(t, name, args...)
}

func TestProbeNormalVideoWithAudio(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	path := generate(t, "normal.mp4",
		append(append([]string{
			"-f", "lavfi", "-i", "testsrc2=s=640x360:r=10:d=5",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=5",
		}, x264...), "-c:a", "aac", "-b:a", "32k", "-shortest")...)

	info, err := tool.Probe(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info.Format, "mp4") {
		t.Errorf("format = %q", info.Format)
	}
	if math.Abs(info.Duration-5) > 0.2 {
		t.Errorf("duration = %v, want about 5", info.Duration)
	}
	if st, _ := os.Stat(path); info.Size != st.Size() || info.BitRate <= 0 {
		t.Errorf("size = %d (file %d), bit rate %d", info.Size, st.Size(), info.BitRate)
	}
	v := info.Video
	if v == nil {
		t.Fatal("no video stream")
	}
	if v.Codec != "h264" || v.Width != 640 || v.Height != 360 || v.DisplayWidth != 640 || v.DisplayHeight != 360 ||
		v.FPS != 10 || v.Rotation != 0 || v.PixelFormat != "yuv420p" || v.SampleAspectRatio != (Ratio{1, 1}) {
		t.Errorf("video = %+v", v)
	}
	a := info.Audio
	if !info.HasAudio() || a.Codec != "aac" || a.SampleRate != 22050 || a.Channels != 1 {
		t.Errorf("audio = %+v", a)
	}
	if r := CheckAnalyzable(info, MaxDurationAsync); r != nil {
		t.Errorf("CheckAnalyzable: %v", r)
	}
	if err := tool.DecodeCheck(context.Background(), path); err != nil {
		t.Errorf("DecodeCheck: %v", err)
	}
	t.Logf("probe: %s", info)
}

func TestProbeRejectsByRule(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	tests := []struct {
		name     string
		make     func(t *testing.T) string
		wantRule string
		wantMsg  string
	}{
		{"two seconds", func(t *testing.T) string { return testVideo(t, "short.mp4", "640x360", "2") },
			RuleDuration, "video duration 2.0 s is below the minimum of 4 s"},
		{"320x240", func(t *testing.T) string { return testVideo(t, "small.mp4", "320x240", "5") },
			RuleResolution, "video resolution 320x240 is below the minimum of 360x360 (short side 240 px)"},
		{"1280x360", func(t *testing.T) string { return testVideo(t, "wide.mp4", "1280x360", "5") },
			RuleAspectRatio, "video aspect ratio 3.56:1 (1280x360)"},
		{"audio only", func(t *testing.T) string {
			return generate(t, "tone.m4a", "-f", "lavfi", "-i", "sine=duration=5:sample_rate=8000", "-c:a", "aac", "-b:a", "16k")
		}, RuleNoVideo, "only audio"},
		{"still image", func(t *testing.T) string {
			return generate(t, "still.png", "-f", "lavfi", "-i", "color=c=blue:s=640x360", "-frames:v", "1")
		}, RuleDuration, "could not be determined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			info, err := tool.Probe(context.Background(), tt.make(t))
			if err != nil {
				t.Fatal(err)
			}
			r := CheckAnalyzable(info, MaxDurationAsync)
			if r == nil || r.Rule != tt.wantRule || !strings.Contains(r.Message, tt.wantMsg) {
				t.Fatalf("CheckAnalyzable(%s) = %v, want rule %s with %q", info, r, tt.wantRule, tt.wantMsg)
			}
		})
	}
}

// ffmpeg 5.1 has no -display_rotation; the mp4 muxer turns the stream's
// "rotate" metadata into a display matrix.
func TestProbeRotated(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	plain := testVideo(t, "plain.mp4", "640x360", "5")
	rotated := generate(t, "rotated.mp4", "-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=90")

	info, err := tool.Probe(context.Background(), rotated)
	if err != nil {
		t.Fatal(err)
	}
	v := info.Video
	if v.Width != 640 || v.Height != 360 {
		t.Errorf("stored size = %dx%d, want 640x360", v.Width, v.Height)
	}
	if v.Rotation != 90 && v.Rotation != 270 {
		t.Errorf("rotation = %d, want a quarter turn", v.Rotation)
	}
	if v.DisplayWidth != 360 || v.DisplayHeight != 640 {
		t.Errorf("display size = %dx%d, want 360x640", v.DisplayWidth, v.DisplayHeight)
	}
	if r := CheckAnalyzable(info, 0); r != nil {
		t.Errorf("a 360x640 portrait video should pass: %v", r)
	}
}

func TestProbeNotMedia(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("this is just text, not a video\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Half of an mp4 whose index (moov) sits at the end: no index, not readable.
	whole := testVideo(t, "whole.mp4", "640x360", "5")
	data, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(dir, "half.mp4")
	if err := os.WriteFile(half, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	// A name that FFmpeg would otherwise read as a protocol.
	tricky := filepath.Join(dir, "concat:x")
	if err := os.WriteFile(tricky, []byte("plain text"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, path := range []string{text, half, tricky} {
		_, err := tool.Probe(context.Background(), path)
		if !errors.Is(err, ErrNotMedia) {
			t.Errorf("Probe(%s) = %v, want ErrNotMedia", filepath.Base(path), err)
			continue
		}
		var r *RuleError
		if !errors.As(err, &r) || r.Rule != RuleDecodable {
			t.Errorf("Probe(%s) = %v, want a RuleError with rule decodable", filepath.Base(path), err)
			continue
		}
		if strings.Contains(r.Message, dir) {
			t.Errorf("the user message leaks the path: %q", r.Message)
		}
		var te *ToolError
		if errors.As(err, &te) && (te.ExitCode <= 0 || te.Stderr == "") {
			t.Errorf("tool error lacks exit code or stderr: %+v", te)
		}
	}
}

// An uploaded HLS playlist would make FFmpeg read the files it names; it is
// refused whatever the file is called.
func TestProbeRefusesPlaylists(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	dir := t.TempDir()
	segment := testVideo(t, "seg.ts", "640x360", "5", "-f", "mpegts")
	playlist := "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:5\n#EXTINF:5.0,\n" + segment + "\n#EXT-X-ENDLIST\n"
	concat := "ffconcat version 1.0\nfile '" + segment + "'\n"
	for name, body := range map[string]string{"upload-hls": playlist, "upload-concat": concat, "upload-hls-bom": "\ufeff\n" + playlist} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := tool.Probe(context.Background(), path)
		var r *RuleError
		if !errors.Is(err, ErrNotMedia) || !errors.As(err, &r) || !strings.Contains(r.Message, "playlist") {
			t.Errorf("Probe(%s) = %v, want a playlist refusal", name, err)
		}
	}
}

func TestProbeMissingFile(t *testing.T) {
	t.Parallel()
	_, err := newTool(t).Probe(context.Background(), filepath.Join(t.TempDir(), "nope.mp4"))
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrNotMedia) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}

// A faststart mp4 cut right after the start of its media data: the index
// is intact, so ffprobe is happy, but no frame can be decoded.
func TestDecodeCheckTruncated(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	whole := testVideo(t, "whole.mp4", "640x360", "5", "-movflags", "+faststart")
	data, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte("mdat"))
	if i < 0 {
		t.Fatal("no mdat box")
	}
	cut := filepath.Join(t.TempDir(), "cut.mp4")
	if err := os.WriteFile(cut, data[:i+8+100], 0o644); err != nil {
		t.Fatal(err)
	}

	info, err := tool.Probe(context.Background(), cut)
	if err != nil {
		t.Fatalf("probe of a truncated faststart file should succeed: %v", err)
	}
	if r := CheckAnalyzable(info, 0); r != nil {
		t.Fatalf("metadata alone should pass: %v", r)
	}
	err = tool.DecodeCheck(context.Background(), cut)
	var r *RuleError
	if !errors.As(err, &r) || r.Rule != RuleDecodable {
		t.Fatalf("DecodeCheck = %v, want a decodable RuleError", err)
	}
	var te *ToolError
	if !errors.As(err, &te) || te.ExitCode <= 0 || te.Stderr == "" {
		t.Errorf("cause should be a ToolError with exit code and stderr, got %#v", r.Err)
	}
	t.Logf("user message: %s\nlog: %v", r.Message, r.Err)
}

func TestDecodeCheckCanceled(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	path := testVideo(t, "v.mp4", "640x360", "5")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := tool.DecodeCheck(ctx, path)
	var r *RuleError
	if !errors.Is(err, context.Canceled) || errors.As(err, &r) {
		t.Fatalf("err = %v, want context.Canceled and no verdict on the file", err)
	}
}

func TestHeavyRunsAreBounded(t *testing.T) {
	t.Parallel()
	tool, err := New(Config{MaxHeavy: 1})
	if err != nil {
		t.Fatal(err)
	}
	path := testVideo(t, "v.mp4", "640x360", "5")
	release, err := tool.acquire(context.Background(), "test") // the only slot
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := tool.DecodeCheck(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DecodeCheck with no free slot = %v, want a deadline error", err)
	}
	release()
	if err := tool.DecodeCheck(context.Background(), path); err != nil {
		t.Fatalf("DecodeCheck after release: %v", err)
	}
}

func TestToolErrorCarriesExitCodeAndStderr(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	_, err := tool.run(context.Background(), tool.ffmpeg, "-hide_banner", "-no-such-option")
	var te *ToolError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want *ToolError", err)
	}
	if te.Tool != "ffmpeg" || te.ExitCode <= 0 || !strings.Contains(te.Stderr, "no-such-option") {
		t.Errorf("tool error = %+v", te)
	}
	if msg := te.Error(); !strings.Contains(msg, "exit code") || !strings.Contains(msg, "no-such-option") {
		t.Errorf("Error() = %q", msg)
	}
}

func TestNewMissingTool(t *testing.T) {
	t.Parallel()
	_, err := New(Config{FFprobePath: "/nonexistent/ffprobe"})
	if err == nil || !strings.Contains(err.Error(), "ffprobe") {
		t.Fatalf("err = %v, want a clear error naming ffprobe", err)
	}
}

// A real video at 1,000 fps is refused by the frame-rate rule, naming the
// rate ffprobe reports; the same picture at 25 fps passes.
func TestProbeRefusesHighFrameRate(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	for _, tt := range []struct {
		rate     string
		wantRule string
	}{{"1000", RuleFrameRate}, {"25", ""}} {
		path := generate(t, "rate"+tt.rate+".mp4", append([]string{"-f", "lavfi", "-i", "color=c=blue:s=360x360:d=5:r=" + tt.rate}, x264...)...)
		info, err := tool.Probe(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		got := CheckAnalyzable(info, MaxDurationAsync)
		switch {
		case tt.wantRule == "" && got != nil:
			t.Errorf("%s fps: CheckAnalyzable = %v, want nil", tt.rate, got)
		case tt.wantRule != "" && (got == nil || got.Rule != tt.wantRule):
			t.Errorf("%s fps: CheckAnalyzable = %v, want rule %s", tt.rate, got, tt.wantRule)
		case tt.wantRule != "" && !strings.Contains(got.Message, "video frame rate 1000 fps exceeds the maximum of 240 fps"):
			t.Errorf("message = %q", got.Message)
		}
	}
}
