package diskspace

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// sqliteErr looks like modernc.org/sqlite's *Error.
type sqliteErr struct {
	code int
	msg  string
}

func (e *sqliteErr) Error() string { return e.msg }
func (e *sqliteErr) Code() int     { return e.code }

func TestFull(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"enospc", &fs.PathError{Op: "write", Path: "/data/x", Err: syscall.ENOSPC}, true},
		{"wrapped enospc", fmt.Errorf("blob: put k: %w", &fs.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}), true},
		{"sqlite full", fmt.Errorf("delete: %w", &sqliteErr{13, "database or disk is full (13)"}), true},
		{"sqlite busy", &sqliteErr{5, "database is locked (5)"}, false},
		{"other code 13", &sqliteErr{13, "permission denied"}, false},
		{"eacces", &fs.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, false},
		{"plain", errors.New("disk is full"), false},
	} {
		if got := Full(c.err); got != c.want {
			t.Errorf("%s: Full = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestReserveRetry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := NewReserve(filepath.Join(dir, "reserve"), 64<<10, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := r.Fill(); err != nil || !r.Held() {
		t.Fatalf("fill: %v, held %v", err, r.Held())
	}
	full := &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
	calls := 0
	err := r.Retry(func() error {
		calls++
		if calls == 1 {
			return full
		}
		return nil
	})
	if err != nil || calls != 2 || r.Held() {
		t.Fatalf("retry: err %v, calls %d, held %v", err, calls, r.Held())
	}
	// Without a reserve to release, the error stands.
	calls = 0
	if err := r.Retry(func() error { calls++; return full }); !Full(err) || calls != 1 {
		t.Fatalf("retry without reserve: %v after %d calls", err, calls)
	}
	// Other errors are not retried.
	if err := r.Retry(func() error { return os.ErrPermission }); !errors.Is(err, os.ErrPermission) {
		t.Fatal(err)
	}
}

func TestMonitorRefillsAndWarns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := NewReserve(filepath.Join(dir, "reserve"), 64<<10, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m := NewMonitor(dir, Threshold{Percent: 99.99}, r, slog.New(slog.NewTextHandler(io.Discard, nil)))
	st := m.Check()
	if !st.Known {
		t.Skip("free space is not measured on this system")
	}
	if !st.ReserveHeld || !r.Held() || !st.Low || st.MinFreeBytes <= 0 || st.TotalBytes <= 0 {
		t.Fatalf("status %+v", st)
	}
}
