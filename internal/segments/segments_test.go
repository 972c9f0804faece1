package segments

import (
	"math"
	"testing"

	"github.com/framewise/framewise/internal/task"
)

func ptr(f float64) *float64 { return &f }

// span is a compact expected segment: start, end, and the "id" metadata key.
type span struct {
	s, e float64
	id   string
}

func seg(s, e float64, id string) Segment {
	return Segment{Start: s, End: e, Metadata: map[string]any{"id": id}}
}

func check(t *testing.T, got []Segment, want []span) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d segments %v, want %d %v", len(got), got, len(want), want)
	}
	for i, w := range want {
		g := got[i]
		if math.Abs(g.Start-w.s) > 1e-9 || math.Abs(g.End-w.e) > 1e-9 {
			t.Errorf("segment %d = %v–%v, want %v–%v", i, g.Start, g.End, w.s, w.e)
		}
		if id, _ := g.Metadata["id"].(string); id != w.id {
			t.Errorf("segment %d metadata id = %q, want %q", i, id, w.id)
		}
	}
}

func TestRulesFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		spec     task.Spec
		duration float64
		want     Rules
	}{
		{"defaults", task.Spec{}, 60, Rules{WindowStart: 0, WindowEnd: 60}},
		{"window", task.Spec{StartTime: ptr(5), EndTime: ptr(30)}, 60, Rules{WindowStart: 5, WindowEnd: 30}},
		{"end beyond duration is cut", task.Spec{EndTime: ptr(90)}, 60, Rules{WindowEnd: 60}},
		{"unknown duration", task.Spec{}, 0, Rules{WindowEnd: math.Inf(1)}},
		{"unknown duration with end", task.Spec{EndTime: ptr(20)}, math.NaN(), Rules{WindowEnd: 20}},
		{"durations and format", task.Spec{
			MinSegmentDuration: ptr(2), MaxSegmentDuration: ptr(8),
			ResponseFormat: &task.ResponseFormat{SegmentTimeFormat: "hh:mm:ss"},
		}, 60, Rules{WindowEnd: 60, MinDuration: 2, MaxDuration: 8, TimeFormat: "hh:mm:ss"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := RulesFor(tt.spec, tt.duration); got != tt.want {
				t.Errorf("RulesFor = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	t.Parallel()
	tr := func(rs ...float64) []task.TimeRange {
		var out []task.TimeRange
		for i := 0; i < len(rs); i += 2 {
			out = append(out, task.TimeRange{StartTime: rs[i], EndTime: rs[i+1]})
		}
		return out
	}
	tests := []struct {
		name   string
		ranges []task.TimeRange
		r      Rules
		want   []Span
	}{
		{"zero rules: unbounded above", nil, Rules{}, []Span{{0, math.Inf(1)}}},
		{"window", nil, Rules{WindowStart: 2, WindowEnd: 9}, []Span{{2, 9}}},
		{"empty window", nil, Rules{WindowStart: 9, WindowEnd: 2}, nil},
		{"ranges sorted and clamped", tr(20, 40, 0, 10), Rules{WindowEnd: 30}, []Span{{0, 10}, {20, 30}}},
		{"touching ranges merge", tr(0, 10, 10, 20), Rules{WindowEnd: 60}, []Span{{0, 20}}},
		{"ranges outside window: nothing", tr(70, 80), Rules{WindowEnd: 60}, nil},
		{"invalid range ignored", tr(5, 5, math.NaN(), 3, 1, 4), Rules{WindowEnd: 60}, []Span{{1, 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Allowed(task.SegmentDefinition{TimeRanges: tt.ranges}, tt.r)
			if len(got) != len(tt.want) {
				t.Fatalf("Allowed = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("Allowed = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestApply(t *testing.T) {
	t.Parallel()
	ranges := func(rs ...float64) task.SegmentDefinition {
		var d task.SegmentDefinition
		for i := 0; i < len(rs); i += 2 {
			d.TimeRanges = append(d.TimeRanges, task.TimeRange{StartTime: rs[i], EndTime: rs[i+1]})
		}
		return d
	}
	win := Rules{WindowStart: 0, WindowEnd: 60}
	tests := []struct {
		name string
		def  task.SegmentDefinition
		segs []Segment
		r    Rules
		want []span
	}{
		{"nothing", task.SegmentDefinition{}, nil, win, nil},
		{"clamp to window", task.SegmentDefinition{},
			[]Segment{seg(-5, 3, "a"), seg(10, 20, "b"), seg(55, 70, "c"), seg(61, 65, "d")},
			Rules{WindowStart: 0, WindowEnd: 60},
			[]span{{0, 3, "a"}, {10, 20, "b"}, {55, 60, "c"}}},
		{"clamp to window start", task.SegmentDefinition{},
			[]Segment{seg(0, 10, "a"), seg(12, 30, "b")},
			Rules{WindowStart: 15, WindowEnd: 25},
			[]span{{15, 25, "b"}}},
		{"infinite bounds are clamped", task.SegmentDefinition{},
			[]Segment{seg(math.Inf(-1), 5, "a"), seg(50, math.Inf(1), "b")}, win,
			[]span{{0, 5, "a"}, {50, 60, "b"}}},
		{"NaN dropped", task.SegmentDefinition{},
			[]Segment{seg(math.NaN(), 5, "a"), seg(1, math.NaN(), "b"), seg(7, 8, "c")}, win,
			[]span{{7, 8, "c"}}},
		{"clamp to time_ranges", ranges(10, 20),
			[]Segment{seg(0, 5, "out"), seg(8, 12, "a"), seg(18, 25, "b"), seg(30, 40, "out2")}, win,
			[]span{{10, 12, "a"}, {18, 20, "b"}}},
		{"segment spanning two ranges is split at the gap", ranges(10, 20, 30, 40),
			[]Segment{seg(15, 35, "a")}, win,
			[]span{{15, 20, "a"}, {30, 35, "a"}}},
		{"segment covering three ranges", ranges(30, 40, 0, 5, 10, 20),
			[]Segment{seg(2, 100, "a")}, win,
			[]span{{2, 5, "a"}, {10, 20, "a"}, {30, 40, "a"}}},
		{"touching ranges do not split", ranges(10, 20, 20, 30),
			[]Segment{seg(15, 25, "a")}, win,
			[]span{{15, 25, "a"}}},
		{"drop end <= start", task.SegmentDefinition{},
			[]Segment{seg(5, 5, "zero"), seg(9, 7, "neg"), seg(1, 2, "ok")}, win,
			[]span{{1, 2, "ok"}}},
		{"sorted by start", task.SegmentDefinition{},
			[]Segment{seg(30, 40, "c"), seg(0, 10, "a"), seg(10, 20, "b")}, win,
			[]span{{0, 10, "a"}, {10, 20, "b"}, {30, 40, "c"}}},
		{"overlap merge keeps first metadata", task.SegmentDefinition{},
			[]Segment{seg(5, 15, "b"), seg(0, 10, "a"), seg(12, 20, "c"), seg(25, 30, "d")}, win,
			[]span{{0, 20, "a"}, {25, 30, "d"}}},
		{"contained segment merges", task.SegmentDefinition{},
			[]Segment{seg(0, 30, "a"), seg(5, 10, "b")}, win,
			[]span{{0, 30, "a"}}},
		{"touching segments stay separate", task.SegmentDefinition{},
			[]Segment{seg(0, 10, "a"), seg(10, 20, "b")}, win,
			[]span{{0, 10, "a"}, {10, 20, "b"}}},
		{"min: short merges into touching neighbour", task.SegmentDefinition{},
			[]Segment{seg(0, 10, "a"), seg(10, 11, "short"), seg(20, 30, "c")},
			Rules{WindowEnd: 60, MinDuration: 2},
			[]span{{0, 11, "a"}, {20, 30, "c"}}},
		{"min: prefers the shorter neighbour", task.SegmentDefinition{},
			[]Segment{seg(0, 10, "long"), seg(10, 11, "short"), seg(11, 14, "mid")},
			Rules{WindowEnd: 60, MinDuration: 2},
			[]span{{0, 10, "long"}, {10, 14, "mid"}}},
		{"min: equal neighbours prefer the earlier", task.SegmentDefinition{},
			[]Segment{seg(0, 5, "left"), seg(5, 6, "short"), seg(6, 11, "right")},
			Rules{WindowEnd: 60, MinDuration: 2},
			[]span{{0, 6, "left"}, {6, 11, "right"}}},
		{"min: gap within TouchGap is covered", task.SegmentDefinition{},
			[]Segment{seg(0, 10, "a"), seg(10.04, 11, "short")},
			Rules{WindowEnd: 60, MinDuration: 2},
			[]span{{0, 11, "a"}}},
		{"min: isolated short is dropped", task.SegmentDefinition{},
			[]Segment{seg(0, 10, "a"), seg(10.1, 11, "short"), seg(20, 21.5, "alone")},
			Rules{WindowEnd: 60, MinDuration: 2},
			[]span{{0, 10, "a"}}},
		{"min: two shorts merge into one long enough", task.SegmentDefinition{},
			[]Segment{seg(0, 1, "a"), seg(1, 2.5, "b"), seg(30, 31, "c")},
			Rules{WindowEnd: 60, MinDuration: 2},
			[]span{{0, 2.5, "b"}}},
		{"min: chain of shorts", task.SegmentDefinition{},
			[]Segment{seg(0, 1, "a"), seg(1, 2, "b"), seg(2, 3, "c"), seg(3, 4, "d"), seg(4, 5, "e")},
			Rules{WindowEnd: 60, MinDuration: 2},
			[]span{{0, 2, "a"}, {2, 5, "c"}}},
		{"min: no merge across a time range gap", ranges(0, 10, 10.02, 20),
			[]Segment{seg(5, 10, "a"), seg(10.02, 11, "short")},
			Rules{WindowEnd: 60, MinDuration: 2},
			[]span{{5, 10, "a"}}},
		{"min: exactly min is kept", task.SegmentDefinition{},
			[]Segment{seg(3, 5, "a")}, Rules{WindowEnd: 60, MinDuration: 2},
			[]span{{3, 5, "a"}}},
		{"max: even split into ceil(len/max) pieces", task.SegmentDefinition{},
			[]Segment{seg(0, 5, "a")}, Rules{WindowEnd: 60, MaxDuration: 2},
			[]span{{0, 5.0 / 3, "a"}, {5.0 / 3, 10.0 / 3, "a"}, {10.0 / 3, 5, "a"}}},
		{"max: exactly max is not split", task.SegmentDefinition{},
			[]Segment{seg(0, 4, "a")}, Rules{WindowEnd: 60, MaxDuration: 4},
			[]span{{0, 4, "a"}}},
		{"max after min merge", task.SegmentDefinition{},
			[]Segment{seg(0, 5, "a"), seg(5, 6, "b")}, Rules{WindowEnd: 60, MinDuration: 2, MaxDuration: 3},
			[]span{{0, 3, "a"}, {3, 6, "a"}}},
		{"min and max conflict: min wins", task.SegmentDefinition{},
			[]Segment{seg(0, 3, "a")}, Rules{WindowEnd: 60, MinDuration: 2, MaxDuration: 2.5},
			[]span{{0, 3, "a"}}},
		{"min and max conflict: floor(len/min) pieces", task.SegmentDefinition{},
			[]Segment{seg(0, 4.3, "a")}, Rules{WindowEnd: 60, MinDuration: 2, MaxDuration: 2.1},
			[]span{{0, 2.15, "a"}, {2.15, 4.3, "a"}}},
		{"min and max compatible", task.SegmentDefinition{},
			[]Segment{seg(0, 10, "a")}, Rules{WindowEnd: 60, MinDuration: 2, MaxDuration: 3},
			[]span{{0, 2.5, "a"}, {2.5, 5, "a"}, {5, 7.5, "a"}, {7.5, 10, "a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check(t, Apply(tt.def, tt.segs, tt.r), tt.want)
		})
	}
}

func TestApplyDoesNotModifyInput(t *testing.T) {
	t.Parallel()
	in := []Segment{seg(5, 15, "b"), seg(0, 10, "a"), seg(20, 30, "c")}
	out := Apply(task.SegmentDefinition{}, in, Rules{WindowEnd: 25, MaxDuration: 2})
	if in[0].Start != 5 || in[1].Start != 0 || in[2].End != 30 {
		t.Fatalf("input changed: %v", in)
	}
	out[0].Metadata["id"] = "changed"
	if in[1].Metadata["id"] != "a" || out[1].Metadata["id"] != "a" {
		t.Fatal("split pieces share the metadata map with the input or each other")
	}
}

func TestApplyKeepsEvidence(t *testing.T) {
	t.Parallel()
	in := []Segment{{Start: 0, End: 4, Evidence: "snapped_to_cut"}}
	out := Apply(task.SegmentDefinition{}, in, Rules{MaxDuration: 2})
	if len(out) != 2 || out[0].Evidence != "snapped_to_cut" || out[1].Evidence != "snapped_to_cut" {
		t.Fatalf("Apply = %+v", out)
	}
}

func TestApplyAll(t *testing.T) {
	t.Parallel()
	defs := []task.SegmentDefinition{{ID: "a", TimeRanges: []task.TimeRange{{StartTime: 0, EndTime: 5}}}, {ID: "b"}}
	got := ApplyAll(defs, map[string][]Segment{
		"a": {seg(0, 10, "x")}, "b": {seg(0, 10, "y")}, "zzz": {seg(0, 1, "z")},
	}, Rules{WindowEnd: 60})
	if len(got) != 2 || got["a"][0].End != 5 || got["b"][0].End != 10 {
		t.Fatalf("ApplyAll = %v", got)
	}
}
