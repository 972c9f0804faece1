package media

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// colourShotsVideo is 12 s of 320x180 at 25 fps: red, green, blue shots of
// 4 s each, a keyframe every second (GOP 25) and forced at each shot start.
func colourShotsVideo(t *testing.T) string {
	t.Helper()
	src := func(c string) []string {
		return []string{"-f", "lavfi", "-i", "color=c=" + c + ":size=320x180:rate=25:d=4"}
	}
	args := slices.Concat(src("red"), src("green"), src("blue"),
		[]string{"-filter_complex", "[0][1][2]concat=n=3:v=1:a=0"},
		x264, []string{"-g", "25", "-force_key_frames", "0,4,8"})
	return generate(t, "shots.mp4", args...)
}

// dominantColour names the colour of a JPEG: "red", "green", "blue" or "other".
func dominantColour(t *testing.T, b []byte) string {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decoding the JPEG: %v", err)
	}
	var r, g, bl float64
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 4 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 4 {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			r, g, bl = r+float64(c.R), g+float64(c.G), bl+float64(c.B)
		}
	}
	switch m := max(r, g, bl); {
	case m == r && r > 2*g && r > 2*bl:
		return "red"
	case m == g && g > 2*r && g > 2*bl:
		return "green"
	case m == bl && bl > 2*r && bl > 2*g:
		return "blue"
	}
	return "other"
}

func sampleAll(t *testing.T, tool *Tool, path string, times []float64, opts SampleOptions) []Frame {
	t.Helper()
	var got []Frame
	err := tool.SampleAt(context.Background(), path, times, opts, func(f Frame) error {
		got = append(got, f)
		return nil
	})
	if err != nil {
		t.Fatalf("SampleAt(%v, %+v): %v", times, opts, err)
	}
	if len(got) != len(times) {
		t.Fatalf("SampleAt(%v) emitted %d frames, want %d", times, len(got), len(times))
	}
	return got
}

