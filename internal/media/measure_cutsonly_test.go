package media

import (
	"math"
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
	w := measure(t, tool, path, MeasureOptions{CutsOnly: true, Start: 6, End: 12})
	if len(w.Cuts) != 1 || !near(w.Cuts[0].Time, 8, 0.1) || w.Start != 6 || !near(w.End, 12, 0.05) {
		t.Errorf("window [6, 12): %+v", w)
	}
}
