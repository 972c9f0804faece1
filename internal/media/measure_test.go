package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Measure tests run the installed ffmpeg on small generated videos
// (320x180 or 640x360, a few seconds).

// shotsVideo is 12 s of three different moving sources, cut at 4 s and 8 s.
func shotsVideo(t *testing.T, audio bool) string {
	t.Helper()
	graph := "testsrc2=s=320x180:r=30:d=4,format=yuv420p[a];" +
		"mandelbrot=s=320x180:r=30,trim=duration=4,format=yuv420p[b];" +
		"testsrc=s=320x180:r=30:d=4,hue=h=120,format=yuv420p[c];" +
		"[a][b][c]concat=n=3[v]"
	args := []string{"-filter_complex", graph, "-map", "[v]"}
	if audio {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=12",
			"-map", "0:a", "-c:a", "aac", "-b:a", "32k")
	}
	return generate(t, "shots.mp4", append(args, x264...)...)
}

// eventsVideo is 12 s: moving 0–3, black 3–5, moving 5–8, still 8–10.5,
// moving 10.5–12; the audio is a 440 Hz tone, silent from 6 to 9 s.
func eventsVideo(t *testing.T) string {
	t.Helper()
	graph := "testsrc2=s=320x180:r=30:d=3,format=yuv420p[a];" +
		"color=c=black:s=320x180:r=30:d=2,format=yuv420p[b];" +
		"mandelbrot=s=320x180:r=30,trim=duration=3,format=yuv420p[c];" +
		"smptebars=s=320x180:r=30:d=2.5,format=yuv420p[d];" +
		"testsrc=s=320x180:r=30:d=1.5,format=yuv420p[e];" +
		"[a][b][c][d][e]concat=n=5[v];" +
		"sine=frequency=440:sample_rate=22050:duration=12,volume=enable='between(t,6,9)':volume=0[s]"
	// crf 23, not x264's 40: at 40 the encoder keeps refining a still
	// picture for a third of a second, which freezedetect rightly sees as
	// change.
	args := []string{"-filter_complex", graph, "-map", "[v]", "-map", "[s]", "-c:a", "aac", "-b:a", "48k",
		"-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-pix_fmt", "yuv420p"}
	return generate(t, "events.mp4", args...)
}

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func assertIntervals(t *testing.T, what string, got []Interval, want ...Interval) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
		return
	}
	for i := range want {
		if !near(got[i].Start, want[i].Start, 0.1) || !near(got[i].End, want[i].End, 0.1) {
			t.Errorf("%s = %v, want %v (±0.1 s)", what, got, want)
			return
		}
	}
}

