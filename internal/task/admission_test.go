package task

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/account"
)

// One account alone may hold every slot; past them it waits, then gets a
// 429 BusyError.
func TestAdmissionOneAccountUsesEverySlot(t *testing.T) {
	t.Parallel()
	a := newAdmission(Limits{MaxConcurrentCreates: 3, CreateQueueWait: 100 * time.Millisecond})
	ctx := account.NewContext(context.Background(), "a")
	for i := range 3 {
		if _, err := a.acquire(ctx); err != nil {
			t.Fatalf("slot %d: %v", i+1, err)
		}
	}
	start := time.Now()
	_, err := a.acquire(ctx)
	var be *BusyError
	if !errors.As(err, &be) || be.Status != 429 {
		t.Fatalf("fourth create: %v, want a 429 BusyError", err)
	}
	if took := time.Since(start); took < 90*time.Millisecond {
		t.Errorf("refused after %v, want after the 100 ms wait", took)
	}
}

// While account B waits, the slot account A gives back goes to B, not to
// A's own next create; once B is served, A may fill the slots again.
func TestAdmissionSharesSlotsBetweenAccounts(t *testing.T) {
	t.Parallel()
	a := newAdmission(Limits{MaxConcurrentCreates: 3, CreateQueueWait: 5 * time.Second})
	ctxA := account.NewContext(context.Background(), "a")
	ctxB := account.NewContext(context.Background(), "b")
	var releases []func()
	for range 3 {
		r, err := a.acquire(ctxA)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	type got struct {
		who     string
		release func()
	}
	order := make(chan got, 2)
	wait := func(ctx context.Context, who string) {
		r, err := a.acquire(ctx)
		if err != nil {
			t.Errorf("%s: %v", who, err)
			return
		}
		order <- got{who, r}
	}
	// A's next create waits first, then B's.
	go wait(ctxA, "a")
	waitFor(t, func() bool { a.mu.Lock(); defer a.mu.Unlock(); return a.waiters == 1 })
	go wait(ctxB, "b")
	waitFor(t, func() bool { a.mu.Lock(); defer a.mu.Unlock(); return a.waiters == 2 })

	releases[0]() // A gives one back: B's turn, although A asked first
	first := <-order
	if first.who != "b" {
		t.Fatalf("the freed slot went to %s, want b (a held every slot)", first.who)
	}
	select {
	case g := <-order:
		t.Fatalf("%s got a slot while all were held", g.who)
	case <-time.After(50 * time.Millisecond):
	}
	releases[1]() // nobody else waits now: A's create takes it
	if second := <-order; second.who != "a" {
		t.Fatalf("second slot went to %s, want a", second.who)
	}
	// A releasing twice changes nothing (release is idempotent).
	releases[2]()
	releases[2]()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.held != 2 || a.inUse["a"] != 1 || a.inUse["b"] != 1 {
		t.Errorf("held %d, in use %v; want 2 = a:1 b:1", a.held, a.inUse)
	}
}

// A waiter whose request ends leaves the queue.
func TestAdmissionWaiterCanceled(t *testing.T) {
	t.Parallel()
	a := newAdmission(Limits{MaxConcurrentCreates: 1, CreateQueueWait: 5 * time.Second})
	if _, err := a.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := a.acquire(ctx); done <- err }()
	waitFor(t, func() bool { a.mu.Lock(); defer a.mu.Unlock(); return a.waiters == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled waiter: %v", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.waiters != 0 || len(a.waiting) != 0 {
		t.Errorf("waiters %d %v after the cancel", a.waiters, a.waiting)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
	}
}
