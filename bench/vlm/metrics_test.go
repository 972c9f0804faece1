package vlmbench

import (
	"image"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/framewise/framewise/internal/inference/inferencetest"
)

// span is a time interval [S, E) in seconds.
type span struct{ S, E float64 }

// union sorts spans and joins those that overlap or touch.
func union(xs []span) []span {
	ys := append([]span(nil), xs...)
	sort.Slice(ys, func(i, j int) bool { return ys[i].S < ys[j].S })
	var out []span
	for _, x := range ys {
		if x.E <= x.S {
			continue
		}
		if n := len(out); n > 0 && x.S <= out[n-1].E {
			out[n-1].E = math.Max(out[n-1].E, x.E)
			continue
		}
		out = append(out, x)
	}
	return out
}

func length(xs []span) float64 {
	var t float64
	for _, x := range union(xs) {
		t += x.E - x.S
	}
	return t
}

// overlap is the length of the intersection of the unions of a and b.
func overlap(a, b []span) float64 {
	a, b = union(a), union(b)
	var t float64
	for i, j := 0, 0; i < len(a) && j < len(b); {
		if lo, hi := math.Max(a[i].S, b[j].S), math.Min(a[i].E, b[j].E); hi > lo {
			t += hi - lo
		}
		if a[i].E < b[j].E {
			i++
		} else {
			j++
		}
	}
	return t
}

// iou is the temporal intersection over union of the unions of a and b; 1
// when both are empty.
func iou(a, b []span) float64 {
	in := overlap(a, b)
	un := length(a) + length(b) - in
	if un <= 0 {
		return 1
	}
	return in / un
}

// Score is how well predicted segments match the truth of a scene video.
//
//   - IoU: for each definition (one per colour used), the temporal IoU of
//     the union of its predicted segments with the union of the true
//     scenes of that colour; the mean over definitions.
//   - SceneIoU: for each true scene, the best IoU of one predicted segment
//     of its colour with it; the mean over scenes. Unlike IoU it punishes
//     a scene reported in pieces (or glued to its neighbour of the same
//     colour, which cannot happen here: neighbours differ).
//   - Boundary errors: each cut between two scenes is a true boundary of
//     both definitions (the end of one colour, the start of the next); its
//     error is the distance to the nearest predicted segment start or end
//     of that definition (the whole video's length when there is none).
//     Median, 90th percentile, maximum and mean over all such boundaries.
//   - Spurious: predicted boundaries (segment starts and ends inside the
//     video) more than 1 s from every true boundary of their definition:
//     extra cuts, e.g. where window pieces were not merged.
type Score struct {
	IoU, SceneIoU                      float64
	MedianErr, P90Err, MaxErr, MeanErr float64
	Boundaries                         int // true boundaries scored
	Segments, Scenes                   int // predicted segments, true scenes
	Spurious                           int
}

func score(scenes []Scene, pred map[string][]span, dur float64) Score {
	truth := map[string][]span{}
	for _, s := range scenes {
		truth[s.Colour] = append(truth[s.Colour], span{s.Start, s.End})
	}
	var sc Score
	sc.Scenes = len(scenes)
	ids := map[string]bool{}
	for c := range truth {
		ids[c] = true
	}
	for c, p := range pred {
		if len(p) > 0 {
			ids[c] = true
		}
		sc.Segments += len(p)
	}
	for c := range ids {
		sc.IoU += iou(pred[c], truth[c]) / float64(len(ids))
	}
	for _, s := range scenes {
		best := 0.0
		for _, p := range pred[s.Colour] {
			best = math.Max(best, iou([]span{p}, []span{{s.Start, s.End}}))
		}
		sc.SceneIoU += best / float64(len(scenes))
	}
	nearest := func(t float64, xs []float64) float64 {
		d := dur
		for _, x := range xs {
			d = math.Min(d, math.Abs(x-t))
		}
		return d
	}
	edges := func(xs []span) []float64 {
		var out []float64
		for _, x := range xs {
			out = append(out, x.S, x.E)
		}
		return out
	}
	var errs []float64
	for i, s := range scenes {
		pe := edges(pred[s.Colour])
		if i > 0 {
			errs = append(errs, nearest(s.Start, pe))
		}
		if i < len(scenes)-1 {
			errs = append(errs, nearest(s.End, pe))
		}
	}
	for c, p := range pred {
		te := edges(truth[c])
		for _, b := range edges(p) {
			if b > 1e-6 && b < dur-1e-6 && nearest(b, te) > 1 {
				sc.Spurious++
			}
		}
	}
	sort.Float64s(errs)
	sc.Boundaries = len(errs)
	if n := len(errs); n > 0 {
		sc.MedianErr = quantile(errs, 0.5)
		sc.P90Err = quantile(errs, 0.9)
		sc.MaxErr = errs[n-1]
		for _, e := range errs {
			sc.MeanErr += e / float64(n)
		}
	}
	return sc
}

// quantile of sorted xs, linearly interpolated.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	p := q * float64(len(xs)-1)
	i := int(math.Floor(p))
	if i >= len(xs)-1 {
		return xs[len(xs)-1]
	}
	return xs[i] + (p-float64(i))*(xs[i+1]-xs[i])
}

