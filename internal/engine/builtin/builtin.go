// Package builtin is the engine that needs no language model: it measures
// the video in one ffmpeg pass (scene cuts, black, frozen, silent and sound
// intervals) and answers from those measurements only. It never invents a
// value.
package builtin

import (
	"context"
	"fmt"
	"strings"

	"github.com/framewise/framewise/internal/engine"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/segments"
	"github.com/framewise/framewise/internal/task"
)

// Header is the first line of every general-mode answer.
const Header = "Produced by the framewise built-in engine, which measures the video and does not interpret prompts."

// Engine is the built-in engine.
type Engine struct {
	Media *media.Tool
}

// Name implements engine.Engine.
func (Engine) Name() string { return "builtin" }

// Analyze implements engine.Engine.
func (e Engine) Analyze(ctx context.Context, in engine.Input) (*engine.Output, error) {
	if rf := in.Spec.ResponseFormat; rf != nil && rf.Type == "json_schema" {
		return nil, &engine.Refusal{Message: "A json_schema response format needs a vision-language model; the built-in engine only measures the video. Configure a model for " + in.Spec.Model + "."}
	}
	general := in.Spec.Mode != task.ModeTimeBasedMetadata
	var head string
	if general && in.Stream != nil {
		// The probe facts are known before the measuring pass: they go
		// out at once, the measurements when the pass is done.
		head = Report(in.Spec, in.Info, nil, in.Start, in.End)
		in.Stream(head)
	}
	m, err := e.Media.Measure(ctx, in.VideoPath, in.Info, media.MeasureOptions{
		Start: in.Start, End: in.End,
		Progress: func(pct float64) {
			if in.Progress != nil {
				in.Progress("measuring", pct)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	var data string
	if general {
		data = Report(in.Spec, in.Info, m, in.Start, in.End)
	} else if data, err = Segments(in.Spec, in.Info.Duration, m); err != nil {
		return nil, err
	}
	if in.Stream != nil {
		in.Stream(strings.TrimPrefix(data, head))
	}
	return &engine.Output{Data: data, FinishReason: "stop", OutputTokens: len(strings.Fields(data))}, nil
}

// Segments answers time_based_metadata: each definition is interpreted
// (Interpret), filled from the measurements, and passed through the shared
// segment rules. A definition that cannot be interpreted gets [].
func Segments(spec task.Spec, duration float64, m *media.Measurements) (string, error) {
	rules := segments.RulesFor(spec, duration)
	defs := spec.ResponseFormat.SegmentDefinitions
	byID := make(map[string][]segments.Segment, len(defs))
	for _, def := range defs {
		raw := measuredSegments(Interpret(def), m, m.Start, m.End)
		segs := segments.Apply(def, raw, rules)
		fillFields(def, segs, m)
		byID[def.ID] = segs
	}
	return segments.Render(defs, byID, rules)
}

// Report renders the probe facts and the measurements as text.
func Report(spec task.Spec, info *media.Info, m *media.Measurements, start, end float64) string {
	var b strings.Builder
	b.WriteString(Header + "\n")
	prompt := ""
	if spec.Prompt != nil {
		prompt = *spec.Prompt
	} else if spec.PromptV2 != nil {
		prompt = spec.PromptV2.InputText
	}
	if prompt != "" {
		fmt.Fprintf(&b, "Prompt (not interpreted): %q\n", prompt)
	}
	fmt.Fprintf(&b, "Duration: %.3f s\n", info.Duration)
	fmt.Fprintf(&b, "Analysis window: %.3f s to %.3f s\n", start, end)
	if v := info.Video; v != nil {
		fmt.Fprintf(&b, "Video: %s", v.Codec)
		if v.Profile != "" {
			fmt.Fprintf(&b, " (%s)", v.Profile)
		}
		fmt.Fprintf(&b, ", %dx%d", v.Width, v.Height)
		if v.DisplayWidth != v.Width || v.DisplayHeight != v.Height {
			fmt.Fprintf(&b, " shown as %dx%d", v.DisplayWidth, v.DisplayHeight)
		}
		if v.Rotation != 0 {
			fmt.Fprintf(&b, ", rotated %d°", v.Rotation)
		}
		if v.FPS > 0 {
			fmt.Fprintf(&b, ", %.3g fps", v.FPS)
		}
		if v.PixelFormat != "" {
			fmt.Fprintf(&b, ", %s", v.PixelFormat)
		}
		b.WriteString("\n")
	}
	if a := info.Audio; a != nil {
		fmt.Fprintf(&b, "Audio: %s, %d Hz, %d channels\n", a.Codec, a.SampleRate, a.Channels)
	} else {
		b.WriteString("Audio: none\n")
	}
	fmt.Fprintf(&b, "Container: %s, %d bytes", info.FormatLongName, info.Size)
	if info.BitRate > 0 {
		fmt.Fprintf(&b, ", %d kb/s", info.BitRate/1000)
	}
	b.WriteString("\n")
	if m == nil {
		return b.String()
	}
	shots := measuredSegments(KindShots, m, m.Start, m.End)
	fmt.Fprintf(&b, "\nShots (%d, split at detected hard cuts):\n", len(shots))
	for i, s := range shots {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, span(s.Start, s.End))
	}
	intervals(&b, "Black intervals", m.Black)
	intervals(&b, "Frozen intervals", m.Frozen)
	if m.HasAudio {
		intervals(&b, "Silent intervals", m.Silence)
		intervals(&b, "Sound intervals", m.Sound)
	} else {
		b.WriteString("Silent and sound intervals: the video has no audio\n")
	}
	return b.String()
}

func intervals(b *strings.Builder, title string, xs []media.Interval) {
	if len(xs) == 0 {
		fmt.Fprintf(b, "%s: none\n", title)
		return
	}
	fmt.Fprintf(b, "%s (%d):\n", title, len(xs))
	for _, x := range xs {
		fmt.Fprintf(b, "  %s\n", span(x.Start, x.End))
	}
}

func span(start, end float64) string {
	return fmt.Sprintf("%s – %s (%.3f s)", clock(start), clock(end), end-start)
}

func clock(sec float64) string {
	s, _ := segments.FormatTime(sec, segments.FormatHMSms).(string)
	return s
}
