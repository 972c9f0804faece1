package vlm

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"

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
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
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

// mergeWindows joins the segments of one definition found by several
// windows: segments that overlap (as the same segment seen by two
// overlapping windows does) become one, keeping the metadata of the longer.
func mergeWindows(segs []segments.Segment) []segments.Segment {
	sort.Slice(segs, func(i, j int) bool { return segs[i].Start < segs[j].Start })
	var out []segments.Segment
	for _, s := range segs {
		if n := len(out); n > 0 && s.Start < out[n-1].End-1e-9 {
			last := &out[n-1]
			if s.End-s.Start > last.End-last.Start {
				last.Metadata = s.Metadata
			}
			last.End = math.Max(last.End, s.End)
			continue
		}
		out = append(out, s)
	}
	return out
}

// snapToCuts moves each boundary to the nearest detected cut within tol
// seconds and records how the boundaries were derived. A segment may not
// collapse: a boundary that would make it empty stays where it was.
func snapToCuts(segs []segments.Segment, cuts []float64, tol float64) {
	for i := range segs {
		s := &segs[i]
		startSnapped, endSnapped := false, false
		if c, ok := nearest(cuts, s.Start, tol); ok && c < s.End {
			s.Start, startSnapped = c, true
		}
		if c, ok := nearest(cuts, s.End, tol); ok && c > s.Start {
			s.End, endSnapped = c, true
		}
		switch {
		case startSnapped && endSnapped:
			s.Evidence = EvidenceSnapped
		case startSnapped:
			s.Evidence = EvidenceStartSnaped
		case endSnapped:
			s.Evidence = EvidenceEndSnapped
		default:
			s.Evidence = EvidenceModel
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