func TestScore(t *testing.T) {
	scenes := []Scene{{Colour: "red", Start: 0, End: 10}, {Colour: "blue", Start: 10, End: 20}, {Colour: "red", Start: 20, End: 30}}
	perfect := map[string][]span{"red": {{0, 10}, {20, 30}}, "blue": {{10, 20}}}
	if s := score(scenes, perfect, 30); s.IoU != 1 || s.SceneIoU != 1 || s.MaxErr != 0 || s.Spurious != 0 || s.Boundaries != 4 {
		t.Fatalf("perfect: %+v", s)
	}
	// Every boundary 1 s late; blue split in two at 15.
	late := map[string][]span{"red": {{0, 11}, {21, 30}}, "blue": {{11, 15}, {15, 21}}}
	s := score(scenes, late, 30)
	if math.Abs(s.MedianErr-1) > 1e-9 || math.Abs(s.MaxErr-1) > 1e-9 || s.Spurious != 2 {
		t.Fatalf("late: %+v", s)
	}
	// red: inter 19, union 21; blue: inter 9, union 11.
	if want := (19.0/21 + 9.0/11) / 2; math.Abs(s.IoU-want) > 1e-9 {
		t.Fatalf("IoU %v, want %v", s.IoU, want)
	}
	// Scene IoU: red 10/11, blue best piece 5/11 (15–21 vs 10–20: 5/11), red 9/10.
	if want := (10.0/11 + 5.0/11 + 0.9) / 3; math.Abs(s.SceneIoU-want) > 1e-9 {
		t.Fatalf("scene IoU %v, want %v", s.SceneIoU, want)
	}
	if got := quantile([]float64{1, 2, 3, 4}, 0.5); got != 2.5 {
		t.Fatalf("quantile %v", got)
	}
}

func TestPlanScenes(t *testing.T) {
	for _, minLuma := range []float64{0, minLumaStep} {
		scenes := planScenes(accuracySeed, minLuma)
		colours := map[string]bool{}
		for i, s := range scenes {
			colours[s.Colour] = true
			if d := s.End - s.Start; d < sceneMin-1e-9 || d > sceneMax+1e-9 {
				t.Errorf("scene %d lasts %v s", i, d)
			}
			if i > 0 {
				p := scenes[i-1]
				if p.Colour == s.Colour || math.Abs(luma(p.Colour)-luma(s.Colour)) < minLuma || p.End != s.Start {
					t.Errorf("scenes %d/%d: %+v %+v", i-1, i, p, s)
				}
			}
		}
		if end := scenes[len(scenes)-1].End; end != sceneTotal || len(scenes) < sceneMinimum || len(colours) < 6 {
			t.Errorf("%d scenes, %d colours, %v s", len(scenes), len(colours), end)
		}
	}
}

func TestPlanNoisy(t *testing.T) {
	// Every colour of the noisy videos is named as meant by the double,
	// plain and under noise stronger than the videos' (uniform ±40 on each
	// of R, G and B), and the colours of a group share a luma.
	r := rand.New(rand.NewPCG(1, 1))
	for g, cs := range append(append([][]isoColour{}, isoGroups...), farColours) {
		for _, c := range cs {
			img := image.NewRGBA(image.Rect(0, 0, 128, 72))
			noisy := image.NewRGBA(img.Rect)
			for i := 0; i < len(img.Pix); i += 4 {
				for k := range 3 {
					img.Pix[i+k] = uint8(c.RGB[k])
					noisy.Pix[i+k] = uint8(min(255, max(0, c.RGB[k]+r.IntN(81)-40)))
				}
				img.Pix[i+3], noisy.Pix[i+3] = 255, 255
			}
			if got, gotNoisy := inferencetest.DominantColour(img), inferencetest.DominantColour(noisy); got != c.Name || gotNoisy != c.Name {
				t.Errorf("%s %s is seen as %s, with noise %s", c.Name, c.hex(), got, gotNoisy)
			}
			if g < len(isoGroups) && math.Abs(c.luma()-cs[0].luma()) >= 6 {
				t.Errorf("%s %s: luma %.1f, its group's first %.1f", c.Name, c.hex(), c.luma(), cs[0].luma())
			}
		}
	}
	scenes := planNoisyScenes(noisySeed)
	iso := 0
	for i, s := range scenes {
		if i > 0 {
			p := scenes[i-1]
			if p.Colour == s.Colour || p.End != s.Start {
				t.Errorf("scenes %d/%d: %+v %+v", i-1, i, p, s)
			}
			if math.Abs(rgbLuma(s)-rgbLuma(p)) < isoLuma {
				iso++
			}
		}
	}
	t.Logf("noisy scenes: %d, %d of %d cuts iso-luminant", len(scenes), iso, len(scenes)-1)
	if end := scenes[len(scenes)-1].End; end != noisyTotal || iso < (len(scenes)-1)/2 || iso == len(scenes)-1 {
		t.Errorf("%d scenes, %d iso-luminant cuts, %v s", len(scenes), iso, end)
	}
	events, truth := planEvents(eventsSeed)
	if len(events) < 5 || len(truth) != 2*len(events)+1 {
		t.Fatalf("%d events, %d truth spans", len(events), len(truth))
	}
	t.Logf("events: %d, %+v", len(events), truth)
	for i, s := range truth {
		if s.End <= s.Start || (i > 0 && truth[i-1].End != s.Start) || (i%2 == 1) != (s.Colour != "gray") {
			t.Errorf("truth %d: %+v", i, s)
		}
	}
}
