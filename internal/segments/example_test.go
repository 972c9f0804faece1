package segments_test

// The worked examples of docs/segments.md: the inputs there are the inputs
// here, and the outputs there are the // Output: blocks, which go test
// checks.

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/framewise/framewise/internal/segments"
	"github.com/framewise/framewise/internal/task"
)

// printIndented prints a result.data document indented, for reading.
func printIndented(data string) {
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(data), "", "  "); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(b.String())
}

// A request with start_time 2, end_time 30, min_segment_duration 3,
// max_segment_duration 8 and segment_time_format hh:mm:ss.fff, on a 60 s
// video, and the raw segments an engine reported for its one definition.
func Example_window() {
	start, end, minD, maxD := 2.0, 30.0, 3.0, 8.0
	def := task.SegmentDefinition{ID: "scenes", Description: "Each scene and its mood",
		Fields: []task.SegmentField{
			{Name: "mood", Type: "string", Enum: []string{"calm", "tense", "happy"}},
			{Name: "peak", Type: "timestamp", Format: "seconds"},
		}}
	spec := task.Spec{StartTime: &start, EndTime: &end, MinSegmentDuration: &minD, MaxSegmentDuration: &maxD,
		ResponseFormat: &task.ResponseFormat{Type: "segment_definitions", SegmentTimeFormat: "hh:mm:ss.fff",
			SegmentDefinitions: []task.SegmentDefinition{def}}}
	rules := segments.RulesFor(spec, 60)

	raw := []segments.Segment{
		{Start: 0, End: 5, Metadata: map[string]any{"mood": "Calm", "peak": "00:00:03.2"}, Evidence: "model"},
		{Start: 4, End: 6.5, Metadata: map[string]any{"mood": "tense"}, Evidence: "model"},
		{Start: 6.5, End: 7.5, Metadata: map[string]any{"mood": "tense"}, Evidence: "model"},
		{Start: 7.5, End: 25, Metadata: map[string]any{"mood": "happy", "peak": "soon"}, Evidence: "snapped_to_cut"},
		{Start: 28, End: 40, Metadata: map[string]any{"mood": "calm"}, Evidence: "model"},
	}
	out := segments.Apply(def, raw, rules)
	data, err := segments.Render(spec.ResponseFormat.SegmentDefinitions, map[string][]segments.Segment{"scenes": out}, rules)
	if err != nil {
		fmt.Println(err)
		return
	}
	printIndented(data)
	// Output:
	// {
	//   "scenes": [
	//     {
	//       "start_time": "00:00:02.000",
	//       "end_time": "00:00:07.500",
	//       "metadata": {
	//         "mood": "calm",
	//         "peak": 3.2
	//       },
	//       "framewise_evidence": "model"
	//     },
	//     {
	//       "start_time": "00:00:07.500",
	//       "end_time": "00:00:13.333",
	//       "metadata": {
	//         "mood": "happy"
	//       },
	//       "framewise_evidence": "snapped_to_cut"
	//     },
	//     {
	//       "start_time": "00:00:13.333",
	//       "end_time": "00:00:19.167",
	//       "metadata": {
	//         "mood": "happy"
	//       },
	//       "framewise_evidence": "snapped_to_cut"
	//     },
	//     {
	//       "start_time": "00:00:19.167",
	//       "end_time": "00:00:25.000",
	//       "metadata": {
	//         "mood": "happy"
	//       },
	//       "framewise_evidence": "snapped_to_cut"
	//     }
	//   ]
	// }
}

// A definition with two time ranges, 10–20 s and 30–40 s, in the default
// time format (seconds), and a second definition nothing was found for.
func Example_timeRanges() {
	defs := []task.SegmentDefinition{
		{ID: "speech", Description: "People talking",
			TimeRanges: []task.TimeRange{{StartTime: 10, EndTime: 20}, {StartTime: 30, EndTime: 40}}},
		{ID: "music", Description: "Music playing"},
	}
	spec := task.Spec{ResponseFormat: &task.ResponseFormat{Type: "segment_definitions", SegmentDefinitions: defs}}
	rules := segments.RulesFor(spec, 60)

	raw := []segments.Segment{
		{Start: 5, End: 12.25, Evidence: "measured"},
		{Start: 18, End: 33.3333, Evidence: "measured"},
		{Start: 45, End: 50, Evidence: "measured"},
	}
	out := segments.ApplyAll(defs, map[string][]segments.Segment{"speech": raw}, rules)
	data, err := segments.Render(defs, out, rules)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(data)
	// Output:
	// {"speech":[{"start_time":10,"end_time":12.25,"metadata":{},"framewise_evidence":"measured"},{"start_time":18,"end_time":20,"metadata":{},"framewise_evidence":"measured"},{"start_time":30,"end_time":33.333,"metadata":{},"framewise_evidence":"measured"}],"music":[]}
}
