// Package segments holds the pure algorithms every analysis engine shares in
// time_based_metadata mode (spec §6): the segment rules of a request (window,
// time_ranges, min/max_segment_duration), applied to the raw segments an
// engine found, and the rendering of the result.data document with its time
// formats and typed custom fields.
//
// It imports only the standard library and the domain types of
// internal/task. Nothing here does I/O; every function is deterministic.
package segments

import (
	"container/heap"
	"maps"
	"math"
	"slices"

	"github.com/framewise/framewise/internal/task"
)

// TouchGap is the largest gap, in seconds, between two segments of one
// definition for them to count as adjacent when a segment shorter than
// min_segment_duration is merged into a neighbour. The merged segment
// covers the gap.
const TouchGap = 0.05

// Tolerance absorbs floating-point error in the length comparisons of Apply:
// a segment is short when its length < MinDuration−Tolerance and long when
// its length > MaxDuration+Tolerance.
const Tolerance = 1e-9

// Segment is one found segment of a definition, in absolute seconds of the
// source video.
type Segment struct {
	Start, End float64
	// Metadata holds the custom field values by field name. Render coerces
	// them to the field types (CoerceField), so raw model values are fine.
	Metadata map[string]any
	// Evidence (framewise extension) says how the boundaries were derived,
	// e.g. "measured", "model", "snapped_to_cut". It may be empty.
	Evidence string
}

// Len is the length of s in seconds.
func (s Segment) Len() float64 { return s.End - s.Start }

// Span is a time interval [Start, End] in absolute seconds.
type Span struct {
	Start, End float64
}

// Rules are the shared segment rules of one request. The zero Rules applies
// no window, no duration limits and the default time format (seconds).
type Rules struct {
	// WindowStart and WindowEnd bound every segment: start_time and
	// end_time of the request, defaulting to 0 and the video duration.
	// WindowEnd ≤ 0 or NaN means no upper bound; a NaN WindowStart means 0.
	WindowStart, WindowEnd float64
	// MinDuration and MaxDuration are min_segment_duration and
	// max_segment_duration; a value ≤ 0 or NaN means unset.
	MinDuration, MaxDuration float64
	// TimeFormat is segment_time_format: "" or "seconds", "hh:mm:ss",
	// "hh:mm:ss.fff". It affects only the start_time/end_time of Render.
	TimeFormat string
}

// RulesFor derives the Rules of a validated spec for a video of the given
// duration in seconds. An unset start_time is 0; an unset end_time is the
// duration. An end_time beyond a known duration is cut to the duration. A
// duration ≤ 0 or NaN means unknown: the window then has no upper bound
// unless end_time is set.
func RulesFor(spec task.Spec, duration float64) Rules {
	known := duration > 0 && !math.IsNaN(duration)
	r := Rules{WindowStart: 0, WindowEnd: math.Inf(1)}
	if known {
		r.WindowEnd = duration
	}
	if spec.StartTime != nil {
		r.WindowStart = *spec.StartTime
	}
	if spec.EndTime != nil && (!known || *spec.EndTime < duration) {
		r.WindowEnd = *spec.EndTime
	}
	if spec.MinSegmentDuration != nil {
		r.MinDuration = *spec.MinSegmentDuration
	}
	if spec.MaxSegmentDuration != nil {
		r.MaxDuration = *spec.MaxSegmentDuration
	}
	if spec.ResponseFormat != nil {
		r.TimeFormat = spec.ResponseFormat.SegmentTimeFormat
	}
	return r
}

func (r Rules) window() (float64, float64) {
	ws, we := r.WindowStart, r.WindowEnd
	if math.IsNaN(ws) {
		ws = 0
	}
	if math.IsNaN(we) || we <= 0 {
		we = math.Inf(1)
	}
	return ws, we
}

func (r Rules) min() float64 {
	if r.MinDuration > 0 {
		return r.MinDuration
	}
	return 0
}

func (r Rules) max() float64 {
	if r.MaxDuration > 0 {
		return r.MaxDuration
	}
	return 0
}

