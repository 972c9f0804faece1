package vlm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/engine"
	"github.com/framewise/framewise/internal/engine/vlm"
	"github.com/framewise/framewise/internal/inference"
	"github.com/framewise/framewise/internal/inference/inferencetest"
	"github.com/framewise/framewise/internal/inference/openai"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/task"
)

// TestChunksPreparedInParallel runs the engine on a video cut into many
// chunks, prepared one at a time and several at a time: the windows, the
// calls and the segments must be the same, and the segments must match
// the video's colour scenes (snapped to the detected cuts).
func TestChunksPreparedInParallel(t *testing.T) {
	t.Parallel()
	// red 0–11.3 s, blue 11.3–23.7 s, green 23.7–36 s; chunks of 5 s, so
	// that no cut falls on a chunk boundary.
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

	run := func(parallel int) (map[string][]map[string]any, int) {
		eng := vlm.New(vlm.Config{Name: "double", Chat: chat, Media: tool, FramesPerCall: 6, MaxParallel: 4,
			ChunkSeconds: 5, DecodeParallel: parallel})
		before := double.Stats().Calls
		o, err := eng.Analyze(context.Background(), engine.Input{Spec: spec, VideoPath: path, Info: info, Start: 0, End: info.Duration})
		if err != nil {
			t.Fatalf("DecodeParallel %d: %v", parallel, err)
		}
		var got map[string][]map[string]any
		if err := json.Unmarshal([]byte(o.Data), &got); err != nil {
			t.Fatalf("DecodeParallel %d: %v\n%s", parallel, err, o.Data)
		}
		return got, double.Stats().Calls - before
	}
	one, calls1 := run(1)
	three, calls3 := run(3)
	if calls1 != calls3 || calls1 < 4 {
		t.Errorf("calls: %d one chunk at a time, %d three at a time; want equal and several windows", calls1, calls3)
	}
	if a, b := fmt.Sprint(one), fmt.Sprint(three); a != b {
		t.Errorf("results differ:\none at a time:   %s\nthree at a time: %s", a, b)
	}
	want := map[string][2]float64{"red": {0, 11.3}, "blue": {11.3, 23.7}, "green": {23.7, 36}}
	for id, w := range want {
		segs := three[id]
		if len(segs) != 1 {
			t.Errorf("%s: %d segments %v, want 1", id, len(segs), segs)
			continue
		}
		s, _ := segs[0]["start_time"].(float64)
		e, _ := segs[0]["end_time"].(float64)
		if math.Abs(s-w[0]) > 0.05 || math.Abs(e-w[1]) > 0.05 {
			t.Errorf("%s: %.3f–%.3f, want %.1f–%.1f", id, s, e, w[0], w[1])
		}
	}
}

// TestEngineShrinksWhenTheServerDisagrees: a profile whose context_tokens
// is wrong (the server's is smaller) makes calls the server refuses
// (vLLM), cuts (llama.cpp) or silently truncates (Ollama). The engine
// recognises each, splits the calls, and the segments are still right.
func TestEngineShrinksWhenTheServerDisagrees(t *testing.T) {
	t.Parallel()
	path, tool, info := colourClip(t, "red:20", "blue:25", "green:15")
	var defs []task.SegmentDefinition
	for _, c := range []string{"red", "blue", "green"} {
		defs = append(defs, task.SegmentDefinition{ID: c, Description: "scenes where the screen is " + c})
	}
	spec := task.Spec{Model: task.Pegasus15, Mode: task.ModeTimeBasedMetadata, MaxTokens: 32768,
		ResponseFormat: &task.ResponseFormat{Type: "segment_definitions", SegmentDefinitions: defs}}
	vllm := inferencetest.VLLM()
	vllm.ContextTokens = 3000
	llama := inferencetest.LlamaCpp()
	llama.ContextTokens = 2600
	ollama := inferencetest.Ollama()
	for _, tc := range []struct {
		pers   inferencetest.Personality
		limits inference.Limits // what the engine believes besides the profile's 32768
	}{
		{vllm, inference.Limits{Server: inference.ServerVLLM}},
		{llama, inference.Limits{Server: inference.ServerLlamaCpp}},
		{ollama, inference.Limits{Server: inference.ServerOllama, ImageTokens: 768, DropsOldest: true}},
	} {
		t.Run(tc.pers.Name, func(t *testing.T) {
			t.Parallel()
			double := inferencetest.New(t, inferencetest.WithPersonality(tc.pers))
			chat, err := openai.New(openai.Config{BaseURL: double.URL(), Model: "m", Name: tc.pers.Name, MaxParallel: 2, Timeout: time.Minute, MaxRetries: 1})
			if err != nil {
				t.Fatal(err)
			}
			eng := vlm.New(vlm.Config{Name: tc.pers.Name, Chat: chat, Media: tool, FramesPerCall: 16, FrameWidth: 512, MaxParallel: 2,
				ContextTokens: 32768, Limits: func(context.Context) inference.Limits { return tc.limits }})
			o, err := eng.Analyze(context.Background(), engine.Input{Spec: spec, VideoPath: path, Info: info, Start: 0, End: info.Duration})
			if err != nil {
				t.Fatal(err)
			}
			var got map[string][]map[string]any
			if err := json.Unmarshal([]byte(o.Data), &got); err != nil {
				t.Fatalf("%v\n%s", err, o.Data)
			}
			want := map[string][2]float64{"red": {0, 20}, "blue": {20, 45}, "green": {45, 60}}
			for id, w := range want {
				segs := got[id]
				if len(segs) != 1 {
					t.Errorf("%s: %d segments %v, want 1", id, len(segs), segs)
					continue
				}
				s, _ := segs[0]["start_time"].(float64)
				e, _ := segs[0]["end_time"].(float64)
				if math.Abs(s-w[0]) > 0.1 || math.Abs(e-w[1]) > 0.1 {
					t.Errorf("%s: %.3f–%.3f, want %.0f–%.0f", id, s, e, w[0], w[1])
				}
			}
			if o.FinishReason != "stop" {
				t.Errorf("finish reason %q (%s)", o.FinishReason, o.Warning)
			}
			var overflows, max int
			for _, c := range double.Calls() {
				if c.Overflow {
					overflows++
				}
				if c.Status == 200 && !c.Overflow && c.Frames > max {
					max = c.Frames
				}
			}
			if overflows == 0 {
				t.Error("the server never found a call too large: the test does not test shrinking")
			}
			t.Logf("%s: %d calls, %d too large, largest answered call %d frames", tc.pers.Name, len(double.Calls()), overflows, max)
		})
	}
}

