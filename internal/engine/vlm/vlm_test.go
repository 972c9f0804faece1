package vlm

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/framewise/framewise/internal/engine"
	"github.com/framewise/framewise/internal/inference"
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

// TestInstancesAsReported: instances one call reports stay distinct even
// when imprecise times make them overlap; the same instance seen by two
// overlapping calls is merged, taking the boundaries each call observed.
func TestInstancesAsReported(t *testing.T) {
	t.Parallel()
	seg := func(a, b float64) segments.Segment { return segments.Segment{Start: a, End: b} }
	// Call 1 (0–10 s, frames every second) sees red twice, its times
	// overlapping at 4.5–5.5; call 2 (8–20 s) sees the second red go on
	// until 14.
	pieces := []piece{
		{Start: 0, End: 10, Frames: []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, Segments: map[string][]segments.Segment{
			"red": {seg(0, 5.5), seg(4.5, 10)}}},
		{Start: 8, End: 20, Frames: []float64{8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, Segments: map[string][]segments.Segment{
			"red": {seg(8, 14)}}},
	}
	got := instances(pieces, "red", 1.5)
	want := []segments.Segment{seg(0, 5), seg(5, 14)}
	if len(got) != len(want) {
		t.Fatalf("instances %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Start != want[i].Start || got[i].End != want[i].End {
			t.Errorf("instance %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// The earlier call saw the start, the later the end; their own
	// imprecise views of the other boundary (9.5, 8.5) do not count.
	both := []piece{
		{Start: 0, End: 10, Frames: []float64{0, 4, 8}, Segments: map[string][]segments.Segment{"red": {seg(2, 9.5)}}},
		{Start: 8, End: 20, Frames: []float64{8, 12, 16}, Segments: map[string][]segments.Segment{"red": {seg(8.5, 14)}}},
	}
	if got := instances(both, "red", 1.5); len(got) != 1 || got[0].Start != 2 || got[0].End != 14 {
		t.Errorf("merged %+v, want one instance 2–14", got)
	}
	// A second instance in the next call, past the shared frames, is not
	// merged with the first.
	apart := []piece{
		{Start: 0, End: 10, Frames: []float64{0, 4, 8}, Segments: map[string][]segments.Segment{"red": {seg(0, 3)}}},
		{Start: 8, End: 20, Frames: []float64{8, 12, 16}, Segments: map[string][]segments.Segment{"red": {seg(2.5, 3.5), seg(12, 20)}}},
	}
	if got := instances(apart, "red", 1.5); len(got) != 2 {
		t.Errorf("instances %+v, want 2", got)
	}
}

// TestSnapToFramesAndCuts: a boundary goes to the cut between the frames
// around it, however imprecise within the model's imprecision, but never
// past a frame the model saw on the other side of the cut.
func TestSnapToFramesAndCuts(t *testing.T) {
	t.Parallel()
	seg := func(a, b float64) segments.Segment { return segments.Segment{Start: a, End: b} }
	// Frames every 4 s plus the first frame of each shot (cut + 0.04).
	sent := []float64{0, 4, 8, 10.04, 12, 16, 20, 21.54, 24}
	cuts := []float64{0, 10, 21.5, 28}
	segs := []segments.Segment{seg(1, 11), seg(11, 22), seg(22, 27)}
	snapToCuts(segs, cuts, sent, 1.5)
	want := []segments.Segment{seg(0, 10), seg(10, 21.5), seg(21.5, 28)}
	for i := range want {
		if segs[i].Start != want[i].Start || segs[i].End != want[i].End || segs[i].Evidence != EvidenceSnapped {
			t.Errorf("segment %d: %+v, want %v–%v snapped", i, segs[i], want[i].Start, want[i].End)
		}
	}
	// An event inside a shot, 2.5 s after a cut whose next frame the model
	// saw outside the event: not snapped to that cut.
	event := []segments.Segment{seg(12.5, 15)}
	snapToCuts(event, cuts, sent, 1.5)
	if event[0].Start != 12.5 || event[0].End != 15 || event[0].Evidence != EvidenceModel {
		t.Errorf("in-shot event %+v, want unchanged", event[0])
	}
	// Two short scenes whose imprecise boundaries are each nearer the
	// other's cut: every cut is taken once per side.
	short := []segments.Segment{seg(9.5, 11.5), seg(11.5, 13)}
	snapToCuts(short, []float64{10, 12}, []float64{8, 10.04, 12.04, 14}, 1.5)
	if short[0].Start != 10 || short[0].End != 12 || short[1].Start != 12 {
		t.Errorf("short scenes %+v, want 10–12 and 12–…", short)
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

// TestSizer: frames per call fit the context as the server counts it
// (Ollama counts 768 per image), the profile's context_tokens win over the
// server's, and a context that cannot hold a call fails with the fix.
func TestSizer(t *testing.T) {
	t.Parallel()
	if got := FrameTokens(512); got != 271 {
		t.Errorf("FrameTokens(512) = %d, want 255+16", got)
	}
	if got := FrameTokens(1280); got != 46*26+16 {
		t.Errorf("FrameTokens(1280) = %d, want one token per 28x28 pixels + 16", got)
	}
	const fixed = 600
	for _, tc := range []struct {
		name          string
		profile       int
		limits        inference.Limits
		perCall, want int
		source        string
	}{
		{"vllm 32k", 0, inference.Limits{Server: inference.ServerVLLM, ContextTokens: 32768, ContextSource: "max_model_len"}, 16, 16, "max_model_len"},
		{"unknown: default", 0, inference.Limits{}, 16, 16, "default, not reported by the server"},
		{"ollama 4096 at 768", 0, inference.Limits{Server: inference.ServerOllama, ContextTokens: 4096, ImageTokens: 768, DropsOldest: true}, 16, 3, ""}, // (4096-332-600-256-512)/776
		{"ollama 32k at 768", 0, inference.Limits{Server: inference.ServerOllama, ContextTokens: 32768, ImageTokens: 768}, 16, 16, ""},
		{"llama.cpp 4k", 0, inference.Limits{Server: inference.ServerLlamaCpp, ContextTokens: 4096}, 16, 8, ""}, // (4096-332-1368)/279
		{"vllm image limit", 0, inference.Limits{ContextTokens: 32768, MaxImages: 8}, 16, 8, ""},
		{"profile wins", 6000, inference.Limits{ContextTokens: 32768}, 16, 15, "profile context_tokens"}, // (6000-428-1368)/279
	} {
		e := New(Config{Name: "m", FramesPerCall: tc.perCall, FrameWidth: 512, ContextTokens: tc.profile,
			Limits: func(context.Context) inference.Limits { return tc.limits }})
		sz, err := e.newSizer(context.Background(), fixed)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if sz.frames() != tc.want {
			t.Errorf("%s: %d frames per call, want %d", tc.name, sz.frames(), tc.want)
		}
		if tc.source != "" && sz.limits.ContextSource != tc.source {
			t.Errorf("%s: context source %q, want %q", tc.name, sz.limits.ContextSource, tc.source)
		}
	}
	// Ollama at its old default of 2048: not even two frames of 768.
	e := New(Config{Name: "ollama", FramesPerCall: 16, FrameWidth: 512,
		Limits: func(context.Context) inference.Limits {
			return inference.Limits{Server: inference.ServerOllama, ContextTokens: 2048, ContextSource: "default num_ctx", ImageTokens: 768}
		}})
	_, err := e.newSizer(context.Background(), fixed)
	var r *engine.Refusal
	if !errors.As(err, &r) || !strings.Contains(r.Message, "num_ctx") || !strings.Contains(r.Message, "2048") {
		t.Errorf("2048-token Ollama: %v, want a refusal naming num_ctx and 2048", err)
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

// TestSchemaReadsUntidyAnswers: JSON in fences with prose, times as clock
// or numeric strings and numbers as strings are read; what still does not
// fit is refused; the schema sent leaves out keywords servers drop, and
// validation still enforces them.
func TestSchemaReadsUntidyAnswers(t *testing.T) {
	t.Parallel()
	s, err := CompileSchema(json.RawMessage(`{"type":"object","properties":{
		"at":{"type":"timestamp","format":"seconds"},
		"start_time":{"type":"number"},
		"count":{"type":"integer","minimum":0},
		"tags":{"type":"array","items":{"type":"string"},"uniqueItems":true},
		"score":{"type":"number","minimum":0,"maximum":1}},
		"required":["at","count"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var sent map[string]any
	if err := json.Unmarshal(s.ModelSchema, &sent); err != nil {
		t.Fatal(err)
	}
	props := sent["properties"].(map[string]any)
	if _, ok := props["tags"].(map[string]any)["uniqueItems"]; ok {
		t.Error("uniqueItems sent to the model")
	}
	if _, ok := props["score"].(map[string]any)["minimum"]; ok {
		t.Error("minimum on a number sent to the model")
	}
	if _, ok := props["count"].(map[string]any)["minimum"]; !ok {
		t.Error("minimum on an integer left out")
	}
	got, err := s.Finish("<think>Let me see.</think>Here is the JSON:\n```json\n{\"at\": \"00:01:02.5\", \"start_time\": \"12.5\", \"count\": \"3\", \"tags\": [\"a\"], \"score\": 0.5}\n```\nAnything else?")
	if err != nil {
		t.Fatal(err)
	}
	// Keys stay in the order the model wrote them (the schema's, under
	// constrained decoding), as upstream returns them.
	if got != `{"at":62.5,"start_time":12.5,"count":3,"tags":["a"],"score":0.5}` {
		t.Errorf("Finish = %s", got)
	}
	for _, bad := range []string{
		`{"at": 1, "count": "three"}`,                                                // not a number
		`{"at": 1, "count": 2, "tags":["a","a"]}`,                                    // uniqueItems enforced
		`{"at": 1, "count": 2, "score": 7}`,                                          // maximum enforced
		`{"at": "00:01", "count": "00:02"}`,                                          // a clock string is a time, not a count
		"```json\n{\"at\":1,\"count\":1}\n```\n```json\n{\"at\":2,\"count\":2}\n```", // ambiguous
	} {
		if _, err := s.Finish(bad); err == nil {
			t.Errorf("Finish(%q) accepted", bad)
		}
	}
}

// FuzzSchemaFinish feeds arbitrary model answers to a json_schema's
// reader: it never panics, and what it accepts is JSON that keeps every
// key of the answer it read.
func FuzzSchemaFinish(f *testing.F) {
	s, err := CompileSchema(json.RawMessage(`{"type":"object","properties":{"at":{"type":"timestamp","format":"hh:mm:ss"},"n":{"type":"integer"},"l":{"type":"array","items":{"type":"object","properties":{"start_time":{"type":"number"},"end_time":{"type":"string"}}}}},"required":["n"]}`))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{`{"n":1}`, "```json\n{\"n\":\"2\",\"at\":\"00:01\"}\n```", `{"n":1,"n":2}`, `{"l":[{"start_time":"1:02","end_time":3}],"n":0}`, `<think>x</think>{"n":1}`, `[1]`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, answer string) {
		got, err := s.Finish(answer)
		if err != nil {
			return
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(got), &v); err != nil {
			t.Fatalf("Finish(%q) = %q: not a JSON object: %v", answer, got, err)
		}
		if _, ok := v["n"]; !ok {
			t.Fatalf("Finish(%q) = %q: the required key is gone", answer, got)
		}
	})
}
