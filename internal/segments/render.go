package segments

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/framewise/framewise/internal/task"
)

// EvidenceKey is the framewise extension key of a rendered segment that
// carries Segment.Evidence. Clients that follow the upstream shape ignore it.
const EvidenceKey = "framewise_evidence"

// Render builds the result.data document of time_based_metadata mode (spec
// §6) as compact JSON text:
//
//	{"<id>":[{"start_time":…,"end_time":…,"metadata":{…},"framewise_evidence":"…"}],"<id2>":[]}
//
// Render does not apply the segment rules: call Apply first; segments are
// written in the order given. Key order is deterministic:
//
//   - one key per definition, in request order; every id is present, with []
//     when byID has no segments for it. A repeated id is written once (the
//     first definition wins); ids in byID without a definition are ignored.
//   - per segment: start_time, end_time, metadata, then framewise_evidence
//     only when Evidence is non-empty.
//   - start_time/end_time are formatted by r.TimeFormat (FormatTime). Very
//     short segments may render with equal start and end once rounded.
//   - metadata holds the definition's fields in field order, each value
//     coerced by CoerceField (timestamps by the field's own format). Keys
//     that are not fields of the definition, and values that do not fit,
//     are left out (never null); a repeated field name is written once. metadata is {} when nothing is left.
//
// HTML characters are not escaped. It fails only when a start or end time
// cannot be formatted (NaN, ±Inf, |t| > 1e10).
func Render(defs []task.SegmentDefinition, byID map[string][]Segment, r Rules) (string, error) {
	var b bytes.Buffer
	seen := make(map[string]bool, len(defs))
	b.WriteByte('{')
	for _, def := range defs {
		if seen[def.ID] {
			continue
		}
		if len(seen) > 0 {
			b.WriteByte(',')
		}
		seen[def.ID] = true
		if err := writeJSON(&b, def.ID); err != nil {
			return "", err
		}
		b.WriteString(":[")
		for i, s := range byID[def.ID] {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeSegment(&b, def, s, r.TimeFormat); err != nil {
				return "", fmt.Errorf("segments: definition %q, segment %d: %w", def.ID, i, err)
			}
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	return b.String(), nil
}

func writeSegment(b *bytes.Buffer, def task.SegmentDefinition, s Segment, format string) error {
	start, end := FormatTime(s.Start, format), FormatTime(s.End, format)
	if start == nil || end == nil {
		return fmt.Errorf("time %v–%v cannot be formatted", s.Start, s.End)
	}
	b.WriteString(`{"start_time":`)
	if err := writeJSON(b, start); err != nil {
		return err
	}
	b.WriteString(`,"end_time":`)
	if err := writeJSON(b, end); err != nil {
		return err
	}
	b.WriteString(`,"metadata":{`)
	done := make(map[string]bool, len(def.Fields))
	for _, f := range def.Fields {
		raw, ok := s.Metadata[f.Name]
		if !ok || done[f.Name] {
			continue
		}
		v, ok := CoerceField(f, raw)
		if !ok {
			continue
		}
		if len(done) > 0 {
			b.WriteByte(',')
		}
		done[f.Name] = true
		if err := writeJSON(b, f.Name); err != nil {
			return err
		}
		b.WriteByte(':')
		if err := writeJSON(b, v); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	if s.Evidence != "" {
		b.WriteString(`,"` + EvidenceKey + `":`)
		if err := writeJSON(b, s.Evidence); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

// writeJSON writes v as compact JSON without HTML escaping. The values
// CoerceField and FormatTime produce (string, bool, finite float64, int64,
// []any of those) always encode.
func writeJSON(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("segments: encoding %T: %w", v, err)
	}
	b.Truncate(b.Len() - 1) // Encode appends '\n'
	return nil
}
