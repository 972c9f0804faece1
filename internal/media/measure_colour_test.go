package media

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// isoColours are colours of the same BT.601 luma (110 ± 0.5: grey plus a
// colour direction of zero luma), so that only the chroma tells them apart;
// half saturated (halfway between grey and the most saturated colour of
// that luma), so that the coarse distance sees a sixth of a change that is
// already moderate: below the threshold.
var isoColours = []struct {
	name    string
	r, g, b int
}{
	{"grey", 110, 110, 110},
	{"red", 170, 85, 85},    // 230, 59, 59 at full saturation
	{"green", 68, 140, 68},  // 25, 170, 25
	{"blue", 101, 101, 183}, // 91, 91, 255
	{"magenta", 170, 68, 170},
	{"cyan", 63, 130, 130},
}

func TestIsoColoursHaveOneLuma(t *testing.T) {
	for _, c := range isoColours {
		if y := 0.299*float64(c.r) + 0.587*float64(c.g) + 0.114*float64(c.b); math.Abs(y-110) > 0.5 {
			t.Errorf("%s: luma %.2f", c.name, y)
		}
	}
}

// TestMeasureIsoLuminantCutsInNoise: a 15 s 320x180 clip of solid colours
// of the same luma under temporal sensor noise (every frame differs, luma
// and chroma), x264 veryfast with its default GOP: every cut is found
// (±0.1 s) and nothing else.
func TestMeasureIsoLuminantCutsInNoise(t *testing.T) {
	t.Parallel()
	order := []int{0, 1, 2, 3, 0, 4, 5, 1, 3, 2, 0}              // grey red green blue grey magenta cyan red blue green grey
	frames := []int{36, 24, 45, 30, 27, 33, 24, 39, 30, 12, 150} // 30 fps: 15 s
	var graph strings.Builder
	var want []float64
	at := 0
	for i, k := range order {
		c := isoColours[k]
		fmt.Fprintf(&graph, "color=c=0x%02X%02X%02X:s=320x180:r=30,trim=end_frame=%d,setpts=PTS-STARTPTS[s%d];", c.r, c.g, c.b, frames[i], i)
		if i > 0 {
			want = append(want, float64(at)/30)
		}
		at += frames[i]
	}
	for i := range order {
		fmt.Fprintf(&graph, "[s%d]", i)
	}
	fmt.Fprintf(&graph, "concat=n=%d:v=1:a=0,noise=alls=20:allf=t+u,format=yuv420p[v]", len(order))
	path := generate(t, "iso-noise.mp4", "-filter_complex", graph.String(), "-map", "[v]",
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", "250", "-pix_fmt", "yuv420p")
	tool := newTool(t)
	for _, cutsOnly := range []bool{false, true} {
		m := measure(t, tool, path, MeasureOptions{CutsOnly: cutsOnly})
		var got []float64
		for _, c := range m.Cuts {
			got = append(got, c.Time)
		}
		ok := len(got) == len(want)
		for i := 0; ok && i < len(want); i++ {
			ok = near(got[i], want[i], 0.1)
		}
		if !ok {
			t.Errorf("cuts only %v: cuts at %.3f, want %.3f", cutsOnly, got, want)
		}
	}
}

// noisyFlat is a flat thumbnail of luma y and chroma u, v with uniform
// noise of ±amp on every sample.
func noisyFlat(r *rand.Rand, y, u, v byte, amp int) []byte {
	b := make([]byte, thumbSize)
	for i := range b {
		base := int(y)
		switch {
		case i >= thumbLuma+thumbChromaW*thumbChromaH:
			base = int(v)
		case i >= thumbLuma:
			base = int(u)
		}
		b[i] = byte(min(255, max(0, base+r.IntN(2*amp+1)-amp)))
	}
	return b
}

// slide is a flat thumbnail of luma y and chroma u, v with a box of chroma
// bu, bv (the same luma) from chroma column x on, and noise of ±1 on
// every sample: a fine distance of about 0.9 between frames, the level of
// real noisy footage in 64x36 thumbnails.
func slide(r *rand.Rand, u, v, bu, bv byte, x int) []byte {
	b := noisyFlat(r, 110, u, v, 1)
	for y := range thumbChromaH {
		for cx := max(0, x); cx < thumbChromaW; cx++ {
			b[thumbLuma+y*thumbChromaW+cx] = bu
			b[thumbLuma+thumbChromaW*thumbChromaH+y*thumbChromaW+cx] = bv
		}
	}
	return b
}

// The detector alone: a change of colour at the same luma, in noise, is a
// cut; the same colour flashing for two frames is not, nor a box of
// another colour of the same luma sliding in over 12 frames.
func TestCutDetectorColourInNoise(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	scene := func(n int, u, v byte) [][]byte {
		var fs [][]byte
		for range n {
			fs = append(fs, noisyFlat(r, 110, u, v, 12))
		}
		return fs
	}
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
	if d := fineDistance(noisyFlat(r, 110, 90, 160, 12), noisyFlat(r, 110, 160, 90, 12)); d < 5 {
		t.Fatalf("noise distance %v: the test would prove nothing", d)
	}
	for _, tt := range []struct {
		name   string
		frames [][]byte
		want   []int
	}{
		{"colour cut", slices.Concat(scene(30, 90, 160), scene(30, 160, 90)), []int{30}},
		{"two colour cuts", slices.Concat(scene(20, 90, 160), scene(20, 160, 90), scene(20, 128, 128)), []int{20, 40}},
		{"colour flash", slices.Concat(scene(20, 90, 160), scene(2, 160, 90), scene(20, 90, 160)), nil},
		{"noise alone", scene(60, 128, 128), nil},
		{"a box of the same luma slides in", func() [][]byte {
			var fs [][]byte
			for i := range 60 {
				x := thumbChromaW // outside
				if i >= 20 {
					x = max(3, thumbChromaW-(i-19)*5/2) // 2.5 chroma columns a frame, up to 90 %
				}
				fs = append(fs, slide(r, 128, 128, 228, 28, x))
			}
			return fs
		}(), nil},
	} {
		if got := run(tt.frames); !slices.Equal(got, tt.want) {
			t.Errorf("%s: cuts at %v, want %v", tt.name, got, tt.want)
		}
	}
}
