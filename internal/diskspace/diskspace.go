// Package diskspace keeps a framewise server usable when its data
// directory runs out of space. It recognizes "disk full" errors (ENOSPC
// from files, SQLITE_FULL from the database), holds a reserve file whose
// space lets a delete commit on a full disk, and watches the free space to
// warn before it runs out and to refill the reserve once space returns.
package diskspace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// sqliteFull is SQLITE_FULL, the primary result code SQLite gives when a
// write finds the disk full.
const sqliteFull = 13

// Full reports whether err says that the disk is full: ENOSPC from the
// file system, or SQLITE_FULL from the database driver. The driver's error
// is matched by its Code method (modernc.org/sqlite's *sqlite.Error), so
// this package needs no SQL driver.
func Full(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) {
		return true
	}
	var c interface {
		error
		Code() int
	}
	return errors.As(err, &c) && c.Code()&0xff == sqliteFull && strings.Contains(c.Error(), "full")
}

// ReserveSize is the size of the reserve file: room for many small
// SQLite transactions (a delete writes a few 4 KiB pages to the WAL).
const ReserveSize = 4 << 20

// Reserve is a file of preallocated bytes in the data directory. On a full
// disk, releasing it frees enough space for a delete to commit; the
// Monitor fills it again once the disk has room.
type Reserve struct {
	path string
	size int64
	log  *slog.Logger
	mu   sync.Mutex
}

// NewReserve returns the reserve kept at path, of size bytes.
func NewReserve(path string, size int64, log *slog.Logger) *Reserve {
	return &Reserve{path: path, size: size, log: log}
}

// Held reports whether the reserve file exists at its full size.
func (r *Reserve) Held() bool {
	fi, err := os.Stat(r.path)
	return err == nil && fi.Size() == r.size
}

// Fill writes the reserve file if it is missing. On a disk without the
// room it fails and leaves no partial file.
func (r *Reserve) Fill() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Held() {
		return nil
	}
	tmp := r.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("reserve: %w", err)
	}
	// Zeros written (not a sparse file) so that the blocks are allocated,
	// on tmpfs too.
	_, err = io.CopyN(f, zeros{}, r.size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, r.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("reserve: %w", err)
	}
	return nil
}

// Release deletes the reserve file and reports whether there was one.
func (r *Reserve) Release() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	held := r.Held()
	os.Remove(r.path + ".tmp")
	return os.Remove(r.path) == nil && held
}

// Retry runs op; when op fails because the disk is full, it releases the
// reserve and runs op once more, so that a delete, which frees space,
// can commit on a full disk. The Monitor refills the reserve later.
func (r *Reserve) Retry(op func() error) error {
	err := op()
	if r == nil || !Full(err) {
		return err
	}
	if !r.Release() {
		return err
	}
	r.log.Warn("disk full: released the reserve file so that a delete can complete", "reserve_bytes", r.size)
	return op()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Threshold is the free space below which the disk counts as low: Bytes,
// or Percent of the file system's size, whichever is larger.
type Threshold struct {
	Bytes   int64
	Percent float64
}

// Status is the free space of the data directory at the last check.
type Status struct {
	// Known is false where free space cannot be measured.
	Known      bool  `json:"-"`
	FreeBytes  int64 `json:"free_bytes"`
	TotalBytes int64 `json:"total_bytes"`
	// MinFreeBytes is the threshold in bytes on this file system.
	MinFreeBytes int64 `json:"min_free_bytes"`
	Low          bool  `json:"low"`
	// ReserveHeld is whether the reserve file is in place.
	ReserveHeld bool `json:"reserve_held"`
}

// Monitor measures the free space of a directory now and then.
type Monitor struct {
	dir     string
	min     Threshold
	reserve *Reserve
	log     *slog.Logger
	last    atomic.Pointer[Status]
}

// NewMonitor returns a monitor of dir; reserve may be nil.
func NewMonitor(dir string, min Threshold, reserve *Reserve, log *slog.Logger) *Monitor {
	return &Monitor{dir: dir, min: min, reserve: reserve, log: log}
}

// Status returns the result of the last Check.
func (m *Monitor) Status() Status {
	if s := m.last.Load(); s != nil {
		return *s
	}
	return m.Check()
}

// Check measures the free space, logs when it crosses the threshold, and
// refills the reserve when there is room for it above the threshold.
func (m *Monitor) Check() Status {
	free, total, err := freeSpace(m.dir)
	st := Status{Known: err == nil, FreeBytes: free, TotalBytes: total}
	if st.Known {
		st.MinFreeBytes = max(m.min.Bytes, int64(float64(total)*m.min.Percent/100))
		st.Low = free < st.MinFreeBytes
	}
	if m.reserve != nil {
		st.ReserveHeld = m.reserve.Held()
		if st.Known && !st.ReserveHeld && free >= 2*m.reserve.size {
			if err := m.reserve.Fill(); err != nil {
				m.log.Warn("could not refill the disk reserve file", "err", err)
			} else {
				st.ReserveHeld = true
				st.FreeBytes -= m.reserve.size
				m.log.Info("disk reserve file refilled", "reserve_bytes", m.reserve.size)
			}
		}
	}
	prev := m.last.Swap(&st)
	switch {
	case st.Low && (prev == nil || !prev.Low):
		m.log.Warn("low disk space in the data directory: uploads and tasks will fail with 507 when it is full; delete assets or tasks, or add space",
			"free_bytes", st.FreeBytes, "total_bytes", st.TotalBytes, "min_free_bytes", st.MinFreeBytes)
	case !st.Low && prev != nil && prev.Low:
		m.log.Info("disk space in the data directory is above the threshold again", "free_bytes", st.FreeBytes, "min_free_bytes", st.MinFreeBytes)
	}
	return st
}

// Run checks every interval until ctx is done.
func (m *Monitor) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.Check()
		}
	}
}

// QuotaError is a write refused because the stored media would exceed the
// storage quota (--storage-quota).
type QuotaError struct {
	Limit int64 // bytes
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("the storage quota of %d bytes is used up", e.Limit)
}

type exemptKey struct{}

// WithoutQuota marks ctx so that writes under it are counted against the
// storage quota but never refused: background jobs (URL downloads, the
// assembly of uploaded chunks) finish what the API accepted.
func WithoutQuota(ctx context.Context) context.Context {
	return context.WithValue(ctx, exemptKey{}, true)
}

// QuotaExempt reports whether ctx was marked by WithoutQuota.
func QuotaExempt(ctx context.Context) bool {
	v, _ := ctx.Value(exemptKey{}).(bool)
	return v
}
