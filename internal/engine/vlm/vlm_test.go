package vlm

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/framewise/framewise/internal/segments"
	"github.com/framewise/framewise/internal/task"
)

func TestIntervalAndFrameTimes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ dur, want float64 }{{4, 0.5}, {12, 0.75}, {64, 4}, {7200, 4}} {
		if got := Interval(tc.dur, 16); got != tc.want {
			t.Errorf("Interval(%v) = %v, want %v", tc.dur, got, tc.want)
		}
	}
	times := FrameTimes(0, 12, 2, []float64{4, 8.9, 20})
	want := []float64{0, 2, 4.04, 6, 8, 8.94, 10}
	if len(times) != len(want) {
		t.Fatalf("times %v, want %v", times, want)
	}
	for i := range want {
		if math.Abs(times[i]-want[i]) > 1e-9 {
			t.Fatalf("times %v, want %v", times, want)
		}
	}
}

func TestWindowsOverlap(t *testing.T) {
	t.Parallel()
	frames := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	ws := Windows(frames, 4, 1, 10)
	if len(ws) != 4 {
		t.Fatalf("%d windows: %+v", len(ws), ws)
	}
	for i := 1; i < len(ws); i++ {
		prev, cur := ws[i-1].Frames, ws[i].Frames
		if cur[0] != prev[len(prev)-2] {
			t.Errorf("window %d does not share 2 frames with the previous: %v / %v", i, prev, cur)
		}
	}
	if last := ws[len(ws)-1]; last.End != 10 || last.Frames[len(last.Frames)-1] != 9 {
		t.Errorf("last window %+v", last)
	}
}

func TestParseWindowDropsAndCoerces(t *testing.T) {
	t.Parallel()
	defs := []task.SegmentDefinition{{ID: "a", Fields: []task.SegmentField{
		{Name: "n", Type: "integer"}, {Name: "c", Type: "string", Enum: []string{"Red", "Blue"}}}}}
	w := Window{Start: 10, End: 20}
	got, err := parseWindow(`{"a":[
		{"start_time":12,"end_time":15,"n":"3","c":"red"},
		{"start_time":15,"end_time":14},
		{"start_time":30,"end_time":40},
		{"start_time":"00:00:08","end_time":"00:00:11.5","n":2.5,"c":"green"}]}`, defs, w)
	if err != nil {
		t.Fatal(err)
	}
	segs := got["a"]
	if len(segs) != 2 {
		t.Fatalf("segments %+v", segs)
	}
	if segs[0].Metadata["n"] != int64(3) || segs[0].Metadata["c"] != "Red" {
		t.Errorf("coerced metadata %v", segs[0].Metadata)
	}
	if segs[1].Start != 10 || segs[1].End != 11.5 || len(segs[1].Metadata) != 0 {
		t.Errorf("clamped segment %+v: invalid fields must be removed", segs[1])
	}
	if _, err := parseWindow(`{"a": [`, defs, w); err == nil {
		t.Error("malformed JSON accepted")
	}
}

func TestMergeAndSnap(t *testing.T) {
	t.Parallel()
	segs := mergeWindows([]segments.Segment{{Start: 8, End: 12.5}, {Start: 0.2, End: 4}, {Start: 11.5, End: 19.7, Metadata: map[string]any{"k": 1}}})
	if len(segs) != 2 || segs[1].Start != 8 || segs[1].End != 19.7 || segs[1].Metadata["k"] != 1 {
		t.Fatalf("merged %+v", segs)
	}
	snapToCuts(segs, []float64{0, 4.3, 8, 20}, 0.5)
	if segs[0].Start != 0 || segs[0].End != 4.3 || segs[0].Evidence != EvidenceSnapped {
		t.Errorf("first %+v", segs[0])
	}
	if segs[1].Start != 8 || segs[1].End != 20 || segs[1].Evidence != EvidenceSnapped {
		t.Errorf("second %+v", segs[1])
	}
	one := []segments.Segment{{Start: 3, End: 5}}
	snapToCuts(one, []float64{10}, 0.5)
	if one[0].Evidence != EvidenceModel {
		t.Errorf("no cut near: %+v", one[0])
	}
}

