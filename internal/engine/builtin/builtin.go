// Package builtin is the engine that needs no language model: it answers
// from what it measures of the video and never invents content.
package builtin

import (
	"context"
	"fmt"
	"strings"

	"github.com/framewise/framewise/internal/engine"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/task"
)

// Header is the first line of every general-mode answer.
const Header = "Produced by the framewise built-in engine, which measures the video and does not interpret prompts."

// Engine is the built-in engine.
type Engine struct{}

// Name implements engine.Engine.
func (Engine) Name() string { return "builtin" }

// Analyze answers general mode with a plain-text report of the probe facts.
// Other modes are refused until the measuring engine supports them.
func (Engine) Analyze(ctx context.Context, in engine.Input) (*engine.Output, error) {
	if in.Spec.Mode != task.ModeGeneral {
		return nil, &engine.Refusal{Message: "The built-in engine does not support analysis_mode " + in.Spec.Mode +
			" yet. Configure a vision-language model for this model name, or use the general mode."}
	}
	if rf := in.Spec.ResponseFormat; rf != nil && rf.Type == "json_schema" {
		return nil, &engine.Refusal{Message: "A json_schema response format needs a vision-language model; the built-in engine only measures the video. Configure a model for " + in.Spec.Model + "."}
	}
	data := Report(in.Spec, in.Info, in.Start, in.End)
	if in.Progress != nil {
		in.Progress("report", 100)
	}
	return &engine.Output{Data: data, FinishReason: "stop", OutputTokens: len(strings.Fields(data))}, nil
}

// Report renders the probe facts as text.
func Report(spec task.Spec, info *media.Info, start, end float64) string {
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
	return b.String()
}
