package vlm

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/framewise/framewise/internal/inference"
	"github.com/framewise/framewise/internal/segments"
	"github.com/framewise/framewise/internal/task"
)

// Evidence values: how a segment's boundaries were derived. They reach
// clients in the framewise_evidence extension of each segment.
const (
	EvidenceModel       = "model"
	EvidenceSnapped     = "snapped_to_cut"
	EvidenceStartSnaped = "start_snapped_to_cut"
	EvidenceEndSnapped  = "end_snapped_to_cut"
)

// parseWindow reads one window's structured answer: entries outside the
// window or with end ≤ start are dropped, field values are coerced to
// their types and removed when they do not fit; nothing is guessed.
func parseWindow(text string, defs []task.SegmentDefinition, w Window) (map[string][]segments.Segment, error) {
	var raw map[string]json.RawMessage
	doc, err := inference.ExtractJSON(text)
	if err != nil {
		return nil, fmt.Errorf("the model's answer is not a JSON object: %w", err)
	}
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		return nil, fmt.Errorf("the model's answer is not a JSON object: %w", err)
	}
	out := make(map[string][]segments.Segment, len(defs))
	for _, d := range defs {
		var items []map[string]any
		if r, ok := raw[d.ID]; ok && string(r) != "null" {
			if err := json.Unmarshal(r, &items); err != nil {
				return nil, fmt.Errorf("the model's answer for %q is not a list of segments: %w", d.ID, err)
			}
		}
		for _, it := range items {
			start, ok1 := segments.ParseTime(it["start_time"])
			end, ok2 := segments.ParseTime(it["end_time"])
			if !ok1 || !ok2 || end <= start || end <= w.Start || start >= w.End {
				continue
			}
			s := segments.Segment{Start: math.Max(start, w.Start), End: math.Min(end, w.End), Evidence: EvidenceModel}
			for _, f := range d.Fields {
				v, present := it[f.Name]
				if !present {
					continue
				}
				if cv, ok := segments.CoerceField(f, v); ok {
					if s.Metadata == nil {
						s.Metadata = map[string]any{}
					}
					s.Metadata[f.Name] = cv
				}
			}
			out[d.ID] = append(out[d.ID], s)
		}
	}
	return out, nil
}

