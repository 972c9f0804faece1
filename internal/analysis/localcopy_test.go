package analysis

import (
	"context"
	"sync/atomic"
	"testing"
)

// Jobs of one process share a video's local copy: it is fetched once
// while in use and kept a while after; a failed fetch is not kept.
func TestLocalCopiesShared(t *testing.T) {
	var opens, releases atomic.Int32
	open := func(ctx context.Context, key string) (string, func(), error) {
		opens.Add(1)
		return "/tmp/" + key, func() { releases.Add(1) }, nil
	}
	var l localCopies
	ctx := context.Background()
	p1, done1, err := l.get(ctx, "k", open)
	if err != nil {
		t.Fatal(err)
	}
	p2, done2, err := l.get(ctx, "k", open)
	if err != nil || p1 != p2 {
		t.Fatal(p1, p2, err)
	}
	done1()
	done1() // idempotent
	done2()
	if _, done3, err := l.get(ctx, "k", open); err != nil {
		t.Fatal(err)
	} else {
		done3()
	}
	if opens.Load() != 1 || releases.Load() != 0 {
		t.Errorf("opens %d, releases %d; want 1, 0 (kept for the next job)", opens.Load(), releases.Load())
	}
	fail := func(ctx context.Context, key string) (string, func(), error) {
		return "", nil, context.DeadlineExceeded
	}
	if _, _, err := l.get(ctx, "bad", fail); err == nil {
		t.Fatal("want the fetch's error")
	}
	if _, done, err := l.get(ctx, "bad", open); err != nil {
		t.Fatalf("a failed fetch was kept: %v", err)
	} else {
		done()
	}
}
