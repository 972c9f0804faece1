package task

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/framewise/framewise/internal/account"
)

// Default bounds of creates that decode or probe a video (Limits).
const (
	// DefaultCreateQueueWait is how long a create waits for a slot before
	// it is refused with 429.
	DefaultCreateQueueWait = 5 * time.Second
	// createRetryAfter is the Retry-After, in seconds, of a create refused
	// because the server is busy.
	createRetryAfter = 2
)

// DefaultMaxConcurrentCreates is the number of creates that may decode or
// probe a video at once when Limits.MaxConcurrentCreates is 0: the number
// of CPUs, at least 2.
func DefaultMaxConcurrentCreates() int { return max(2, runtime.NumCPU()) }

// CodeQuotaExceeded is the code of a create refused (429) because it
// would put the account over a quota of the server (store.Quotas).
const CodeQuotaExceeded = "quota_exceeded"

// BusyError is a request the server cannot take now: too many creates
// are decoding or probing (429 too_many_requests), or a probe failed
// because the machine is overloaded (503 server_busy). The client should
// retry after RetryAfter seconds.
type BusyError struct {
	Status     int    // 429 or 503
	Code       string // too_many_requests or server_busy
	RetryAfter int    // seconds
	Message    string
	Err        error // the cause, for the log; never sent
}

func (e *BusyError) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *BusyError) Unwrap() error { return e.Err }

// admission bounds the creates that decode, store and probe a base64
// video: slots of them at once; others wait up to wait for a slot, at most
// queue of them, and are refused with a *BusyError after that.
//
// The slots are shared by the accounts, fairly: an account may hold every
// slot while nobody else wants one, but while another account waits, it
// cannot take the last free slot nor a slot that one of its own creates
// gives back beyond slots-1 — so one team's burst delays another's create
// by at most one create, instead of starving it.
type admission struct {
	slots int
	wait  time.Duration
	queue int

	mu      sync.Mutex
	inUse   map[string]int // slots held, per account
	held    int
	waiting map[string]int // creates waiting, per account
	waiters int
	changed chan struct{} // closed (and replaced) when a slot is given back or a waiter leaves
}

func newAdmission(lim Limits) *admission {
	n := lim.MaxConcurrentCreates
	if n <= 0 {
		n = DefaultMaxConcurrentCreates()
	}
	wait := lim.CreateQueueWait
	if wait == 0 {
		wait = DefaultCreateQueueWait
	}
	return &admission{slots: n, wait: max(wait, 0), queue: 32 * n,
		inUse: map[string]int{}, waiting: map[string]int{}, changed: make(chan struct{})}
}

func (a *admission) busy() *BusyError {
	return &BusyError{Status: 429, Code: "too_many_requests", RetryAfter: createRetryAfter,
		Message: fmt.Sprintf("The server is processing as many uploaded videos as it can (%d at once). Retry after %d seconds.", a.slots, createRetryAfter)}
}

// mayTake reports whether acct may take a slot now; a.mu is held.
func (a *admission) mayTake(acct string) bool {
	if a.held >= a.slots {
		return false
	}
	othersWait := a.waiters-a.waiting[acct] > 0
	return !othersWait || a.slots == 1 || a.inUse[acct] < a.slots-1
}

// take records a slot of acct; a.mu is held.
func (a *admission) take(acct string) func() {
	a.inUse[acct]++
	a.held++
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.inUse[acct]--; a.inUse[acct] == 0 {
				delete(a.inUse, acct)
			}
			a.held--
			a.signal()
		})
	}
}

// signal wakes the waiters to look again; a.mu is held.
func (a *admission) signal() {
	close(a.changed)
	a.changed = make(chan struct{})
}

// acquire takes a slot for the account of ctx, waiting at most a.wait. It
// fails with a *BusyError when none frees up in time or too many creates
// wait already, and with ctx's error when ctx ends first.
func (a *admission) acquire(ctx context.Context) (release func(), err error) {
	acct, _ := account.FromContext(ctx)
	a.mu.Lock()
	if a.waiters == 0 && a.mayTake(acct) {
		defer a.mu.Unlock()
		return a.take(acct), nil
	}
	if a.wait <= 0 || a.waiters >= a.queue {
		a.mu.Unlock()
		return nil, a.busy()
	}
	a.waiters++
	a.waiting[acct]++
	leave := func() { // a.mu is held
		a.waiters--
		if a.waiting[acct]--; a.waiting[acct] == 0 {
			delete(a.waiting, acct)
		}
		a.signal() // the rule for the others may have changed
	}
	timer := time.NewTimer(a.wait)
	defer timer.Stop()
	for {
		if a.mayTake(acct) {
			leave()
			defer a.mu.Unlock()
			return a.take(acct), nil
		}
		changed := a.changed
		a.mu.Unlock()
		select {
		case <-changed:
			a.mu.Lock()
		case <-timer.C:
			a.mu.Lock()
			leave()
			a.mu.Unlock()
			return nil, a.busy()
		case <-ctx.Done():
			a.mu.Lock()
			leave()
			a.mu.Unlock()
			return nil, ctx.Err()
		}
	}
}

type admittedKey struct{}

// Admit takes one of the slots of creates that decode or probe a video
// and returns a context that carries it: Create called with that context
// does not take another. The HTTP layer calls it before it reads a large
// body, so that bodies waiting for a slot are not held in memory. release
// must be called when the create is done. Admit fails with a *BusyError
// (429) when no slot frees up within Limits.CreateQueueWait.
func (s *Service) Admit(ctx context.Context) (context.Context, func(), error) {
	if ctx.Value(admittedKey{}) != nil {
		return ctx, func() {}, nil
	}
	release, err := s.admit.acquire(ctx)
	if err != nil {
		return ctx, func() {}, err
	}
	return context.WithValue(ctx, admittedKey{}, true), release, nil
}

// probeBusy turns a probe that failed for a reason other than the video
// (ffprobe timed out, was killed, its output was cut short: the machine
// is overloaded) into a 503 server_busy.
func probeBusy(err error) *BusyError {
	return &BusyError{Status: 503, Code: "server_busy", RetryAfter: createRetryAfter, Err: err,
		Message: fmt.Sprintf("The server could not check the video now because it is busy. Retry after %d seconds.", createRetryAfter)}
}
