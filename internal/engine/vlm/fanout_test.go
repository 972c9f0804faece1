package vlm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/engine"
	"github.com/framewise/framewise/internal/engine/vlm"
	"github.com/framewise/framewise/internal/inference/inferencetest"
	"github.com/framewise/framewise/internal/inference/openai"
	"github.com/framewise/framewise/internal/task"
)

// memCheckpoints keeps checkpoints in memory, counting saves by key.
type memCheckpoints struct {
	mu    sync.Mutex
	m     map[string][]byte
	saves map[string]int
}

func newMem() *memCheckpoints {
	return &memCheckpoints{m: map[string][]byte{}, saves: map[string]int{}}
}

func (c *memCheckpoints) Load(k string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *memCheckpoints) Save(_ context.Context, k string, v []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = v
	c.saves[k]++
	return nil
}

// TestFanoutMatchesStream plans a video's windows, computes them in
// chunks (one of them twice), then merges: the model is called once per
// window, on the same frames as the streaming run, and the segments are
// the same.
func TestFanoutMatchesStream(t *testing.T) {
	t.Parallel()
	path, tool, info := colourClip(t, "red:11.3", "blue:12.4", "green:12.3")
	double := inferencetest.New(t)
	chat, err := openai.New(openai.Config{BaseURL: double.URL(), Model: "m", Name: "double", MaxParallel: 4, Timeout: time.Minute, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	var defs []task.SegmentDefinition
	for _, c := range []string{"red", "blue", "green"} {
		defs = append(defs, task.SegmentDefinition{ID: c, Description: "scenes where the screen is " + c})
	}
	spec := task.Spec{Model: task.Pegasus15, Mode: task.ModeTimeBasedMetadata, MaxTokens: 4096,
		ResponseFormat: &task.ResponseFormat{Type: "segment_definitions", SegmentDefinitions: defs}}
	eng := vlm.New(vlm.Config{Name: "double", Chat: chat, Media: tool, FramesPerCall: 6, MaxParallel: 4, ChunkSeconds: 5})
	spans := func(from int) []string {
		var out []string
		for _, c := range double.Calls()[from:] {
			out = append(out, fmt.Sprintf("%d:%.3f-%.3f", c.Frames, c.FirstFrame, c.LastFrame))
		}
		sort.Strings(out)
		return out
	}
	in := engine.Input{Spec: spec, VideoPath: path, Info: info, Start: 0, End: info.Duration}

	streamed, err := eng.Analyze(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	streamCalls := spans(0)

	mark := len(double.Calls())
	cp := newMem()
	in.Checkpoints = cp
	never := func(int, int, bool) error { t.Fatal("ready called without a plan"); return nil }
	if n, err := eng.Plan(context.Background(), in, 100, never); err != nil || n != 0 {
		t.Fatalf("Plan with a high minimum = %d, %v; want 0 (no fan-out)", n, err)
	}
	// The first windows planned are computed while the rest is planned.
	var readies []string
	early := -1
	n, err := eng.Plan(context.Background(), in, 2, func(planned, est int, final bool) error {
		readies = append(readies, fmt.Sprintf("%d/%d/%v", planned, est, final))
		if early < 0 && !final {
			early = planned
			r := [2]int{0, planned - 1}
			cin := in
			cin.Windows = &r
			if _, err := eng.Analyze(context.Background(), cin); err != nil {
				t.Fatalf("chunk %v of a partial plan: %v", r, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ready calls: %v", readies)
	if len(readies) < 2 || early < 1 || readies[len(readies)-1] != fmt.Sprintf("%d/%d/true", n, n) {
		t.Fatalf("ready calls %v: want some partial plans, then the complete one", readies)
	}
	if n != len(streamCalls) {
		t.Fatalf("planned %d windows, the stream made %d calls %v", n, len(streamCalls), streamCalls)
	}
	var ranges [][2]int
	for first := early; first < n; first += 3 {
		ranges = append(ranges, [2]int{first, min(n-1, first+2)})
	}
	ranges = append(ranges, ranges[0], [2]int{0, early - 1}) // delivered twice
	for _, r := range ranges {
		cin := in
		cin.Windows = &r
		if out, err := eng.Analyze(context.Background(), cin); err != nil || out.Data != "" {
			t.Fatalf("chunk %v: %v, %+v", r, err, out)
		}
	}
	for k, c := range cp.saves {
		if c != 1 && k != "plan" { // the plan is saved as it grows
			t.Errorf("checkpoint %s saved %d times", k, c)
		}
	}
	joined, err := eng.Analyze(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if got := spans(mark); fmt.Sprint(got) != fmt.Sprint(streamCalls) {
		t.Errorf("fanned-out calls:\n%v\nstreamed calls:\n%v", got, streamCalls)
	}
	var a, b any
	if err := json.Unmarshal([]byte(streamed.Data), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(joined.Data), &b); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("results differ:\nstreamed:   %s\nfanned out: %s", streamed.Data, joined.Data)
	}
	if *streamed.InputTokens != *joined.InputTokens || streamed.OutputTokens != joined.OutputTokens {
		t.Errorf("usage: streamed %d/%d, fanned out %d/%d", *streamed.InputTokens, streamed.OutputTokens, *joined.InputTokens, joined.OutputTokens)
	}
}
