package segments

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"testing"

	"github.com/framewise/framewise/internal/task"
)

// fuzzReader turns fuzz bytes into bounded numbers; it yields zeros once
// the input is exhausted.
type fuzzReader struct {
	b []byte
}

func (r *fuzzReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzReader) u16() int { return int(r.byte())<<8 | int(r.byte()) }

// time returns a value in [lo, lo+span) on a grid of step seconds, so that
// touching and overlapping segments are common.
func (r *fuzzReader) time(lo, span, step float64) float64 {
	return lo + math.Mod(float64(r.u16())*step, span)
}

type fuzzCase struct {
	def  task.SegmentDefinition
	segs []Segment
	r    Rules
}

func decodeFuzz(data []byte) fuzzCase {
	rd := &fuzzReader{b: data}
	steps := []float64{1, 0.25, 0.01, 0.001, 1.0 / 3, 0.05}
	step := steps[int(rd.byte())%len(steps)]
	var c fuzzCase
	flags := rd.byte()
	c.r.WindowStart = rd.time(-10, 110, step)
	if flags&1 != 0 {
		c.r.WindowEnd = rd.time(-5, 320, step) // ≤ 0 means unbounded
	} else {
		c.r.WindowEnd = math.Inf(1)
	}
	if flags&2 != 0 {
		c.r.MinDuration = rd.time(0, 20, step)
	}
	if flags&4 != 0 {
		c.r.MaxDuration = rd.time(0, 30, step)
	}
	if flags&8 != 0 {
		for n := int(rd.byte()) % 5; n > 0; n-- {
			s := rd.time(-10, 300, step)
			c.def.TimeRanges = append(c.def.TimeRanges, task.TimeRange{StartTime: s, EndTime: s + rd.time(-2, 60, step)})
		}
	}
	for n := int(rd.byte()) % 41; n > 0; n-- {
		s := rd.time(-20, 340, step)
		e := s + rd.time(-5, 105, step)
		if rd.byte()%16 == 0 {
			e = math.Inf(1)
		}
		c.segs = append(c.segs, Segment{Start: s, End: e, Metadata: map[string]any{"i": len(c.segs)}})
	}
	return c
}

// union merges overlapping or touching spans (sorted, disjoint output).
func union(spans []Span) []Span {
	spans = slices.Clone(spans)
	slices.SortFunc(spans, func(a, b Span) int { return cmpFloat(a.Start, b.Start) })
	var out []Span
	for _, s := range spans {
		if n := len(out); n > 0 && s.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, s.End)
			continue
		}
		out = append(out, s)
	}
	return out
}

func measure(spans []Span) float64 {
	var m float64
	for _, s := range spans {
		m += s.End - s.Start
	}
	return m
}

// reference computes, independently of Apply, the allowed region and the
// union of the clamped input.
func reference(c fuzzCase) (allowed, covered []Span) {
	ws, we := c.r.WindowStart, c.r.WindowEnd
	if we <= 0 {
		we = math.Inf(1)
	}
	if len(c.def.TimeRanges) == 0 {
		if we > ws {
			allowed = []Span{{ws, we}}
		}
	} else {
		var rs []Span
		for _, tr := range c.def.TimeRanges {
			if s, e := max(tr.StartTime, ws), min(tr.EndTime, we); e > s {
				rs = append(rs, Span{s, e})
			}
		}
		allowed = union(rs)
	}
	var pieces []Span
	for _, s := range c.segs {
		for _, a := range allowed {
			if st, en := max(s.Start, a.Start), min(s.End, a.End); en > st && !math.IsInf(en, 0) {
				pieces = append(pieces, Span{st, en})
			}
		}
	}
	return allowed, union(pieces)
}

func inside(s Segment, spans []Span) bool {
	for _, a := range spans {
		if s.Start >= a.Start && s.End <= a.End {
			return true
		}
	}
	return false
}

func checkInvariants(t *testing.T, c fuzzCase, out []Segment) {
	t.Helper()
	allowed, covered := reference(c)
	minD, maxD := c.r.MinDuration, c.r.MaxDuration
	var total float64
	for i, s := range out {
		l := s.End - s.Start
		total += l
		if !(l > 0) {
			t.Fatalf("segment %d %v–%v: not positive", i, s.Start, s.End)
		}
		if i > 0 && s.Start < out[i-1].End {
			t.Fatalf("segment %d %v–%v overlaps or precedes %v–%v", i, s.Start, s.End, out[i-1].Start, out[i-1].End)
		}
		if !inside(s, allowed) {
			t.Fatalf("segment %d %v–%v outside the allowed spans %v", i, s.Start, s.End, allowed)
		}
		if minD > 0 && l < minD-Tolerance {
			t.Fatalf("segment %d %v–%v shorter than min %v", i, s.Start, s.End, minD)
		}
		if maxD > 0 && l > maxD+Tolerance {
			// Allowed only when min and max conflict: min wins, and such a
			// piece is < 2×min (it could not be split into pieces ≥ min).
			if !(minD > 0 && l < 2*minD+Tolerance && math.Floor(l/minD+1e-12) < math.Ceil(l/maxD-1e-12)) {
				t.Fatalf("segment %d %v–%v longer than max %v (min %v)", i, s.Start, s.End, maxD, minD)
			}
		}
		idx, ok := s.Metadata["i"].(int)
		if !ok || idx < 0 || idx >= len(c.segs) {
			t.Fatalf("segment %d: metadata %v not from the input", i, s.Metadata)
		}
		if minD <= 0 && !inside(s, covered) {
			t.Fatalf("segment %d %v–%v not covered by the input %v", i, s.Start, s.End, covered)
		}
	}
	if minD <= 0 {
		if want := measure(covered); math.Abs(total-want) > 1e-6 {
			t.Fatalf("covered %v s, want %v s (union of clamped input)", total, want)
		}
	}
}

