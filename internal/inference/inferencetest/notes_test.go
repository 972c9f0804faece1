package inferencetest

import "testing"

func TestRunsFromNotes(t *testing.T) {
	t.Parallel()
	got := runsFromNotes("Notes 1:\nSeen colours: red from 0.0s to 10.0s; blue from 10.0s to 12.0s.\n" +
		"Notes 2:\nSeen colours: blue from 11.0s to 22.0s; green from 22.0s to 30.0s. tea from 1s to 2s")
	want := []run{{colour: "red", start: 0, end: 10}, {colour: "blue", start: 10, end: 22}, {colour: "green", start: 22, end: 30}}
	if len(got) != len(want) {
		t.Fatalf("runs %+v", got)
	}
	for i := range want {
		if got[i].colour != want[i].colour || got[i].start != want[i].start || got[i].end != want[i].end {
			t.Errorf("run %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