func TestSampleAtShots(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	path := colourShotsVideo(t)
	times := []float64{0.5, 4.2, 9.9}
	want := []string{"red", "green", "blue"}
	keys, err := tool.Keyframes(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		opts SampleOptions
		w, h int
	}{
		{"keyframes", SampleOptions{}, 512, 288},
		{"keyframes small", SampleOptions{Width: 160, Quality: 20}, 160, 90},
		{"exact", SampleOptions{Exact: true}, 512, 288},
		{"exact odd width", SampleOptions{Exact: true, Width: 321}, 320, 180},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sampleAll(t, tool, path, times, tc.opts)
			for i, f := range got {
				if c := dominantColour(t, f.JPEG); c != want[i] {
					t.Errorf("frame %d (%.3f s for %.3f s) is %s, want %s", i, f.Time, times[i], c, want[i])
				}
				if f.Width != tc.w || f.Height != tc.h {
					t.Errorf("frame %d is %dx%d, want %dx%d", i, f.Width, f.Height, tc.w, tc.h)
				}
				if img, err := jpeg.DecodeConfig(bytes.NewReader(f.JPEG)); err != nil || img.Width != f.Width || img.Height != f.Height {
					t.Errorf("frame %d: JPEG says %dx%d (%v), Frame %dx%d", i, img.Width, img.Height, err, f.Width, f.Height)
				}
				d := f.Time - times[i]
				if tc.opts.Exact {
					// The frame at or after the time: 25 fps, so within 0.04 s.
					if d < -SampleTolerance || d > 0.05 {
						t.Errorf("exact frame %d at %.4f s for %.4f s", i, f.Time, times[i])
					}
				} else {
					if d < -SampleTolerance || d > 1 {
						t.Errorf("keyframe %d at %.4f s for %.4f s, want within 1 s after", i, f.Time, times[i])
					}
					if !slices.Contains(keys, f.Time) {
						t.Errorf("frame %d at %.4f s is not a keyframe (%v)", i, f.Time, keys)
					}
				}
			}
			t.Logf("%s: times %.3f %.3f %.3f, %d/%d/%d bytes", tc.name, got[0].Time, got[1].Time, got[2].Time,
				len(got[0].JPEG), len(got[1].JPEG), len(got[2].JPEG))
		})
	}

	t.Run("shot starts", func(t *testing.T) {
		// A shot start lands on its first frame in both modes, also when the
		// time was printed rounded just above it.
		for _, exact := range []bool{false, true} {
			got := sampleAll(t, tool, path, []float64{0, 4.0000004, 8}, SampleOptions{Exact: exact})
			for i, f := range got {
				if f.Time != float64(4*i) || dominantColour(t, f.JPEG) != want[i] {
					t.Errorf("exact=%v: shot %d sampled at %.4f s (%s)", exact, i, f.Time, dominantColour(t, f.JPEG))
				}
			}
		}
	})

	t.Run("duplicates and the end", func(t *testing.T) {
		// Equal times and times on the same keyframe each get the frame;
		// times after the last frame get the last frame (keyframe).
		got := sampleAll(t, tool, path, []float64{4.2, 4.2, 4.7, 11.5, 11.99, 500}, SampleOptions{})
		wantTimes := []float64{5, 5, 5, 11, 11, 11}
		for i, f := range got {
			if f.Time != wantTimes[i] {
				t.Errorf("keyframe mode: time %d at %.4f s, want %g", i, f.Time, wantTimes[i])
			}
		}
		if &got[0].JPEG[0] != &got[2].JPEG[0] {
			t.Error("frames for the same picture do not share their JPEG")
		}
		got = sampleAll(t, tool, path, []float64{11.9, 11.97, 12, 1e6}, SampleOptions{Exact: true})
		wantTimes = []float64{11.92, 11.96, 11.96, 11.96}
		for i, f := range got {
			if math.Abs(f.Time-wantTimes[i]) > 1e-9 || dominantColour(t, f.JPEG) != "blue" {
				t.Errorf("exact mode: time %d at %.4f s (%s), want %g", i, f.Time, dominantColour(t, f.JPEG), wantTimes[i])
			}
		}
	})

	t.Run("keyframes", func(t *testing.T) {
		want := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
		if !slices.Equal(keys, want) {
			t.Errorf("Keyframes = %v, want %v", keys, want)
		}
	})
}

// TestSampleAtSeeks samples far-apart times (several runs, each seeking)
// and many close ones (runs of at most sampleMaxTerms times), and checks
// every frame time against the frame grid.
func TestSampleAtSeeks(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	// 10 fps, keyframes every 2 s.
	path := testVideo(t, "long.mp4", "160x90", "80", "-g", "20")
	var times []float64
	for i := range sampleMaxTerms + 100 { // two runs, the second seeking
		times = append(times, math.Round(float64(i)*0.05*1000)/1000)
	}
	times = append(times, 45.04, 61.55, 79.95)
	if g := sampleGroups(times, true); len(g) != 5 {
		t.Fatalf("expected 5 runs, got %d", len(g))
	}
	for _, exact := range []bool{true, false} {
		got := sampleAll(t, tool, path, times, SampleOptions{Exact: exact, Width: 64})
		for i, f := range got {
			var want float64
			if exact { // the first frame at or after the time, on a 0.1 s grid
				want = math.Ceil(math.Round((times[i]-SampleTolerance)*1e6)/1e5) / 10
			} else { // the first keyframe at or after it, on a 2 s grid
				want = math.Ceil(math.Round((times[i]-SampleTolerance)*1e6)/2e6) * 2
			}
			want = min(want, map[bool]float64{true: 79.9, false: 78}[exact])
			if math.Abs(f.Time-want) > 1e-6 {
				t.Errorf("exact=%v: %g s sampled at %.4f s, want %g", exact, times[i], f.Time, want)
			}
		}
	}
}