func FuzzApply(f *testing.F) {
	f.Add([]byte{0, 0xff, 0, 0, 0, 100, 0, 5, 0, 3, 0, 0, 3, 0, 0, 0, 10, 1, 0, 5, 0, 20, 1})
	f.Add([]byte{1, 0x0f, 0, 10, 1, 0, 0, 8, 0, 10, 2, 0, 0, 0, 40, 0, 100, 0, 40, 6, 0, 0, 0, 7, 0, 0, 1, 0, 2})
	f.Add([]byte{4, 0x07, 0, 0, 0xff, 0xff, 0, 200, 0, 210, 0, 9, 0, 0, 0, 0xff, 1, 0, 1, 0, 2, 1})
	f.Add([]byte{2, 0x0e, 0, 0, 0, 100, 0, 0, 0, 20, 3, 0, 10, 0, 20, 0, 30, 0, 20, 0, 10, 0, 20, 20})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := decodeFuzz(data)
		in := slices.Clone(c.segs)
		out := Apply(c.def, c.segs, c.r)
		for i := range in {
			if in[i].Start != c.segs[i].Start || in[i].End != c.segs[i].End {
				t.Fatal("Apply modified its input")
			}
		}
		checkInvariants(t, c, out)
		// Apply is idempotent: its output already satisfies every rule.
		again := Apply(c.def, out, c.r)
		if len(again) != len(out) {
			t.Fatalf("second Apply: %d segments, first %d", len(again), len(out))
		}
		for i := range out {
			if math.Abs(again[i].Start-out[i].Start) > 1e-9 || math.Abs(again[i].End-out[i].End) > 1e-9 {
				t.Fatalf("second Apply moved segment %d: %v–%v → %v–%v", i, out[i].Start, out[i].End, again[i].Start, again[i].End)
			}
		}
	})
}

// FuzzCoerceField checks that CoerceField is idempotent and that Render
// always produces valid JSON for whatever a model sends.
func FuzzCoerceField(f *testing.F) {
	for _, s := range []string{"12.5", "00:01:02.5", "Indoor", "true", "2.0", "-3", "1e3", "x"} {
		f.Add(s, 1.5, uint8(0))
	}
	types := []task.SegmentField{
		{Name: "f", Type: "string"},
		{Name: "f", Type: "string", Enum: []string{"Indoor", "outdoor"}},
		{Name: "f", Type: "boolean"},
		{Name: "f", Type: "number"},
		{Name: "f", Type: "integer"},
		{Name: "f", Type: "timestamp", Format: "seconds"},
		{Name: "f", Type: "timestamp", Format: "hh:mm:ss"},
		{Name: "f", Type: "timestamp", Format: "hh:mm:ss.fff"},
		{Name: "f", Type: "array", ItemsType: "integer"},
		{Name: "f", Type: "array", ItemsType: "string", Enum: []string{"a", "B"}},
	}
	f.Fuzz(func(t *testing.T, s string, x float64, which uint8) {
		fld := types[int(which)%len(types)]
		for _, v := range []any{s, x, []any{s, x}, []any{s}, []any{x}} {
			got, ok := CoerceField(fld, v)
			if !ok {
				continue
			}
			again, ok := CoerceField(fld, got)
			if !ok || !equalJSON(t, again, got) {
				t.Fatalf("%+v: %#v → %#v → %#v, %v", fld, v, got, again, ok)
			}
			def := task.SegmentDefinition{ID: s, Fields: []task.SegmentField{fld}}
			doc, err := Render([]task.SegmentDefinition{def}, map[string][]Segment{s: {{Start: 0, End: 1, Metadata: map[string]any{"f": v}}}}, Rules{})
			if err != nil || !json.Valid([]byte(doc)) {
				t.Fatalf("Render = %q, %v", doc, err)
			}
		}
	})
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	var x, y bytes.Buffer
	if err := writeJSON(&x, a); err != nil {
		t.Fatal(err)
	}
	if err := writeJSON(&y, b); err != nil {
		t.Fatal(err)
	}
	return x.String() == y.String()
}
