package task

import (
	"testing"
	"time"
)

func TestTransitions(t *testing.T) {
	t.Parallel()
	all := []Status{Queued, Pending, Processing, Ready, Failed}
	allowed := map[[2]Status]bool{
		{Queued, Pending}: true, {Queued, Processing}: true, {Queued, Ready}: true, {Queued, Failed}: true,
		{Pending, Processing}: true, {Pending, Ready}: true, {Pending, Failed}: true,
		{Processing, Processing}: true, {Processing, Ready}: true, {Processing, Failed}: true,
	}
	for _, from := range all {
		for _, to := range all {
			if got := from.CanMoveTo(to); got != allowed[[2]Status{from, to}] {
				t.Errorf("%s → %s: %v", from, to, got)
			}
		}
		if from.CanMoveTo("canceled") {
			t.Errorf("%s → unknown status allowed", from)
		}
	}
	if !Ready.Terminal() || !Failed.Terminal() || Processing.Terminal() {
		t.Error("Terminal is wrong")
	}
}

func TestNewID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := NewID(timeNowForTest)
		if len(id) != 24 || seen[id] {
			t.Fatalf("id %q (dup %v)", id, seen[id])
		}
		for _, c := range id {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				t.Fatalf("id %q is not lowercase hex", id)
			}
		}
		seen[id] = true
	}
}

var timeNowForTest = mustTime("2026-11-28T10:00:00Z")

func mustTime(s string) (t time.Time) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