// instances turns the answers of every call into the instances of one
// definition, as a model reports them: instances seen by one call stay
// distinct even when its imprecise times make them touch or overlap (they
// then meet halfway); only the same instance seen by two calls is merged —
// the two overlap and both contain a frame both calls were sent, or overlap
// by at least half the shorter, or the earlier reaches the end of its call
// and the later begins at the start of its own (each within imprecision).
// The merged instance begins where the
// earlier call saw it begin and ends where the later call saw it end,
// unless that boundary is only the edge of the call's span (the instance
// went on beyond what that call saw).
func instances(pieces []piece, id string, imprecision float64) []segments.Segment {
	type inst struct {
		seg              segments.Segment
		piece            int // the latest call it was seen in
		startOpen        bool
		endOpen          bool
		mergedFromPieces map[int]bool
	}
	var all []*inst
	for pi, p := range pieces {
		segs := append([]segments.Segment(nil), p.Segments[id]...)
		sort.SliceStable(segs, func(i, j int) bool { return segs[i].Start < segs[j].Start })
		segs = separate(segs)
		var added []*inst
		for _, sg := range segs {
			b := &inst{seg: sg, piece: pi, startOpen: sg.Start <= p.Start+imprecision, endOpen: sg.End >= p.End-imprecision}
			var same *inst
			for _, a := range all {
				crosses := a.endOpen && b.startOpen // seen up to one call's edge and from the next one's
				if a.mergedFromPieces[pi] || !(sameInstance(a.seg, sg, pieces[a.piece].Frames, p.Frames) || crosses && a.seg.End > sg.Start) {
					continue
				}
				same = a
				break
			}
			if same == nil {
				b.mergedFromPieces = map[int]bool{pi: true}
				added = append(added, b)
				continue
			}
			a := same
			// The earlier call saw where the instance began, the later one
			// where it ended — unless that boundary was just its edge.
			start, startOpen := a.seg.Start, a.startOpen
			if a.startOpen && sg.Start < a.seg.Start {
				start, startOpen = sg.Start, b.startOpen
			}
			end, endOpen := sg.End, b.endOpen
			if b.endOpen && a.seg.End > sg.End {
				end, endOpen = a.seg.End, a.endOpen
			}
			if sg.Len() > a.seg.Len() {
				a.seg.Metadata = sg.Metadata
			}
			a.seg.Start, a.seg.End, a.startOpen, a.endOpen = start, end, startOpen, endOpen
			a.piece = pi
			a.mergedFromPieces[pi] = true
		}
		all = append(all, added...)
	}
	out := make([]segments.Segment, len(all))
	for i, a := range all {
		out[i] = a.seg
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return separate(out)
}

// sameInstance says whether a and b, seen by two calls sent framesA and
// framesB, are one instance.
func sameInstance(a, b segments.Segment, framesA, framesB []float64) bool {
	lo, hi := math.Max(a.Start, b.Start), math.Min(a.End, b.End)
	if hi <= lo {
		return false
	}
	if hi-lo >= 0.5*math.Min(a.Len(), b.Len()) {
		return true
	}
	for _, f := range framesB {
		if f >= lo-1e-6 && f <= hi+1e-6 && contains(framesA, f) {
			return true
		}
	}
	return false
}

func contains(sorted []float64, t float64) bool {
	i := sort.SearchFloat64s(sorted, t-1e-6)
	return i < len(sorted) && sorted[i] <= t+1e-6
}

// separate makes sorted instances of one definition disjoint without
// losing any: two that overlap meet halfway through their overlap; one that
// lies inside another is the same instance and is dropped.
func separate(segs []segments.Segment) []segments.Segment {
	out := segs[:0]
	for _, s := range segs {
		if n := len(out); n > 0 && s.Start < out[n-1].End {
			last := &out[n-1]
			if s.End <= last.End {
				continue
			}
			mid := (s.Start + last.End) / 2
			last.End, s.Start = mid, mid
		}
		out = append(out, s)
	}
	return out
}

// snapToCuts moves boundaries to the cuts that separate the frames a model
// described from the frames it did not, and records how each segment's
// boundaries were derived. A model places a boundary somewhere between the
// frame before a change and the frame after it, off by up to imprecision
// seconds: so a boundary at t may belong to any cut from the last frame
// sent at or before t−imprecision to the first frame sent at or after
// t+imprecision — and to no cut beyond a frame it saw on the other side
// (with no frame on a side, to any cut on that side).
// Boundaries take their nearest candidate, closest pairs first; a cut takes
// at most one start and one end of a definition, and no segment collapses.
func snapToCuts(segs []segments.Segment, cuts, sent []float64, imprecision float64) {
	type cand struct {
		seg  int
		end  bool
		cut  float64
		dist float64
	}
	var cands []cand
	for i, s := range segs {
		for _, end := range []bool{false, true} {
			t := s.Start
			if end {
				t = s.End
			}
			// No frame on one side (before the first, after the last): the
			// model saw nothing there, so nothing bounds the boundary.
			lo, hi := math.Inf(-1), math.Inf(1)
			if j := sort.SearchFloat64s(sent, t-imprecision+1e-9); j > 0 {
				lo = sent[j-1]
			}
			if j := sort.SearchFloat64s(sent, t+imprecision-1e-9); j < len(sent) {
				hi = sent[j]
			}
			for k := sort.SearchFloat64s(cuts, lo-1e-9); k < len(cuts) && cuts[k] <= hi+1e-9; k++ {
				cands = append(cands, cand{seg: i, end: end, cut: cuts[k], dist: math.Abs(cuts[k] - t)})
			}
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].dist < cands[j].dist })
	startDone, endDone := make([]bool, len(segs)), make([]bool, len(segs))
	startUsed, endUsed := map[float64]bool{}, map[float64]bool{}
	for _, c := range cands {
		s := &segs[c.seg]
		switch {
		case !c.end && !startDone[c.seg] && !startUsed[c.cut] && c.cut < s.End:
			if c.seg > 0 && c.cut < segs[c.seg-1].Start {
				continue
			}
			s.Start, startDone[c.seg], startUsed[c.cut] = c.cut, true, true
		case c.end && !endDone[c.seg] && !endUsed[c.cut] && c.cut > s.Start:
			if c.seg+1 < len(segs) && c.cut > segs[c.seg+1].End {
				continue
			}
			s.End, endDone[c.seg], endUsed[c.cut] = c.cut, true, true
		}
	}
	for i := range segs {
		switch {
		case startDone[i] && endDone[i]:
			segs[i].Evidence = EvidenceSnapped
		case startDone[i]:
			segs[i].Evidence = EvidenceStartSnaped
		case endDone[i]:
			segs[i].Evidence = EvidenceEndSnapped
		default:
			segs[i].Evidence = EvidenceModel
		}
	}
}

// nearest returns the value of sorted xs closest to t, if within tol.
func nearest(xs []float64, t, tol float64) (float64, bool) {
	i := sort.SearchFloat64s(xs, t)
	best, ok := 0.0, false
	for _, j := range []int{i - 1, i} {
		if j >= 0 && j < len(xs) && math.Abs(xs[j]-t) <= tol && (!ok || math.Abs(xs[j]-t) < math.Abs(best-t)) {
			best, ok = xs[j], true
		}
	}
	return best, ok
}

func sortedCopy(xs []float64) []float64 {
	out := append([]float64(nil), xs...)
	sort.Float64s(out)
	return out
}
