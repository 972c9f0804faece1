package vlm

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/framewise/framewise/internal/inference"
	"github.com/framewise/framewise/internal/task"
)

// systemPrompt frames every call.
const systemPrompt = `You analyse a video from still frames sampled from it, in time order.
Each frame is preceded by a label t=SECONDS s: the absolute time of that frame in the video.
A transcript of the speech, with absolute times, may follow the frames.
Answer only from what the frames and the transcript show. Do not invent events, names, numbers or times.
Every time you give is in absolute seconds of the video.`

// sampledFrame is a frame to show the model.
type sampledFrame struct {
	Time float64
	JPEG []byte
}

// framesParts renders frames, each preceded by its time label, and the
// transcript lines that overlap [start, end).
func framesParts(frames []sampledFrame, transcript []inference.TranscriptSegment, start, end float64) []inference.Part {
	parts := make([]inference.Part, 0, 2*len(frames)+2)
	parts = append(parts, inference.Text(fmt.Sprintf("Frames from %.3f s to %.3f s of the video:", start, end)))
	for _, f := range frames {
		parts = append(parts, inference.Text(inference.FrameTimeText(f.Time)), inference.JPEG(f.JPEG))
	}
	var lines []string
	for _, s := range transcript {
		if s.End > start && s.Start < end && strings.TrimSpace(s.Text) != "" {
			lines = append(lines, fmt.Sprintf("[%.1f–%.1f s] %s", s.Start, s.End, strings.TrimSpace(s.Text)))
		}
	}
	if len(lines) > 0 {
		parts = append(parts, inference.Text("Transcript:\n"+strings.Join(lines, "\n")))
	}
	return parts
}

var placeholderRE = regexp.MustCompile(`<@([^<>]+)>`)

// promptParts renders the user's prompt; with prompt_v2 each <@name>
// placeholder is followed by its reference image.
func promptParts(spec task.Spec, refs map[string][]byte) []inference.Part {
	if spec.PromptV2 == nil {
		p := ""
		if spec.Prompt != nil {
			p = *spec.Prompt
		}
		return []inference.Part{inference.Text(p)}
	}
	text := spec.PromptV2.InputText
	var parts []inference.Part
	last := 0
	for _, m := range placeholderRE.FindAllStringSubmatchIndex(text, -1) {
		name := text[m[2]:m[3]]
		img, ok := refs[name]
		if !ok {
			continue
		}
		parts = append(parts, inference.Text(text[last:m[1]]), inference.Text(inference.ReferenceImageText(name)), inference.JPEG(img))
		last = m[1]
	}
	if rest := text[last:]; strings.TrimSpace(rest) != "" || len(parts) == 0 {
		parts = append(parts, inference.Text(rest))
	}
	return parts
}

// segmentSchema is the JSON schema asked of the model in
// time_based_metadata mode: one array per definition id of
// {start_time, end_time, custom fields}. It follows the segment contract of
// inferencetest.
func segmentSchema(defs []task.SegmentDefinition) json.RawMessage {
	props := map[string]any{}
	ids := make([]string, 0, len(defs))
	for _, d := range defs {
		itemProps := map[string]any{
			"start_time": map[string]any{"type": "number", "description": "absolute start, seconds"},
			"end_time":   map[string]any{"type": "number", "description": "absolute end, seconds"},
		}
		for _, f := range d.Fields {
			itemProps[f.Name] = fieldSchema(f)
		}
		props[d.ID] = map[string]any{
			"type":        "array",
			"description": d.Description,
			"items": map[string]any{
				"type":       "object",
				"properties": itemProps,
				"required":   []string{"start_time", "end_time"},
			},
		}
		ids = append(ids, d.ID)
	}
	b, _ := json.Marshal(map[string]any{"type": "object", "properties": props, "required": ids})
	return b
}

func fieldSchema(f task.SegmentField) map[string]any {
	s := map[string]any{}
	if f.Description != "" {
		s["description"] = f.Description
	}
	switch f.Type {
	case "timestamp":
		s["type"] = "number"
		s["description"] = strings.TrimSpace(f.Description + " (absolute seconds)")
	case "array":
		item := map[string]any{"type": f.ItemsType}
		if len(f.Enum) > 0 {
			item["enum"] = f.Enum
		}
		s["type"], s["items"] = "array", item
	default:
		s["type"] = f.Type
		if len(f.Enum) > 0 {
			s["enum"] = f.Enum
		}
	}
	return s
}

// segmentsInstruction tells the model what to find in one window.
func segmentsInstruction(defs []task.SegmentDefinition, refs map[string][]byte, w Window) []inference.Part {
	var b strings.Builder
	fmt.Fprintf(&b, "Find every segment of the following kinds between %.3f s and %.3f s. ", w.Start, w.End)
	b.WriteString("Answer with JSON: for each kind id, a list of segments with start_time and end_time in absolute seconds and the listed fields. ")
	b.WriteString("Use an empty list when a kind does not occur. Only report what the frames show.\n")
	for _, d := range defs {
		fmt.Fprintf(&b, "- %s: %s\n", d.ID, d.Description)
		for _, f := range d.Fields {
			fmt.Fprintf(&b, "    field %s (%s)", f.Name, f.Type)
			if f.Description != "" {
				fmt.Fprintf(&b, ": %s", f.Description)
			}
			if len(f.Enum) > 0 {
				fmt.Fprintf(&b, " one of %s", strings.Join(f.Enum, ", "))
			}
			b.WriteString("\n")
		}
	}
	parts := []inference.Part{inference.Text(b.String())}
	for _, d := range defs {
		for _, m := range d.MediaSources {
			if img, ok := refs[m.Name]; ok {
				parts = append(parts, inference.Text(inference.ReferenceImageText(m.Name)), inference.JPEG(img))
			}
		}
	}
	return parts
}
