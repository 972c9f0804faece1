// Package ratelimit counts requests per client in fixed windows, the model
// behind the X-Ratelimit-* headers (spec §2.3): a limit, what is used and
// what is left in the current window, and when the window resets.
//
// Windows are aligned to the clock (every client's window resets at the
// same instant), so the counters of a window are dropped all at once when
// the next begins and memory stays bounded by the clients of one window.
package ratelimit

import (
	"sync"
	"time"
)

// Limiter allows each scope (an API key, say) Limit requests per Window.
type Limiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	start time.Time // of the current window
	used  map[string]int
}

// Decision is the outcome of one Take.
type Decision struct {
	Allowed   bool
	Limit     int
	Used      int // in this window, including this request when allowed
	Remaining int
	Reset     time.Time // when the window ends
}

// New returns a Limiter of limit requests per window; limit must be > 0.
// now may be nil for time.Now.
func New(limit int, window time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{limit: limit, window: window, now: now, used: map[string]int{}}
}

// Take counts one request of scope, unless the scope has used up the
// window, in which case the request is refused and not counted.
func (l *Limiter) Take(scope string) Decision {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if start := now.Truncate(l.window); !start.Equal(l.start) {
		l.start = start
		clear(l.used)
	}
	d := Decision{Limit: l.limit, Used: l.used[scope], Reset: l.start.Add(l.window)}
	if d.Used < l.limit {
		d.Allowed = true
		d.Used++
		l.used[scope] = d.Used
	}
	d.Remaining = l.limit - d.Used
	return d
}
