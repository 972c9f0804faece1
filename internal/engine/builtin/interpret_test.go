package builtin

import (
	"testing"

	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/task"
)

func TestInterpret(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id, desc string
		want     Kind
	}{
		{"shots", "each camera shot", KindShots},
		{"scene_list", "", KindShots},
		{"x", "every hard cut in the edit", KindShots},
		{"blackouts", "", KindBlack},
		{"gaps", "black frames between scenes", KindBlack}, // the first known word decides
		{"freeze", "", KindFrozen},
		{"x", "where the picture is static", KindFrozen},
		{"quiet", "", KindSilence},
		{"speech", "people talking", KindSound},
		{"music_parts", "", KindSound},
		{"silent_scenes", "", KindSilence}, // id words in order: silent before scenes
		{"faces", "people smiling", KindNone},
		{"", "", KindNone},
	} {
		if got := Interpret(task.SegmentDefinition{ID: tc.id, Description: tc.desc}); got != tc.want {
			t.Errorf("Interpret(%q, %q) = %q, want %q", tc.id, tc.desc, got, tc.want)
		}
	}
}

func TestShotsFromCutsAndFields(t *testing.T) {
	t.Parallel()
	m := &media.Measurements{Start: 2, End: 12, HasAudio: true,
		Cuts:       []media.Cut{{Time: 1}, {Time: 4}, {Time: 8}, {Time: 13}},
		Volume:     []media.VolumeSample{{Time: 2, DB: -20}, {Time: 6, DB: -20}},
		VolumeStep: 4,
	}
	segs := measuredSegments(KindShots, m, m.Start, m.End)
	want := [][2]float64{{2, 4}, {4, 8}, {8, 12}}
	if len(segs) != 3 {
		t.Fatalf("segments %+v", segs)
	}
	for i, s := range segs {
		if s.Start != want[i][0] || s.End != want[i][1] || s.Evidence != "measured" {
			t.Errorf("segment %d = %+v", i, s)
		}
	}
	def := task.SegmentDefinition{ID: "shots", Fields: []task.SegmentField{
		{Name: "index", Type: "integer"}, {Name: "Duration", Type: "integer"}, {Name: "length", Type: "number"},
		{Name: "mood", Type: "string"}, {Name: "duration_s", Type: "string"}}}
	fillFields(def, segs, m)
	md := segs[1].Metadata
	if md["index"] != int64(2) || md["Duration"] != int64(4) || md["length"] != 4.0 {
		t.Errorf("metadata %v", md)
	}
	if _, ok := md["mood"]; ok {
		t.Error("an unmeasurable field was filled")
	}
	if _, ok := md["duration_s"]; ok {
		t.Error("a number was coerced into a string field")
	}
}
