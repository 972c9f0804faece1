package media

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeDamaged writes data with bytes [from, to) of its length (fractions)
// replaced by noise, or cut at from when to is 0.
func writeDamaged(t *testing.T, src, name string, from, to float64) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	a := int(from * float64(len(data)))
	if to == 0 {
		data = data[:a]
	} else {
		r := rand.New(rand.NewPCG(7, 9))
		for i := a; i < int(to*float64(len(data))); i++ {
			data[i] = byte(r.UintN(256))
		}
	}
	out := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func wantIncomplete(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	var r *RuleError
	if !errors.As(err, &r) || r.Rule != RuleIncomplete {
		t.Fatalf("%s: %v, want an %s RuleError", what, err, RuleIncomplete)
	}
	for _, p := range parts {
		if !strings.Contains(r.Message, p) {
			t.Errorf("%s: message %q lacks %q", what, r.Message, p)
		}
	}
	t.Logf("%s: %s (%v)", what, r.Message, r.Err)
}

// A faststart MP4 cut to a quarter: its index declares 6 s, about 1.5 s
// decode. DecodeCheck and Measure both say so, naming both durations.
func TestTruncatedVideo(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	ctx := context.Background()
	whole := generate(t, "whole.mp4", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=6", "-f", "lavfi", "-i", "sine=d=6",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart", "-shortest")
	if err := tool.DecodeCheck(ctx, whole); err != nil {
		t.Fatalf("whole file: %v", err)
	}
	if m, err := tool.Measure(ctx, whole, nil, MeasureOptions{}); err != nil || m.DecodeErrors != 0 || m.Undecoded != 0 {
		t.Fatalf("whole file: %+v, %v", m, err)
	}
	cut := writeDamaged(t, whole, "cut.mp4", 0.25, 0)
	info, err := tool.Probe(ctx, cut)
	if err != nil || info.Duration < 5.9 {
		t.Fatalf("probe of the cut file: %v, %v (the index should still declare 6 s)", info, err)
	}
	wantIncomplete(t, "DecodeCheck", tool.DecodeCheck(ctx, cut), "declares 6.0 s but only 1.", "truncated")
	_, err = tool.Measure(ctx, cut, info, MeasureOptions{})
	wantIncomplete(t, "Measure", err, "declares 6.0 s but only 1.", "truncated")
	_, err = tool.Measure(ctx, cut, info, MeasureOptions{CutsOnly: true})
	wantIncomplete(t, "Measure cuts only", err, "declares 6.0 s but only 1.")
	// A window inside what decodes is fine.
	if _, err := tool.Measure(ctx, cut, info, MeasureOptions{End: 1}); err != nil {
		t.Errorf("window inside the decodable part: %v", err)
	}
}

// A longer video is not decoded whole: the check decodes its last seconds
// and, when they are missing, reads packets to say how much is left.
func TestTruncatedLongVideo(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	ctx := context.Background()
	whole := testVideo(t, "long.mp4", "640x360", "40", "-movflags", "+faststart")
	if err := tool.DecodeCheck(ctx, whole); err != nil {
		t.Fatalf("whole file: %v", err)
	}
	cut := writeDamaged(t, whole, "cut.mp4", 0.5, 0)
	wantIncomplete(t, "DecodeCheck", tool.DecodeCheck(ctx, cut), "declares 40.0 s but only ")
}

// Garbage over the middle of an MPEG-TS and of an MP4's mdat: the frames
// there do not decode, and both checks say how many seconds.
func TestCorruptInTheMiddle(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	ctx := context.Background()
	mp4 := generate(t, "whole.mp4", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=6",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "250")
	ts := generate(t, "whole.ts", "-i", mp4, "-c", "copy")
	for _, src := range []string{mp4, ts} {
		name := filepath.Base(src)
		bad := writeDamaged(t, src, "bad"+filepath.Ext(src), 0.4, 0.6)
		wantIncomplete(t, name+" DecodeCheck", tool.DecodeCheck(ctx, bad), "could not be decoded", "corrupt")
		_, err := tool.Measure(ctx, bad, nil, MeasureOptions{})
		wantIncomplete(t, name+" Measure", err, "could not be decoded", "corrupt")
	}
}

func TestMeasureParserDecodeReports(t *testing.T) {
	t.Parallel()
	info := &Info{Duration: 10, Video: &VideoStream{FPS: 25}}
	o, _ := MeasureOptions{}.withDefaults()
	p := newMeasureParser(0, 10, info, o)
	for _, l := range []string{
		"[h264 @ 0x1] error while decoding MB 26 15",
		"Error while decoding stream #0:0: Invalid data found when processing input",
		"[Parsed_fps_4 @ 0x55a] 200 frames in, 250 frames out; 0 frames dropped, 50 frames duplicated.",
	} {
		p.stderrLine([]byte(l))
	}
	p.thumbs = 250
	p.finish()
	err := p.complete(info)
	wantIncomplete(t, "parser", err, "2.0 s of the video")
	if p.m.DecodeErrors != 2 || p.m.Undecoded != 2 {
		t.Errorf("decode errors %d, undecoded %v", p.m.DecodeErrors, p.m.Undecoded)
	}
	// Duplicates without decode errors are a variable frame rate.
	p = newMeasureParser(0, 10, info, o)
	p.stderrLine([]byte("[Parsed_fps_4 @ 0x55a] 200 frames in, 250 frames out; 0 frames dropped, 50 frames duplicated."))
	p.thumbs = 250
	p.finish()
	if err := p.complete(info); err != nil || p.m.Undecoded != 0 {
		t.Errorf("VFR: %v, %v", err, p.m.Undecoded)
	}
}

// Formats outside FormatWhitelist are not opened, even when FFmpeg could
// read them.
func TestFormatWhitelist(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	// NUT is a format FFmpeg reads but we do not accept.
	nut := generate(t, "x.nut", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=10:d=5", "-c:v", "mpeg4")
	_, err := tool.Probe(context.Background(), nut)
	var r *RuleError
	if !errors.As(err, &r) || !errors.Is(err, ErrNotMedia) {
		t.Fatalf("probe of NUT: %v, want not media", err)
	}
	for _, f := range []string{"mov", "matroska", "mpegts", "image2", "png_pipe"} {
		if !strings.Contains(","+FormatWhitelist+",", ","+f+",") {
			t.Errorf("FormatWhitelist lacks %s", f)
		}
	}
}
