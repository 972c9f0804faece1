package analysis

import (
	"context"
	"sync"
	"time"
)

// localCopyLinger is how long a local copy of a video (blob LocalPath,
// a download from an S3-compatible store) is kept after its last user,
// so that the next chunk of the same task on this worker reads it again
// instead of downloading the whole video once more.
const localCopyLinger = 2 * time.Minute

// localCopies shares the local copies of videos between the jobs of one
// process: the chunk jobs of a fanned-out task and its join.
type localCopies struct {
	mu sync.Mutex
	m  map[string]*localCopy
}

type localCopy struct {
	ready   chan struct{}
	path    string
	release func()
	err     error
	users   int
	timer   *time.Timer
}

// get returns the local path of key, fetching it with open when this
// process has no copy; done must be called once the caller is finished.
func (l *localCopies) get(ctx context.Context, key string, open func(ctx context.Context, key string) (string, func(), error)) (string, func(), error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*localCopy{}
	}
	c := l.m[key]
	if c == nil {
		c = &localCopy{ready: make(chan struct{})}
		l.m[key] = c
		c.users++
		l.mu.Unlock()
		// The copy outlives the job that made it: not canceled with it.
		c.path, c.release, c.err = open(context.WithoutCancel(ctx), key)
		close(c.ready)
		if c.err != nil {
			l.mu.Lock()
			c.users--
			delete(l.m, key)
			l.mu.Unlock()
			return "", nil, c.err
		}
		return c.path, l.done(key, c), nil
	}
	c.users++
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	l.mu.Unlock()
	select {
	case <-c.ready:
	case <-ctx.Done():
		l.done(key, c)()
		return "", nil, ctx.Err()
	}
	if c.err != nil {
		l.done(key, c)()
		return "", nil, c.err
	}
	return c.path, l.done(key, c), nil
}

func (l *localCopies) done(key string, c *localCopy) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if c.users--; c.users > 0 || c.err != nil {
				return
			}
			c.timer = time.AfterFunc(localCopyLinger, func() {
				l.mu.Lock()
				defer l.mu.Unlock()
				if c.users == 0 && l.m[key] == c {
					delete(l.m, key)
					c.release()
				}
			})
		})
	}
}
