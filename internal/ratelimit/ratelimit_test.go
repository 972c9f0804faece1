package ratelimit

import (
	"sync"
	"testing"
	"time"
)

func TestWindows(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 10, 0, 20, 0, time.UTC)
	l := New(2, time.Minute, func() time.Time { return now })
	reset := time.Date(2026, 12, 2, 10, 1, 0, 0, time.UTC)
	want := []Decision{
		{Allowed: true, Limit: 2, Used: 1, Remaining: 1, Reset: reset},
		{Allowed: true, Limit: 2, Used: 2, Remaining: 0, Reset: reset},
		{Allowed: false, Limit: 2, Used: 2, Remaining: 0, Reset: reset},
		{Allowed: false, Limit: 2, Used: 2, Remaining: 0, Reset: reset},
	}
	for i, w := range want {
		if got := l.Take("a"); got != w {
			t.Fatalf("take %d: %+v, want %+v", i+1, got, w)
		}
	}
	// Another scope has its own budget.
	if got := l.Take("b"); !got.Allowed || got.Used != 1 {
		t.Fatalf("scope b: %+v", got)
	}
	// The next window starts afresh and drops the old counters.
	now = reset.Add(time.Second)
	if got := l.Take("a"); !got.Allowed || got.Used != 1 || !got.Reset.Equal(reset.Add(time.Minute)) {
		t.Fatalf("next window: %+v", got)
	}
	if len(l.used) != 1 {
		t.Fatalf("%d counters kept, want 1", len(l.used))
	}
}

func TestConcurrentTakesNeverExceedTheLimit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	l := New(50, time.Minute, func() time.Time { return now })
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			if l.Take("k").Allowed {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != 50 {
		t.Fatalf("%d requests allowed, want 50", allowed)
	}
}
