package store

import "testing"

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
