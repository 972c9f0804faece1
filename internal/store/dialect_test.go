package store

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT 1`:                           `SELECT 1`,
		`a = ? AND b IN (?,?)`:               `a = $1 AND b IN ($2,$3)`,
		`x LIKE ? ESCAPE '\' AND y = ?`:      `x LIKE $1 ESCAPE '\' AND y = $2`,
		`note = 'what?' AND "odd?col" = ?`:   `note = 'what?' AND "odd?col" = $1`,
		`s = 'it''s?' AND t = ?`:             `s = 'it''s?' AND t = $1`,
		`coalesce(?, account_id) AND z = ? `: `coalesce($1, account_id) AND z = $2 `,
	} {
		if got := rebind(in); got != want {
			t.Errorf("rebind(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnavailable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("constraint failed"), false},
		{&fs.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}, false},
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "57P01"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{fmt.Errorf("get task: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), true},
		{fmt.Errorf("begin: %w", driver.ErrBadConn), true},
	} {
		if got := Unavailable(tc.err); got != tc.want {
			t.Errorf("Unavailable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
