package segments

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/framewise/framewise/internal/task"
)

var renderDefs = []task.SegmentDefinition{
	{ID: "scenes", Fields: []task.SegmentField{
		{Name: "setting", Type: "string", Enum: []string{"indoor", "outdoor"}},
		{Name: "people", Type: "integer"},
		{Name: "night", Type: "boolean"},
		{Name: "score", Type: "number"},
		{Name: "tags", Type: "array", ItemsType: "string"},
		{Name: "peak", Type: "timestamp", Format: "hh:mm:ss"},
		{Name: "peak_ms", Type: "timestamp", Format: "hh:mm:ss.fff"},
		{Name: "peak_s", Type: "timestamp", Format: "seconds"},
	}},
	{ID: "goals"},
	{ID: "ads", Fields: []task.SegmentField{{Name: "brand", Type: "string"}}},
}

var renderSegs = map[string][]Segment{
	"scenes": {
		{Start: 12.5, End: 31, Evidence: "snapped_to_cut", Metadata: map[string]any{
			"setting": "Outdoor", "people": 3.0, "night": "false", "score": "0.75",
			"tags": []any{"beach", "<sun>"}, "peak": 20.5, "peak_ms": 20.5, "peak_s": "00:00:20.5",
			"not_a_field": "dropped",
		}},
		{Start: 31, End: 3725.2504, Metadata: map[string]any{
			"setting": "underwater", // not in enum: removed
			"people":  2.5,          // not an integer: removed
			"tags":    []any{"ok", 7.0},
			"peak":    -3.0,
		}},
	},
	"ads":     {},
	"unknown": {{Start: 1, End: 2}},
}

func TestRenderGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		format string
		want   string
	}{
		{"", `{"scenes":[` +
			`{"start_time":12.5,"end_time":31,"metadata":{"setting":"outdoor","people":3,"night":false,"score":0.75,"tags":["beach","<sun>"],"peak":"00:00:21","peak_ms":"00:00:20.500","peak_s":20.5},"framewise_evidence":"snapped_to_cut"},` +
			`{"start_time":31,"end_time":3725.25,"metadata":{"peak":"00:00:00"}}` +
			`],"goals":[],"ads":[]}`},
		{"hh:mm:ss", `{"scenes":[` +
			`{"start_time":"00:00:13","end_time":"00:00:31","metadata":{"setting":"outdoor","people":3,"night":false,"score":0.75,"tags":["beach","<sun>"],"peak":"00:00:21","peak_ms":"00:00:20.500","peak_s":20.5},"framewise_evidence":"snapped_to_cut"},` +
			`{"start_time":"00:00:31","end_time":"01:02:05","metadata":{"peak":"00:00:00"}}` +
			`],"goals":[],"ads":[]}`},
		{"hh:mm:ss.fff", `{"scenes":[` +
			`{"start_time":"00:00:12.500","end_time":"00:00:31.000","metadata":{"setting":"outdoor","people":3,"night":false,"score":0.75,"tags":["beach","<sun>"],"peak":"00:00:21","peak_ms":"00:00:20.500","peak_s":20.5},"framewise_evidence":"snapped_to_cut"},` +
			`{"start_time":"00:00:31.000","end_time":"01:02:05.250","metadata":{"peak":"00:00:00"}}` +
			`],"goals":[],"ads":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			t.Parallel()
			got, err := Render(renderDefs, renderSegs, Rules{TimeFormat: tt.format})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Render =\n%s\nwant\n%s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Error("invalid JSON")
			}
		})
	}
}

func TestRenderEveryIDPresent(t *testing.T) {
	t.Parallel()
	defs := []task.SegmentDefinition{{ID: "b"}, {ID: "a"}, {ID: "b"}, {ID: `q"uote`}}
	got, err := Render(defs, nil, Rules{})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"b":[],"a":[],"q\"uote":[]}`; got != want {
		t.Fatalf("Render = %s, want %s", got, want)
	}
	got, err = Render(nil, nil, Rules{})
	if err != nil || got != "{}" {
		t.Fatalf("Render(no defs) = %q, %v", got, err)
	}
}

func TestRenderRefusesNonFiniteTimes(t *testing.T) {
	t.Parallel()
	defs := []task.SegmentDefinition{{ID: "a"}}
	for _, bad := range []float64{math.NaN(), math.Inf(1)} {
		if _, err := Render(defs, map[string][]Segment{"a": {{Start: 0, End: bad}}}, Rules{}); err == nil {
			t.Errorf("Render with end %v: no error", bad)
		}
	}
}