func TestSchemaTimestampsAndRepairErrors(t *testing.T) {
	t.Parallel()
	s, err := CompileSchema(json.RawMessage(`{"type":"object","properties":{
		"at":{"type":"timestamp","format":"hh:mm:ss.fff"},
		"start_time":{"type":"integer"},
		"items":{"type":"array","items":{"type":"object","properties":{"end_time":{"type":"string"},"t":{"type":"timestamp","format":"seconds"}}}}},
		"required":["at"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(s.ModelSchema), "timestamp") {
		t.Errorf("model schema still has timestamp: %s", s.ModelSchema)
	}
	out, err := s.Finish(`{"at":62.5,"start_time":3.6,"items":[{"end_time":75.25,"t":4}]}`)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.Unmarshal([]byte(out), &doc)
	if doc["at"] != "00:01:02.500" || doc["start_time"] != 4.0 {
		t.Errorf("converted %s", out)
	}
	if it := doc["items"].([]any)[0].(map[string]any); it["end_time"] != "00:01:15.250" || it["t"] != 4.0 {
		t.Errorf("array item converted %v", it)
	}
	if _, err := s.Finish(`{"start_time":1}`); err == nil || !strings.Contains(err.Error(), "at") {
		t.Errorf("missing required property accepted: %v", err)
	}
	if _, err := s.Finish(`{"at": `); err == nil {
		t.Error("malformed JSON accepted")
	}
}

func TestSegmentSchemaShape(t *testing.T) {
	t.Parallel()
	raw := segmentSchema([]task.SegmentDefinition{{ID: "goals", Description: "goals scored", Fields: []task.SegmentField{
		{Name: "team", Type: "string", Enum: []string{"home", "away"}}, {Name: "tags", Type: "array", ItemsType: "string"},
		{Name: "kickoff", Type: "timestamp", Format: "hh:mm:ss"}}}})
	var s struct {
		Properties map[string]struct {
			Type        string `json:"type"`
			Description string `json:"description"`
			Items       struct {
				Properties map[string]map[string]any `json:"properties"`
				Required   []string                  `json:"required"`
			} `json:"items"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	g := s.Properties["goals"]
	if g.Type != "array" || g.Description != "goals scored" || len(s.Required) != 1 {
		t.Fatalf("schema %s", raw)
	}
	p := g.Items.Properties
	if p["start_time"]["type"] != "number" || p["team"]["enum"] == nil || p["tags"]["type"] != "array" || p["kickoff"]["type"] != "number" {
		t.Errorf("item properties %v", p)
	}
}

func TestFramesFitContext(t *testing.T) {
	t.Parallel()
	if got := FrameTokens(512); got != 271 {
		t.Errorf("FrameTokens(512) = %d, want 255+16", got)
	}
	if got := FrameTokens(1280); got != 46*26+16 {
		t.Errorf("FrameTokens(1280) = %d, want one token per 28x28 pixels + 16", got)
	}
	for _, tc := range []struct{ ctx, width, perCall, want int }{
		{32768, 512, 16, 16}, // fits: unchanged
		{4096, 512, 16, 7},   // 2048 / 271
		{1000, 512, 16, 3},   // never below overlap+1
		{0, 512, 16, 16},     // unknown context: unchanged
		{32768, 1280, 32, 13},
	} {
		e := New(Config{FramesPerCall: tc.perCall, FrameWidth: tc.width, ContextTokens: tc.ctx})
		if e.cfg.FramesPerCall != tc.want {
			t.Errorf("context %d, width %d, %d per call: %d frames, want %d", tc.ctx, tc.width, tc.perCall, e.cfg.FramesPerCall, tc.want)
		}
	}
}

// FuzzParseWindow feeds arbitrary model replies to the segment parser: it
// must never panic, and what it keeps must lie inside the window, with
// end > start, under a requested definition id.
func FuzzParseWindow(f *testing.F) {
	f.Add(`{"a":[{"start_time":12,"end_time":15,"n":"3","c":"red"},{"start_time":"00:00:08","end_time":"00:00:11.5","n":2.5}]}`)
	f.Add(`{"a":[{"start_time":1e308,"end_time":-1e308}],"b":[]}`)
	f.Add("```json\n{\"a\": [{\"start_time\": 11, \"end_time\": 19, \"n\": [1]}]}\n```")
	f.Add(`{"a":null}`)
	f.Add(`[]`)
	defs := []task.SegmentDefinition{{ID: "a", Fields: []task.SegmentField{
		{Name: "n", Type: "integer"}, {Name: "c", Type: "string", Enum: []string{"Red", "Blue"}},
		{Name: "l", Type: "array", ItemsType: "number"},
		{Name: "at", Type: "timestamp", Format: "seconds"}}}}
	w := Window{Start: 10, End: 20}
	f.Fuzz(func(t *testing.T, reply string) {
		got, err := parseWindow(reply, defs, w)
		if err != nil {
			return
		}
		for id, segs := range got {
			if id != "a" {
				t.Fatalf("kept an unrequested definition %q", id)
			}
			for _, s := range segs {
				if !(s.Start >= w.Start && s.End <= w.End && s.End > s.Start) {
					t.Fatalf("kept a segment outside the window or empty: %+v", s)
				}
			}
		}
	})
}