// Allowed returns where segments of def may lie: the window of r, intersected
// with the definition's time_ranges when it has any. The spans are sorted and
// disjoint with a positive gap between them: time ranges that overlap or
// touch (share an endpoint) are merged into one span, so a segment crossing
// a shared endpoint is not split. Ranges with NaN bounds or End ≤ Start are
// ignored. A definition whose time_ranges all fall outside the window gets
// no spans at all (not the whole window). The result may be empty.
func Allowed(def task.SegmentDefinition, r Rules) []Span {
	ws, we := r.window()
	if len(def.TimeRanges) == 0 {
		if we > ws {
			return []Span{{ws, we}}
		}
		return nil
	}
	var spans []Span
	for _, tr := range def.TimeRanges {
		s, e := max(tr.StartTime, ws), min(tr.EndTime, we)
		if e > s { // false for NaN
			spans = append(spans, Span{s, e})
		}
	}
	slices.SortFunc(spans, func(a, b Span) int { return cmpFloat(a.Start, b.Start) })
	out := spans[:0]
	for _, sp := range spans {
		if n := len(out); n > 0 && sp.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, sp.End)
			continue
		}
		out = append(out, sp)
	}
	return out
}

// piece is a segment clamped into one allowed span.
type piece struct {
	Segment
	span int // index into the Allowed spans
}

// Apply applies the rules of r to the segments one engine found for def and
// returns the segments to report. It does not modify segs or their maps.
// The steps, in order:
//
//  1. Clamp: every segment is intersected with the Allowed spans (window ∩
//     time_ranges). A segment spanning a gap between two ranges is split at
//     the gap into one part per range (metadata shared); parts outside are
//     dropped. Start/End may be ±Inf (clamped); NaN drops the segment.
//  2. Drop every part with End ≤ Start.
//  3. Sort by start, then end.
//  4. Merge overlaps: a segment starting before the previous one ends
//     (strictly) is merged into it; the merged span keeps the metadata and
//     evidence of the earlier-starting segment. Segments that only touch
//     (next.Start == prev.End) stay separate.
//  5. Min duration (when set): repeatedly the shortest segment shorter than
//     MinDuration (earliest on ties) is merged with an adjacent neighbour —
//     one in the same allowed span with a gap ≤ TouchGap — preferring the
//     shorter neighbour (the earlier on ties). The merged segment covers the
//     gap and keeps the metadata and evidence of the longer of the two (the
//     earlier on ties). A short segment with no adjacent neighbour is
//     dropped. Merges never cross a gap between time ranges.
//  6. Max duration (when set): a segment longer than MaxDuration is split
//     evenly into n = ceil(len/MaxDuration) pieces covering exactly the same
//     time, each with a copy of the metadata. If MinDuration is set and those
//     pieces would be shorter than MinDuration (the two limits conflict, e.g.
//     3 s with min 2 and max 2.5), min wins: n = floor(len/MinDuration)
//     pieces, which are ≥ MinDuration and as short as possible, so they
//     exceed MaxDuration only when no split can satisfy both (such pieces
//     are always shorter than 2×MinDuration). A split into more than 10^7
//     pieces (absurd limits, never a validated request) is not made.
//
// The output is sorted and non-overlapping (touching allowed); every segment
// lies inside one Allowed span; each is ≥ MinDuration−Tolerance when set and
// ≤ MaxDuration+Tolerance when set, except for the conflict case of step 6.
// Without MinDuration the output covers exactly the union of the clamped
// input.
func Apply(def task.SegmentDefinition, segs []Segment, r Rules) []Segment {
	spans := Allowed(def, r)
	var ps []piece
	for _, s := range segs {
		if math.IsNaN(s.Start) || math.IsNaN(s.End) {
			continue
		}
		for i, sp := range spans {
			st, en := max(s.Start, sp.Start), min(s.End, sp.End)
			if en > st && !math.IsInf(st, 0) && !math.IsInf(en, 0) {
				p := piece{Segment: s, span: i}
				p.Start, p.End = st, en
				ps = append(ps, p)
			}
		}
	}
	slices.SortStableFunc(ps, func(a, b piece) int {
		if c := cmpFloat(a.Start, b.Start); c != 0 {
			return c
		}
		return cmpFloat(a.End, b.End)
	})
	merged := ps[:0]
	for _, p := range ps {
		if n := len(merged); n > 0 && p.Start < merged[n-1].End {
			merged[n-1].End = max(merged[n-1].End, p.End)
			continue
		}
		merged = append(merged, p)
	}
	if m := r.min(); m > 0 {
		merged = mergeShort(merged, m)
	}
	out := make([]Segment, 0, len(merged))
	for _, p := range merged {
		out = appendSplit(out, p.Segment, r.min(), r.max())
	}
	return out
}

