package blob

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/framewise/framewise/internal/diskspace"
)

// Quota is a store that counts the bytes it holds and refuses a Put that
// would take them over Limit with a *diskspace.QuotaError; the refused Put
// stores nothing. Writes under a context marked by diskspace.WithoutQuota
// are counted but never refused.
type Quota struct {
	Store
	limit int64
	used  atomic.Int64
}

// NewQuota returns s with a quota of limit bytes; it counts the blobs
// already stored.
func NewQuota(ctx context.Context, s Store, limit int64) (*Quota, error) {
	q := &Quota{Store: s, limit: limit}
	n, err := s.Usage(ctx, "")
	if err != nil {
		return nil, err
	}
	q.used.Store(n)
	return q, nil
}

// Used returns the bytes stored; Limit the quota.
func (q *Quota) Used() int64  { return q.used.Load() }
func (q *Quota) Limit() int64 { return q.limit }

// Check returns a *diskspace.QuotaError when need more bytes would not fit.
func (q *Quota) Check(need int64) error {
	if q.used.Load()+need > q.limit {
		return &diskspace.QuotaError{Limit: q.limit}
	}
	return nil
}

// Put stores r under key, counting its bytes as they arrive.
func (q *Quota) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	old, _ := q.Store.Usage(ctx, key)
	cr := &quotaReader{r: r, q: q, strict: !diskspace.QuotaExempt(ctx)}
	n, err := q.Store.Put(ctx, key, cr)
	if err != nil {
		q.used.Add(-cr.added)
		var qe *diskspace.QuotaError
		if errors.As(cr.err, &qe) {
			return n, cr.err
		}
		return n, err
	}
	q.used.Add(-old)
	return n, nil
}

// Delete removes key and every key below it and stops counting them.
func (q *Quota) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	n, _ := q.Store.Usage(ctx, key)
	if err := q.Store.Delete(ctx, key); err != nil {
		return err
	}
	q.used.Add(-n)
	return nil
}

// quotaReader reserves quota for each read before the bytes are written.
type quotaReader struct {
	r      io.Reader
	q      *Quota
	strict bool
	added  int64
	err    error
}

func (c *quotaReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		if used := c.q.used.Add(int64(n)); c.strict && used > c.q.limit {
			c.q.used.Add(-int64(n))
			c.err = &diskspace.QuotaError{Limit: c.q.limit}
			return 0, c.err
		}
		c.added += int64(n)
	}
	return n, err
}

// treeSize is the size of the regular files at or below p, leaving out
// the temporary files of Puts in progress.
func treeSize(p string) (int64, error) {
	var n int64
	err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".part-") {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		n += fi.Size()
		return nil
	})
	return n, err
}
