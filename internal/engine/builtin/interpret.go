package builtin

import (
	"math"
	"strings"
	"unicode"

	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/segments"
	"github.com/framewise/framewise/internal/task"
)

// Kind is what the built-in engine can measure for a segment definition.
type Kind string

// Measurable kinds. KindNone means the definition cannot be interpreted
// from measurements and gets no segments.
const (
	KindNone    Kind = ""
	KindShots   Kind = "shots"
	KindBlack   Kind = "black"
	KindFrozen  Kind = "frozen"
	KindSilence Kind = "silence"
	KindSound   Kind = "sound"
)

// vocabulary maps words to kinds. The matching rule: split the
// definition's id, then its description, into lowercase words; the first
// word (id first, then description, in reading order) found here decides.
var vocabulary = map[string]Kind{
	"shot": KindShots, "shots": KindShots, "scene": KindShots, "scenes": KindShots,
	"cut": KindShots, "cuts": KindShots, "camera": KindShots, "take": KindShots, "takes": KindShots,

	"black": KindBlack, "blank": KindBlack, "blackout": KindBlack, "blackouts": KindBlack,

	"frozen": KindFrozen, "freeze": KindFrozen, "freezes": KindFrozen, "still": KindFrozen,
	"static": KindFrozen, "stills": KindFrozen,

	"silence": KindSilence, "silent": KindSilence, "silences": KindSilence, "quiet": KindSilence,
	"mute": KindSilence, "muted": KindSilence,

	"sound": KindSound, "sounds": KindSound, "speech": KindSound, "speaking": KindSound,
	"talking": KindSound, "music": KindSound, "audio": KindSound, "audible": KindSound, "noise": KindSound,
}

// Interpret decides what a segment definition asks for, by the matching rule
// documented on vocabulary.
func Interpret(def task.SegmentDefinition) Kind {
	for _, text := range []string{def.ID, def.Description} {
		for _, w := range words(text) {
			if k, ok := vocabulary[w]; ok {
				return k
			}
		}
	}
	return KindNone
}

func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) })
}

// measuredSegments returns the raw segments of a kind within [start, end].
func measuredSegments(k Kind, m *media.Measurements, start, end float64) []segments.Segment {
	var spans []media.Interval
	switch k {
	case KindShots:
		bounds := []float64{start}
		for _, c := range m.Cuts {
			if c.Time > start && c.Time < end {
				bounds = append(bounds, c.Time)
			}
		}
		bounds = append(bounds, end)
		for i := 1; i < len(bounds); i++ {
			spans = append(spans, media.Interval{Start: bounds[i-1], End: bounds[i]})
		}
	case KindBlack:
		spans = m.Black
	case KindFrozen:
		spans = m.Frozen
	case KindSilence:
		spans = m.Silence
	case KindSound:
		spans = m.Sound
	}
	out := make([]segments.Segment, 0, len(spans))
	for _, s := range spans {
		out = append(out, segments.Segment{Start: s.Start, End: s.End, Evidence: "measured"})
	}
	return out
}

// fieldMeasure names the measurements a custom field can hold; others
// are left out.
type fieldMeasure string

const (
	measureNone     fieldMeasure = ""
	measureDuration fieldMeasure = "duration"
	measureIndex    fieldMeasure = "index"
	measureVolume   fieldMeasure = "mean_volume"
)

var fieldNames = map[string]fieldMeasure{
	"duration": measureDuration, "length": measureDuration, "duration_seconds": measureDuration,
	"duration_s": measureDuration, "seconds": measureDuration,
	"index": measureIndex, "number": measureIndex, "shot_number": measureIndex, "scene_number": measureIndex,
	"position": measureIndex, "ordinal": measureIndex,
	"mean_volume": measureVolume, "volume": measureVolume, "loudness": measureVolume,
	"mean_volume_db": measureVolume, "average_volume": measureVolume, "volume_db": measureVolume,
}

// fillFields sets the custom fields that can be measured on final segments.
func fillFields(def task.SegmentDefinition, segs []segments.Segment, m *media.Measurements) {
	for i := range segs {
		s := &segs[i]
		for _, f := range def.Fields {
			var v any
			switch fieldNames[strings.ToLower(f.Name)] {
			case measureDuration:
				d := math.Round((s.End-s.Start)*1000) / 1000
				if f.Type == "integer" {
					v = math.Round(d)
				} else {
					v = d
				}
			case measureIndex:
				v = float64(i + 1)
			case measureVolume:
				if db, ok := m.MeanVolume(s.Start, s.End); ok {
					v = math.Round(db*10) / 10
				}
			}
			if v == nil {
				continue
			}
			if cv, ok := segments.CoerceField(f, v); ok {
				if s.Metadata == nil {
					s.Metadata = map[string]any{}
				}
				s.Metadata[f.Name] = cv
			}
		}
	}
}