func measure(t *testing.T, tool *Tool, path string, opts MeasureOptions) *Measurements {
	t.Helper()
	info, err := tool.Probe(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tool.Measure(context.Background(), path, info, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMeasureCuts(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	path := shotsVideo(t, false)
	m := measure(t, tool, path, MeasureOptions{})
	if len(m.Cuts) != 2 || !near(m.Cuts[0].Time, 4, 0.1) || !near(m.Cuts[1].Time, 8, 0.1) {
		t.Fatalf("cuts = %+v, want 4 s and 8 s", m.Cuts)
	}
	for _, c := range m.Cuts {
		if c.Score <= DefaultSceneThreshold || c.Score > 1 {
			t.Errorf("cut score %v out of range", c.Score)
		}
	}
	if m.HasAudio || len(m.Silence) != 0 || len(m.Sound) != 0 || len(m.Volume) != 0 {
		t.Errorf("no audio expected: HasAudio=%v silence=%v sound=%v volume=%d", m.HasAudio, m.Silence, m.Sound, len(m.Volume))
	}
	if _, ok := m.MeanVolume(0, 12); ok {
		t.Error("MeanVolume without audio should not be ok")
	}
	if !m.HasVideo || m.Start != 0 || !near(m.End, 12, 0.05) {
		t.Errorf("window = [%v, %v], video %v", m.Start, m.End, m.HasVideo)
	}
	if len(m.Black) != 0 {
		t.Errorf("black = %v, want none", m.Black)
	}
}

func TestMeasureEvents(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	path := eventsVideo(t)
	m := measure(t, tool, path, MeasureOptions{})
	t.Logf("cuts %+v\nblack %v\nfrozen %v\nsilence %v\nsound %v\nvolume samples %d (step %v)",
		m.Cuts, m.Black, m.Frozen, m.Silence, m.Sound, len(m.Volume), m.VolumeStep)

	assertIntervals(t, "black", m.Black, Interval{3, 5})
	// Black is still too: both the black gap and the bars are frozen.
	assertIntervals(t, "frozen", m.Frozen, Interval{3, 5}, Interval{8, 10.5})
	assertIntervals(t, "silence", m.Silence, Interval{6, 9})
	assertIntervals(t, "sound", m.Sound, Interval{0, 6}, Interval{9, 12})
	if !m.HasAudio {
		t.Error("HasAudio = false")
	}
	var times []float64
	for _, c := range m.Cuts {
		times = append(times, c.Time)
	}
	want := []float64{3, 5, 8, 10.5}
	if len(times) != len(want) {
		t.Fatalf("cut times = %v, want %v", times, want)
	}
	for i := range want {
		if !near(times[i], want[i], 0.1) {
			t.Errorf("cut times = %v, want %v", times, want)
		}
	}

	// The tone is a sine at 1/8 full scale: RMS -21.1 dBFS.
	if db, ok := m.MeanVolume(0.5, 5.5); !ok || !near(db, -21.1, 0.5) {
		t.Errorf("MeanVolume(tone) = %v, %v; want about -21.1 dB", db, ok)
	}
	if db, ok := m.MeanVolume(6.2, 8.8); !ok || db > -90 {
		t.Errorf("MeanVolume(silence) = %v, %v; want very low", db, ok)
	}
	// Half tone, half silence: 3 dB below the tone.
	if db, ok := m.MeanVolume(4, 8); !ok || !near(db, -21.1-3, 0.6) {
		t.Errorf("MeanVolume(half) = %v, %v; want about -24.1 dB", db, ok)
	}
	if n := len(m.Volume); n < 100 || n > 125 || !near(m.VolumeStep, DefaultVolumeStep, 0.01) {
		t.Errorf("volume: %d samples, step %v", n, m.VolumeStep)
	}
}

// A window reports only what lies inside it, in absolute times.
func TestMeasureWindow(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	path := eventsVideo(t)
	m := measure(t, tool, path, MeasureOptions{Start: 3, End: 10})
	t.Logf("cuts %+v\nblack %v\nfrozen %v\nsilence %v\nsound %v", m.Cuts, m.Black, m.Frozen, m.Silence, m.Sound)
	if m.Start != 3 || m.End != 10 {
		t.Errorf("window = [%v, %v], want [3, 10]", m.Start, m.End)
	}
	// The cut at 3 s is the window's first frame, not a cut inside it.
	if len(m.Cuts) != 2 || !near(m.Cuts[0].Time, 5, 0.1) || !near(m.Cuts[1].Time, 8, 0.1) {
		t.Errorf("cuts = %+v, want 5 s and 8 s", m.Cuts)
	}
	assertIntervals(t, "black", m.Black, Interval{3, 5})
	assertIntervals(t, "frozen", m.Frozen, Interval{3, 5}, Interval{8, 10})
	assertIntervals(t, "silence", m.Silence, Interval{6, 9})
	assertIntervals(t, "sound", m.Sound, Interval{3, 6}, Interval{9, 10})
	if len(m.Volume) == 0 || m.Volume[0].Time < 3 || m.Volume[len(m.Volume)-1].Time >= 10 {
		t.Errorf("volume samples span [%v, %v], want within [3, 10)", m.Volume[0].Time, m.Volume[len(m.Volume)-1].Time)
	}
}

// continuousVideo is 60 s of one moving shot at 640x360.
func continuousVideo(t *testing.T) string {
	t.Helper()
	return generate(t, "long.mp4", append([]string{"-f", "lavfi", "-i", "testsrc2=s=640x360:r=30:d=60",
		"-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000:duration=60"}, append(x264, "-c:a", "aac")...)...)
}

// One shot gives no cuts; progress rises to 100; a cancel stops ffmpeg.
func TestMeasureContinuousShot(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	path := continuousVideo(t)
	t.Run("progress", func(t *testing.T) { testProgress(t, tool, path) })
	t.Run("cancel", func(t *testing.T) { testCancel(t, tool, path) })
}

func testProgress(t *testing.T, tool *Tool, path string) {
	var mu sync.Mutex
	var got []float64
	m := measure(t, tool, path, MeasureOptions{Progress: func(p float64) {
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	}})
	if len(m.Cuts) != 0 {
		t.Errorf("a continuous shot gave cuts %+v", m.Cuts)
	}
	if len(m.Black) != 0 || len(m.Frozen) != 0 || len(m.Silence) != 0 {
		t.Errorf("black %v frozen %v silence %v, want none", m.Black, m.Frozen, m.Silence)
	}
	assertIntervals(t, "sound", m.Sound, Interval{0, 60})
	mu.Lock()
	defer mu.Unlock()
	t.Logf("progress: %v", got)
	if len(got) < 2 || got[len(got)-1] != 100 {
		t.Fatalf("progress = %v, want several calls ending at 100", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] || got[i] < 0 {
			t.Fatalf("progress not increasing: %v", got)
		}
	}
}

func testCancel(t *testing.T, tool *Tool, path string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		_, err := tool.Measure(ctx, path, nil, MeasureOptions{Progress: func(float64) { once.Do(func() { close(started) }) }})
		done <- err
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("Measure ended before the first progress report: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no progress report")
	}
	cancel()
	begin := time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if d := time.Since(begin); d > 5*time.Second {
			t.Errorf("Measure returned %v after the cancel", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Measure did not return after the cancel")
	}
}

func TestMeasureRejectsBadOptions(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	path := testVideo(t, "v.mp4", "320x180", "5")
	for _, o := range []MeasureOptions{
		{SilenceNoise: "-40dB,movie=/etc/passwd"},
		{SilenceNoise: "-40dB:d=0"},
		{SceneThreshold: 5},
		{Start: -1},
		{BlackMin: math.NaN()},
		{Start: 4, End: 3},
		{Start: 6},
	} {
		if _, err := tool.Measure(context.Background(), path, nil, o); err == nil {
			t.Errorf("Measure(%+v) accepted", o)
		}
	}
}

func TestMeasureNotMedia(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	whole := testVideo(t, "whole.mp4", "320x180", "5")
	info, err := tool.Probe(context.Background(), whole)
	if err != nil {
		t.Fatal(err)
	}
	// The probed facts of a real video with a path to nothing decodable.
	_, err = tool.Measure(context.Background(), t.TempDir()+"/missing.mp4", info, MeasureOptions{})
	if err == nil {
		t.Fatal("Measure of a missing file succeeded")
	}
}

// Parsing, without ffmpeg.

func TestMeasureParser(t *testing.T) {
	t.Parallel()
	info := &Info{Duration: 20, Video: &VideoStream{FPS: 25}, Audio: &AudioStream{Index: 1, SampleRate: 10000}}
	o, err := MeasureOptions{Start: 10, End: 20}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	p := newMeasureParser(10, 20, info, o)
	if p.nsamples != 1000 || p.step != 0.1 {
		t.Fatalf("volume step = %v (%d samples)", p.step, p.nsamples)
	}
	args := strings.Join(p.args("/x/in.mp4"), " ")
	for _, want := range []string{"-ss 10 -t 10 -skip_loop_filter noref -protocol_whitelist file -format_whitelist " + FormatWhitelist + " -i file:/x/in.mp4", "fps=fps=25:start_time=0 ", "-f rawvideo pipe:3",
		"asetnsamples=n=1000:", "-map 0:1", "-progress pipe:1", "-f null -"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	lines := []string{
		"Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/x/in.mp4':",
		"    title           : [blackdetect @ 0x1] black_start:0 black_end:9", // a metadata value cannot fake a line
		"[blackdetect @ 0x2] black_start:2 black_end:3.5 black_duration:1.5",
		"[freezedetect @ 0x3] lavfi.freezedetect.freeze_start: 4",
		"[freezedetect @ 0x3] lavfi.freezedetect.freeze_duration: 2",
		"[freezedetect @ 0x3] lavfi.freezedetect.freeze_end: 6",
		"[silencedetect @ 0x4] silence_start: -0.01",
		"[silencedetect @ 0x4] silence_end: 1.5 | silence_duration: 1.51",
		"[ametadata@fwvol @ 0x5] frame:0    pts:0       pts_time:0",
		"[ametadata@fwvol @ 0x5] lavfi.astats.Overall.RMS_level=-20",
		"[ametadata@fwvol @ 0x5] frame:1    pts:1000    pts_time:0.1",
		"[ametadata@fwvol @ 0x5] lavfi.astats.Overall.RMS_level=-inf",
		"[freezedetect @ 0x3] lavfi.freezedetect.freeze_start: 8",              // open at the end
		"[silencedetect @ 0x4] silence_start: 9.5",                             // open at the end
		"[blackdetect @ 0x2] black_start:9 black_end:9.96 black_duration:0.96", // ends at the last frame
		"[Parsed_astats_2 @ 0x6] RMS level dB: -inf",
	}
	for _, l := range lines {
		p.stderrLine([]byte(l))
	}
	p.cut(1, 0.33)
	p.cut(1.2, 0.4) // merged: closer than CutMinGap, higher score
	p.cut(3, 0.205)
	p.cut(10, 0.5) // at the window end
	m := p.finish()
	want := []Cut{{11.2, 0.4}, {13, 0.205}}
	if len(m.Cuts) != 2 || !near(m.Cuts[0].Time, want[0].Time, 1e-9) || !near(m.Cuts[0].Score, 0.4, 1e-9) ||
		!near(m.Cuts[1].Time, want[1].Time, 1e-9) || !near(m.Cuts[1].Score, want[1].Score, 1e-9) {
		t.Errorf("cuts = %+v, want %+v", m.Cuts, want)
	}
	eq := func(what string, got, want []Interval) {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	eq("black", m.Black, []Interval{{12, 13.5}, {19, 20}})
	eq("frozen", m.Frozen, []Interval{{14, 16}, {18, 20}})
	eq("silence", m.Silence, []Interval{{10, 11.5}, {19.5, 20}})
	eq("sound", m.Sound, []Interval{{11.5, 19.5}})
	if len(m.Volume) != 2 || m.Volume[0] != (VolumeSample{10, -20}) || m.Volume[1] != (VolumeSample{10.1, VolumeFloorDB}) {
		t.Errorf("volume = %v", m.Volume)
	}
	tail := p.tail.String()
	if !strings.Contains(tail, "Input #0") || !strings.Contains(tail, "RMS level dB") || strings.Contains(tail, "black_start:2") {
		t.Errorf("stderr tail = %q", tail)
	}
}

func TestMeanVolume(t *testing.T) {
	t.Parallel()
	m := &Measurements{Start: 0, End: 1, VolumeStep: 0.25, Volume: []VolumeSample{{0, -10}, {0.25, -10}, {0.5, VolumeFloorDB}, {0.75, -20}}}
	tests := []struct {
		start, end float64
		want       float64
		ok         bool
	}{
		{0, 0.5, -10, true},
		{0.1, 0.2, -10, true},
		{0, 1, 10 * math.Log10((0.1+0.1+0+0.01)/4), true},
		{0.25, 0.75, 10 * math.Log10(0.1/2), true},
		{0.75, 2, -20, true}, // beyond the end: only what lies inside counts
		{1, 2, 0, false},
		{0.5, 0.5, 0, false},
	}
	for _, tt := range tests {
		got, ok := m.MeanVolume(tt.start, tt.end)
		if ok != tt.ok || (ok && !near(got, tt.want, 1e-6)) {
			t.Errorf("MeanVolume(%v, %v) = %v, %v; want %v, %v", tt.start, tt.end, got, ok, tt.want, tt.ok)
		}
	}
	if db, _ := (&Measurements{End: 1, VolumeStep: 1, Volume: []VolumeSample{{0, VolumeFloorDB}}}).MeanVolume(0, 1); db != VolumeFloorDB {
		t.Errorf("silence = %v, want the floor", db)
	}
}

func TestLineWriter(t *testing.T) {
	t.Parallel()
	var got []string
	w := &lineWriter{line: func(b []byte) { got = append(got, string(b)) }}
	long := strings.Repeat("x", maxLine+10)
	for _, chunk := range []string{"a", "bc\nde", "f\r\n", "\n", long[:100], long[100:] + "\ng", "h"} {
		w.Write([]byte(chunk))
	}
	w.flush()
	want := []string{"abc", "def", long[:maxLine], "gh"}
	if len(got) != len(want) {
		t.Fatalf("lines = %d %q, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %.20q (len %d), want %.20q (len %d)", i, got[i], len(got[i]), want[i], len(want[i]))
		}
	}
	if cap(w.buf) > 2*maxLine {
		t.Errorf("buffer grew to %d", cap(w.buf))
	}
}

// texture is a smooth synthetic picture; shift moves it sideways. Its
// chroma is flat, set by seed.
func texture(seed, shift float64) []byte {
	b := make([]byte, thumbSize)
	for i := thumbLuma; i < thumbSize; i++ {
		b[i] = byte(100 + int(seed*10)%50)
	}
	for y := 0; y < thumbH; y++ {
		for x := 0; x < thumbW; x++ {
			fx := float64(x) + shift
			v := 128 + 50*math.Sin(fx*0.25+seed)*math.Cos(float64(y)*0.3+2*seed) + 30*math.Sin((fx+float64(y))*0.11*seed)
			b[y*thumbW+x] = byte(max(0, min(255, v)))
		}
	}
	return b
}

func flat(v byte) []byte {
	b := bytes.Repeat([]byte{128}, thumbSize)
	copy(b, bytes.Repeat([]byte{v}, thumbLuma))
	return b
}

func TestCutDetector(t *testing.T) {
	t.Parallel()
	run := func(frames [][]byte) []int {
		var cuts []int
		d := newCutDetector(30, DefaultSceneThreshold, func(i int, score float64) {
			if score <= DefaultSceneThreshold || score > 1 {
				t.Errorf("frame %d: score %v", i, score)
			}
			cuts = append(cuts, i)
		})
		for _, f := range frames {
			d.push(f)
		}
		d.flush()
		return cuts
	}
	shot := func(seed float64, n int, speed float64) [][]byte {
		var fs [][]byte
		for i := range n {
			fs = append(fs, texture(seed, float64(i)*speed))
		}
		return fs
	}
	cat := func(parts ...[][]byte) [][]byte { return slices.Concat(parts...) }
	if d := fineDistance(texture(1, 0), texture(1, 8)); d < DefaultSceneThreshold*255 {
		t.Fatalf("fast motion distance %v is below the threshold: the test would prove nothing", d)
	}

	const slow = 0.25 // pixels per frame
	tests := []struct {
		name   string
		frames [][]byte
		want   []int
	}{
		{"one shot", shot(1, 60, slow), nil},
		{"hard cut", cat(shot(1, 30, slow), shot(2.5, 30, slow)), []int{30}},
		{"cut at the last frame", cat(shot(1, 30, slow), shot(2.5, 1, slow)), []int{30}},
		{"cut right after the first frame", cat(shot(1, 1, slow), shot(2.5, 30, slow)), []int{1}},
		{"two cuts", cat(shot(1, 20, slow), shot(2.5, 20, slow), shot(6, 20, slow)), []int{20, 40}},
		{"fast steady motion", shot(1, 60, 8), nil},
		{"stutter: moves every other frame", func() [][]byte {
			var fs [][]byte
			for i := range 60 {
				fs = append(fs, texture(1, float64(i/2)*10))
			}
			return fs
		}(), nil},
		{"flash", cat(shot(1, 23, slow)[:20], [][]byte{flat(250), flat(250), flat(250)}, shot(1, 40, slow)[23:]), nil},
		{"strobe", func() [][]byte {
			var fs [][]byte
			for i := range 64 {
				f := texture(1, float64(i)*slow)
				if i/4%2 == 1 {
					for j := range f {
						f[j] = byte(min(255, int(f[j])+90))
					}
				}
				fs = append(fs, f)
			}
			return fs
		}(), nil},
		{"cut to black and back to another shot", cat(shot(1, 20, slow), [][]byte{flat(16), flat(16), flat(16), flat(16), flat(16)}, shot(2.5, 20, slow)), []int{20, 25}},
		{"still then cut", cat(shot(1, 20, 0), shot(2.5, 20, 0)), []int{20}},
	}
	for _, tt := range tests {
		if got := run(tt.frames); !slices.Equal(got, tt.want) {
			t.Errorf("%s: cuts at %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A cut closer to the start of the file than the shortest shot (the end of
// a flash the video opens with) is dropped; near a window's start inside
// the file it is kept, as the window start is no shot boundary.
func TestCutNearFileStart(t *testing.T) {
	t.Parallel()
	info := &Info{Duration: 20, Video: &VideoStream{FPS: 30}}
	for _, tc := range []struct {
		start float64
		want  []float64
	}{
		{0, []float64{1}},
		{10, []float64{10.1, 11}},
	} {
		o, err := MeasureOptions{Start: tc.start}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		p := newMeasureParser(tc.start, 20, info, o)
		p.cut(0.1, 0.4)
		p.cut(1, 0.4)
		var got []float64
		for _, c := range p.cuts {
			got = append(got, c.Time)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("window from %g s: cuts %v, want %v", tc.start, got, tc.want)
		}
	}
}