func TestSampleAtDisplayAspect(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	plain := testVideo(t, "plain.mp4", "320x180", "2")
	rotated := generate(t, "rotated.mp4", "-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=90")
	anamorphic := testVideo(t, "sar.mp4", "320x180", "2", "-vf", "setsar=2")
	for _, tc := range []struct {
		path string
		w, h int
	}{
		{rotated, 100, 178}, // 180x320 displayed
		{anamorphic, 100, 28},
	} {
		got := sampleAll(t, tool, tc.path, []float64{1}, SampleOptions{Width: 100})
		if got[0].Width != tc.w || got[0].Height != tc.h {
			t.Errorf("%s: %dx%d, want %dx%d", filepath.Base(tc.path), got[0].Width, got[0].Height, tc.w, tc.h)
		}
	}
}

// ffmpegChildren lists the ffmpeg processes whose parent is this test.
func ffmpegChildren(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	me := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || !bytes.Contains(stat[:i], []byte("(ffmpeg")) {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(me) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// childrenCPU is the user+system CPU time of this process's reaped children.
func childrenCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Not parallel: it counts this process's ffmpeg children, and parallel
// tests only start once the sequential ones are done.
func TestSampleAtStopsEarly(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	tool := newTool(t)
	path := testVideo(t, "long.mp4", "640x360", "120")
	var times []float64
	for v := 0.0; v < 120; v += 0.5 {
		times = append(times, v)
	}
	errStop := errors.New("enough")

	t.Run("emit error", func(t *testing.T) {
		n := 0
		start := time.Now()
		err := tool.SampleAt(context.Background(), path, times, SampleOptions{Exact: true}, func(f Frame) error {
			n++
			if n == 2 {
				if len(ffmpegChildren(t)) == 0 {
					t.Error("no ffmpeg running while frames are emitted")
				}
				return errStop
			}
			return nil
		})
		if !errors.Is(err, errStop) || n != 2 {
			t.Fatalf("SampleAt = %v after %d frames, want the emit error after 2", err, n)
		}
		if pids := ffmpegChildren(t); len(pids) > 0 {
			t.Errorf("ffmpeg still running after SampleAt returned: %v", pids)
		}
		t.Logf("stopped after %v", time.Since(start))
	})

	t.Run("context canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		n := 0
		err := tool.SampleAt(ctx, path, times, SampleOptions{Exact: true}, func(f Frame) error {
			n++
			if n == 3 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("SampleAt = %v, want context.Canceled", err)
		}
		if pids := ffmpegChildren(t); len(pids) > 0 {
			t.Errorf("ffmpeg still running after SampleAt returned: %v", pids)
		}
		err = tool.SampleAt(ctx, path, times, SampleOptions{}, func(Frame) error { return nil })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("SampleAt with a canceled context = %v", err)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := tool.SampleAt(ctx, path, times, SampleOptions{Exact: true}, func(Frame) error { return nil })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("SampleAt = %v, want context.DeadlineExceeded", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("SampleAt took %v to stop", took)
		}
		if pids := ffmpegChildren(t); len(pids) > 0 {
			t.Errorf("ffmpeg still running after SampleAt returned: %v", pids)
		}
	})

	t.Run("single frame does not decode to the end", func(t *testing.T) {
		// The run must stop as soon as its last picture is out: an encoder
		// that holds pictures back (frame threads) would make FFmpeg
		// decode the whole rest of the file first. Judged on the CPU time
		// of the FFmpeg processes, not on wall time, which a loaded
		// machine stretches (this test is not parallel, so every child
		// this process reaps meanwhile is ours), against both outcomes
		// measured in the same run: FFmpeg taking one frame at 1 s, and
		// FFmpeg decoding the whole file.
		long := testVideo(t, "long600.mp4", "320x180", "600")
		cpu := func(args ...string) time.Duration {
			cmd := exec.Command("ffmpeg", append([]string{"-nostdin", "-v", "error"}, args...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
			}
			return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
		full := cpu("-i", long, "-f", "null", "-")
		first := cpu("-ss", "1", "-i", long, "-frames:v", "1", "-f", "null", "-")
		before := childrenCPU(t)
		got := sampleAll(t, tool, long, []float64{1}, SampleOptions{Exact: true})
		one := childrenCPU(t) - before
		t.Logf("SampleAt one frame: %v CPU; ffmpeg one frame: %v; whole file: %v", one, first, full)
		if got[0].Time != 1 || one <= 0 || one > (first+full)/2 {
			t.Errorf("one frame at 1 s cost %v of FFmpeg CPU (frame at %.3f s): nearer decoding the whole file (%v) than taking one frame (%v)",
				one, got[0].Time, full, first)
		}
	})

	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("files left in TMPDIR: %v", names)
	}
}

func TestSampleAtRejects(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	path := testVideo(t, "v.mp4", "160x90", "2")
	none := func(Frame) error { return nil }
	for _, tc := range []struct {
		times []float64
		opts  SampleOptions
		want  string
	}{
		{[]float64{1, 0.5}, SampleOptions{}, "not in order"},
		{[]float64{-1}, SampleOptions{}, "invalid time"},
		{[]float64{math.NaN()}, SampleOptions{}, "invalid time"},
		{[]float64{1}, SampleOptions{Width: 8}, "width"},
		{[]float64{1}, SampleOptions{Quality: 40}, "quality"},
	} {
		err := tool.SampleAt(context.Background(), path, tc.times, tc.opts, none)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SampleAt(%v, %+v) = %v, want %q", tc.times, tc.opts, err, tc.want)
		}
	}
	if err := tool.SampleAt(context.Background(), path, nil, SampleOptions{}, none); err != nil {
		t.Errorf("no times: %v", err)
	}
	audioOnly := generate(t, "tone.m4a", "-f", "lavfi", "-i", "sine=duration=3:sample_rate=8000", "-c:a", "aac", "-b:a", "16k")
	err := tool.SampleAt(context.Background(), audioOnly, []float64{1}, SampleOptions{}, none)
	var te *ToolError
	if err == nil || !strings.Contains(err.Error(), "no video stream") || !errors.As(err, &te) {
		t.Errorf("audio only: %v", err)
	}
	if _, err := tool.Keyframes(context.Background(), audioOnly); err == nil || !strings.Contains(err.Error(), "no video stream") {
		t.Errorf("Keyframes of audio only: %v", err)
	}
	err = tool.SampleAt(context.Background(), filepath.Join(t.TempDir(), "missing.mp4"), []float64{1}, SampleOptions{}, none)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestKeyframesStartTime(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	// MPEG-TS starts at 1.4 s; times count from the file start.
	path := testVideo(t, "v.ts", "160x90", "6", "-g", "20")
	keys, err := tool.Keyframes(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{0, 2, 4}; !slices.Equal(keys, want) {
		t.Errorf("Keyframes = %v, want %v", keys, want)
	}
	got := sampleAll(t, tool, path, []float64{0, 1.5, 3.05}, SampleOptions{Width: 64, Exact: true})
	for i, want := range []float64{0, 1.5, 3.1} {
		if math.Abs(got[i].Time-want) > 1e-6 {
			t.Errorf("frame %d at %.4f s, want %g", i, got[i].Time, want)
		}
	}
}

func TestSampleGroups(t *testing.T) {
	times := []float64{0, 1, 1, 2, 20, 21, 200}
	got := sampleGroups(times, true)
	want := [][]float64{{0, 1, 1, 2}, {20, 21}, {200}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("exact: %v, want %v", got, want)
	}
	if got := sampleGroups(times, false); !slices.EqualFunc(got, [][]float64{{0, 1, 1, 2, 20, 21}, {200}}, slices.Equal) {
		t.Errorf("keyframes: %v", got)
	}
	var many []float64
	for i := range 3*sampleMaxTerms + 5 {
		many = append(many, float64(i/2)) // each time twice
	}
	groups := sampleGroups(many, true)
	n := 0
	for _, g := range groups {
		n += len(g)
		if d := len(slices.Compact(slices.Clone(g))); d > sampleMaxTerms {
			t.Errorf("a run has %d distinct times", d)
		}
	}
	if n != len(many) || len(groups) != 2 {
		t.Errorf("%d runs with %d times, want 2 runs with %d", len(groups), n, len(many))
	}
}

func encodeTestJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = byte(i * 7)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReadJPEG(t *testing.T) {
	a := encodeTestJPEG(t, 33, 17)
	b := encodeTestJPEG(t, 8, 500)
	// A comment segment holding an EOI marker and 0xFF bytes, then fill
	// bytes before the next marker: neither may end the image.
	trick := slices.Concat(b[:2], []byte{0xFF, 0xFE, 0x00, 0x08, 0xFF, 0xD9, 0xFF, 0x00, 0xFF, 0xD9, 0xFF, 0xFF}, b[2:])
	stream := slices.Concat(a, trick, a)
	r := bufio.NewReaderSize(bytes.NewReader(stream), 16)
	for i, want := range [][]byte{a, trick, a} {
		img, w, h, err := readJPEG(r, 0)
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		wantCfg, _ := jpeg.DecodeConfig(bytes.NewReader(want))
		if w != wantCfg.Width || h != wantCfg.Height {
			t.Errorf("image %d: %dx%d, want %dx%d", i, w, h, wantCfg.Width, wantCfg.Height)
		}
		// Fill bytes collapse to one 0xFF; otherwise the image is unchanged.
		if i == 1 {
			want = slices.Concat(b[:2], []byte{0xFF, 0xFE, 0x00, 0x08, 0xFF, 0xD9, 0xFF, 0x00, 0xFF, 0xD9}, b[2:])
		}
		if !bytes.Equal(img, want) {
			t.Errorf("image %d: %d bytes differ from the %d written", i, len(img), len(want))
		}
	}
	if _, _, _, err := readJPEG(r, 0); err != io.EOF {
		t.Errorf("after the last image: %v, want io.EOF", err)
	}
	for _, cut := range []int{1, 2, 10, len(a) / 2, len(a) - 1} {
		_, _, _, err := readJPEG(bufio.NewReader(bytes.NewReader(a[:cut])), 0)
		if err == nil || err == io.EOF {
			t.Errorf("image cut at %d: %v, want an error", cut, err)
		}
	}
	if _, _, _, err := readJPEG(bufio.NewReader(strings.NewReader("not a jpeg")), 0); err == nil || err == io.EOF {
		t.Errorf("garbage: %v", err)
	}
}

func TestShowinfoLog(t *testing.T) {
	l := newShowinfoLog()
	log := "Input #0, mov,mp4, from 'file:x.mp4':\n" +
		"  Metadata:\n" +
		"    comment         : [Parsed_showinfo_3 @ 0x1] n:   0 pts:   999 pts_time:1\n" +
		"[Parsed_showinfo_3 @ 0x55] config in time_base: 1/12800, frame_rate: 25/1\r\n" +
		"[Parsed_showinfo_3 @ 0x55] config out time_base: 0/0, frame_rate: 0/0\n" +
		"[Parsed_showinfo_3 @ 0x55] n:   0 pts:  64000 pts_time:5       pos:     3003 fmt:yuvj420p\n" +
		"[Parsed_showinfo_3 @ 0x55] color_range:pc color_space:unknown\n" +
		"[swscaler @ 0x1] deprecated pixel format used, make sure you did set range correctly\n" +
		"[Parsed_showinfo_3 @ 0x55] n:   1 pts:NOPTS pts_time:NOPTS\n" +
		"[Parsed_showinfo_3 @ 0x55] n:   2 pts:92160000 pts_time:7200\n" +
		"Error while decoding"
	for _, chunk := range []string{log[:50], log[50:51], log[51:]} {
		l.Write([]byte(chunk))
	}
	l.Write([]byte("\n"))
	ctx := context.Background()
	for _, want := range []float64{5, math.NaN(), 7200} {
		got, ok := l.next(ctx)
		if !ok || !(got == want || math.IsNaN(got) && math.IsNaN(want)) {
			t.Errorf("next = %v, %v; want %v", got, ok, want)
		}
	}
	l.close()
	if _, ok := l.next(ctx); ok {
		t.Error("a time after the last")
	}
	tail := l.tail()
	if strings.Contains(tail, "showinfo_3 @ 0x55") || strings.Contains(tail, "deprecated") ||
		!strings.Contains(tail, "Error while decoding") || !strings.Contains(tail, "comment") {
		t.Errorf("tail = %q", tail)
	}
}
