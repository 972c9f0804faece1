package media

import (
	"bytes"
	"context"
	"image/jpeg"
	"math"
	"reflect"
	"testing"
)

// CutsOnly finds the same cuts as a full measurement, and nothing else.
func TestMeasureCutsOnly(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	// Three different moving shots, cut at 4 s and 8 s, with a tone.
	graph := "testsrc2=s=320x180:r=30:d=4,format=yuv420p[a];" +
		"mandelbrot=s=320x180:r=30,trim=duration=4,format=yuv420p[b];" +
		"testsrc=s=320x180:r=30:d=4,hue=h=120,format=yuv420p[c];" +
		"[a][b][c]concat=n=3[v];sine=frequency=440:sample_rate=22050:duration=12[s]"
	path := generate(t, "shots-audio.mp4", append([]string{"-filter_complex", graph, "-map", "[v]", "-map", "[s]",
		"-c:a", "aac", "-b:a", "32k"}, x264...)...)
	full := measure(t, tool, path, MeasureOptions{})
	m := measure(t, tool, path, MeasureOptions{CutsOnly: true})
	if len(m.Cuts) != 2 || len(m.Cuts) != len(full.Cuts) {
		t.Fatalf("cuts only = %+v, full = %+v, want 4 s and 8 s", m.Cuts, full.Cuts)
	}
	for i, c := range m.Cuts {
		if math.Abs(c.Time-full.Cuts[i].Time) > 1e-9 || c.Score <= DefaultSceneThreshold {
			t.Errorf("cut %d = %+v, full measurement %+v", i, c, full.Cuts[i])
		}
	}
	if !m.HasAudio || !m.HasVideo || len(m.Silence)+len(m.Sound)+len(m.Volume)+len(m.Black)+len(m.Frozen) != 0 {
		t.Errorf("cuts only measured more: %+v", m)
	}
	// Scene-change candidates: a frame on each cut, few others (the shots
	// move all the time), and the cuts unchanged.
	sc := measure(t, tool, path, MeasureOptions{CutsOnly: true, SceneFrames: 0.05, Frame: SampleOptions{Width: 160}})
	for _, c := range m.Cuts {
		found := false
		for _, f := range sc.Frames {
			found = found || math.Abs(f.Time-c.Time) < 0.5/30
		}
		if !found {
			t.Errorf("no scene candidate on the cut at %.3f s: %v", c.Time, frameTimes(sc.Frames))
		}
	}
	if len(sc.Frames) > 6 || !reflect.DeepEqual(sc.Cuts, m.Cuts) {
		t.Errorf("scene candidates %v, cuts %+v (want about one per cut, cuts %+v)", frameTimes(sc.Frames), sc.Cuts, m.Cuts)
	}
	w := measure(t, tool, path, MeasureOptions{CutsOnly: true, Start: 6, End: 12})
	if len(w.Cuts) != 1 || !near(w.Cuts[0].Time, 8, 0.1) || w.Start != 6 || !near(w.End, 12, 0.05) {
		t.Errorf("window [6, 12): %+v", w)
	}
}

// Pictures asked of Measure are the frames SampleAt picks with Exact, at
// the same size, and asking for them changes no measurement.
func TestMeasureFrames(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	// A running clock (testsrc2) at 25 fps, so that each frame differs.
	path := generate(t, "frames-clock.mp4", append([]string{"-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=12",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=12", "-c:a", "aac", "-b:a", "32k"}, x264...)...)
	for _, tc := range []struct {
		name       string
		start, end float64
		times      []float64
		cutsOnly   bool
	}{
		{"whole file", 0, 0, []float64{0, 0.5, 0.52, 0.53, 3.999, 7.25, 11.9}, true},
		{"window", 4.3, 9.7, []float64{4.3, 5, 6.02, 9.6}, true},
		{"full measurement", 2, 10, []float64{2.5, 8}, false},
	} {
		opts := MeasureOptions{Start: tc.start, End: tc.end, CutsOnly: tc.cutsOnly}
		plain := measure(t, tool, path, opts)
		opts.FrameTimes, opts.Frame = tc.times, SampleOptions{Width: 160}
		m := measure(t, tool, path, opts)
		var want []Frame
		err := tool.SampleAt(context.Background(), path, tc.times, SampleOptions{Width: 160, Exact: true}, func(f Frame) error {
			if n := len(want); n == 0 || f.Time > want[n-1].Time {
				want = append(want, f)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Frames) != len(want) {
			t.Fatalf("%s: %d pictures, want %d (SampleAt): %v", tc.name, len(m.Frames), len(want), frameTimes(m.Frames))
		}
		for i, f := range m.Frames {
			w := want[i]
			if math.Abs(f.Time-w.Time) > 1e-3 || f.Width != w.Width || f.Height != w.Height {
				t.Errorf("%s: picture %d at %.3f s %dx%d, SampleAt %.3f s %dx%d", tc.name, i, f.Time, f.Width, f.Height, w.Time, w.Width, w.Height)
			}
			if _, err := jpeg.Decode(bytes.NewReader(f.JPEG)); err != nil {
				t.Errorf("%s: picture %d: %v", tc.name, i, err)
			}
		}
		m.Frames = nil
		if !reflect.DeepEqual(m, plain) {
			t.Errorf("%s: measurements changed by asking for pictures:\n%+v\n%+v", tc.name, m, plain)
		}
	}
	if _, err := tool.Measure(context.Background(), path, nil, MeasureOptions{Start: 2, FrameTimes: []float64{1}}); err == nil {
		t.Error("a time before the window was accepted")
	}
}

func frameTimes(fs []Frame) []float64 {
	var out []float64
	for _, f := range fs {
		out = append(out, f.Time)
	}
	return out
}