// TestWindowCutAtLengthIsSplit: a window whose answer is cut at its
// max_tokens is asked again in two halves, so that a small max_tokens
// costs calls, not segments.
func TestWindowCutAtLengthIsSplit(t *testing.T) {
	t.Parallel()
	path, tool, info := colourClip(t, "red:10", "blue:10", "green:10")
	double := inferencetest.New(t)
	chat, err := openai.New(openai.Config{BaseURL: double.URL(), Model: "m", Name: "double", Timeout: time.Minute, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	var defs []task.SegmentDefinition
	for _, c := range []string{"red", "blue", "green"} {
		defs = append(defs, task.SegmentDefinition{ID: c, Description: "scenes where the screen is " + c})
	}
	// 12 words hold the three ids and two segments, not three.
	spec := task.Spec{Model: task.Pegasus15, Mode: task.ModeTimeBasedMetadata, MaxTokens: 12,
		ResponseFormat: &task.ResponseFormat{Type: "segment_definitions", SegmentDefinitions: defs}}
	eng := vlm.New(vlm.Config{Name: "double", Chat: chat, Media: tool, FramesPerCall: 16})
	o, err := eng.Analyze(context.Background(), engine.Input{Spec: spec, VideoPath: path, Info: info, Start: 0, End: info.Duration})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string][]map[string]any
	if err := json.Unmarshal([]byte(o.Data), &got); err != nil {
		t.Fatalf("%v\n%s", err, o.Data)
	}
	for i, id := range []string{"red", "blue", "green"} {
		if segs := got[id]; len(segs) != 1 || math.Abs(segs[0]["start_time"].(float64)-float64(10*i)) > 0.1 {
			t.Errorf("%s: %v, want one segment from %d s", id, segs, 10*i)
		}
	}
	truncated := 0
	for _, c := range double.Calls() {
		if c.Truncated {
			truncated++
		}
	}
	if truncated == 0 || o.FinishReason != "stop" {
		t.Errorf("%d answers cut, finish reason %q: want cut answers split until none is", truncated, o.FinishReason)
	}
}

// colourClip encodes concatenated 320x180 colour scenes, e.g. "red:10",
// "blue:12.4", and returns its path, the media tool and the probe.
func colourClip(t *testing.T, scenes ...string) (string, *media.Tool, *media.Info) {
	t.Helper()
	var filter string
	for i, sc := range scenes {
		colour, secs, _ := strings.Cut(sc, ":")
		filter += fmt.Sprintf("color=c=%s:s=320x180:r=25:d=%s[s%d];", colour, secs, i)
	}
	for i := range scenes {
		filter += fmt.Sprintf("[s%d]", i)
	}
	filter += fmt.Sprintf("concat=n=%d:v=1:a=0", len(scenes))
	path := filepath.Join(t.TempDir(), "colours.mp4")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", filter,
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	tool, err := media.New(media.Config{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := tool.Probe(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return path, tool, info
}