// ApplyAll runs Apply for every definition and returns the segments by
// definition id. Definitions absent from byID get no entry.
func ApplyAll(defs []task.SegmentDefinition, byID map[string][]Segment, r Rules) map[string][]Segment {
	out := make(map[string][]Segment, len(defs))
	for _, def := range defs {
		if segs, ok := byID[def.ID]; ok {
			if _, done := out[def.ID]; !done {
				out[def.ID] = Apply(def, segs, r)
			}
		}
	}
	return out
}

// appendSplit appends s, split per step 6 of Apply.
func appendSplit(out []Segment, s Segment, minD, maxD float64) []Segment {
	l := s.Len()
	if maxD <= 0 || l <= maxD+Tolerance {
		return append(out, s)
	}
	n := math.Ceil(l / maxD)
	if minD > 0 && l/n < minD-Tolerance {
		n = max(1, math.Floor(l/minD))
	}
	if n <= 1 || n > 1e7 {
		// n > 1e7 only with absurd limits; refuse to allocate millions.
		return append(out, s)
	}
	k := int(n)
	prev := s.Start
	for i := 1; i <= k; i++ {
		end := s.End
		if i < k {
			end = s.Start + l*float64(i)/n
		}
		p := s
		p.Start, p.End = prev, end
		p.Metadata = maps.Clone(s.Metadata)
		out = append(out, p)
		prev = end
	}
	return out
}

// mergeShort implements step 5 of Apply on sorted, non-overlapping pieces.
func mergeShort(ps []piece, minD float64) []piece {
	n := len(ps)
	nodes := make([]node, n)
	h := &shortHeap{}
	for i := range ps {
		nodes[i] = node{piece: ps[i], prev: i - 1, next: i + 1, alive: true}
		if ps[i].Len() < minD-Tolerance {
			heap.Push(h, heapEntry{length: ps[i].Len(), start: ps[i].Start, idx: i})
		}
	}
	if n > 0 {
		nodes[n-1].next = -1
	}
	adjacent := func(a, b int) bool { // a before b
		return a >= 0 && b >= 0 && nodes[a].span == nodes[b].span &&
			nodes[b].Start-nodes[a].End <= TouchGap
	}
	unlink := func(i int) {
		nd := &nodes[i]
		nd.alive = false
		if nd.prev >= 0 {
			nodes[nd.prev].next = nd.next
		}
		if nd.next >= 0 {
			nodes[nd.next].prev = nd.prev
		}
	}
	for h.Len() > 0 {
		e := heap.Pop(h).(heapEntry)
		cur := &nodes[e.idx]
		if !cur.alive || cur.ver != e.ver {
			continue
		}
		l, r := cur.prev, cur.next
		okL, okR := adjacent(l, e.idx), adjacent(e.idx, r)
		var left, right int
		switch {
		case okL && okR:
			if nodes[r].Len() < nodes[l].Len() {
				left, right = e.idx, r
			} else {
				left, right = l, e.idx
			}
		case okL:
			left, right = l, e.idx
		case okR:
			left, right = e.idx, r
		default:
			unlink(e.idx)
			continue
		}
		// Merge right into left; the longer part's metadata wins.
		a, b := &nodes[left], &nodes[right]
		if b.Len() > a.Len() {
			a.Metadata, a.Evidence = b.Metadata, b.Evidence
		}
		a.End = b.End
		a.ver++
		unlink(right)
		if a.Len() < minD-Tolerance {
			heap.Push(h, heapEntry{length: a.Len(), start: a.Start, idx: left, ver: a.ver})
		}
	}
	out := ps[:0]
	for i := range nodes {
		if nodes[i].alive {
			out = append(out, nodes[i].piece)
		}
	}
	return out
}

type node struct {
	piece
	prev, next int
	alive      bool
	ver        int
}

type heapEntry struct {
	length, start float64
	idx, ver      int
}

type shortHeap []heapEntry

func (h shortHeap) Len() int { return len(h) }
func (h shortHeap) Less(i, j int) bool {
	if h[i].length != h[j].length {
		return h[i].length < h[j].length
	}
	return h[i].start < h[j].start
}
func (h shortHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *shortHeap) Push(x any)   { *h = append(*h, x.(heapEntry)) }
func (h *shortHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
