package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/framewise/framewise/internal/account"
)

// ownedBy restricts a query to the rows of one account; its argument is
// owner(ctx). The server's own work (a context without an account) passes
// NULL, which matches every row.
const ownedBy = `account_id = coalesce(?, account_id)`

// owner is the argument of ownedBy.
func owner(ctx context.Context) any {
	if name, ok := account.FromContext(ctx); ok {
		return name
	}
	return nil
}

// Accounts keeps accounts and their API keys (hashes only).
type Accounts struct {
	db  *DB
	now func() time.Time
}

// NewAccounts returns the account store.
func NewAccounts(db *DB) *Accounts { return &Accounts{db: db, now: time.Now} }

// CreateAccount creates the account name with its first API key, and
// returns the key's id and the key, which is not stored.
func (s *Accounts) CreateAccount(ctx context.Context, name string) (keyID, key string, err error) {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return "", "", fmt.Errorf("create account: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO accounts (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, s.now().UnixMicro())
	if err != nil {
		return "", "", fmt.Errorf("create account: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", "", account.ErrExists
	}
	if keyID, key, err = s.insertKey(ctx, tx, name); err != nil {
		return "", "", err
	}
	return keyID, key, tx.Commit()
}

func (s *Accounts) insertKey(ctx context.Context, tx *Tx, name string) (id, key string, err error) {
	id, key = account.NewKey()
	if _, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, account_id, hash, created_at) VALUES (?, ?, ?, ?)`,
		id, name, account.Hash(key), s.now().UnixMicro()); err != nil {
		return "", "", fmt.Errorf("create key: %w", err)
	}
	return id, key, nil
}

// ListAccounts returns every account, by name, with its number of active keys.
func (s *Accounts) ListAccounts(ctx context.Context) ([]account.Account, error) {
	rows, err := s.db.Reader.QueryContext(ctx, `SELECT a.name, a.created_at,
		(SELECT count(*) FROM api_keys k WHERE k.account_id = a.name AND k.revoked_at IS NULL)
		FROM accounts a ORDER BY a.name`)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	out := []account.Account{}
	for rows.Next() {
		var a account.Account
		var created int64
		if err := rows.Scan(&a.Name, &created, &a.Keys); err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		a.CreatedAt = time.UnixMicro(created).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeleteAccount deletes an account with its keys (revoked at once), its
// idempotency keys and its finished upload sessions. It refuses with
// *account.OwnsDataError while the account owns tasks, assets or active
// uploads: those hold files, and deleting them is the account's own call
// (DELETE on each), not a side effect of an admin typo.
func (s *Accounts) DeleteAccount(ctx context.Context, name string) error {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM accounts WHERE name = ?`, name).Scan(&n); err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	if n == 0 {
		return account.ErrNotFound
	}
	owns := account.OwnsDataError{Account: name}
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM tasks WHERE account_id = ?),
		(SELECT count(*) FROM assets WHERE account_id = ?),
		(SELECT count(*) FROM uploads WHERE account_id = ? AND status = 'active')`, name, name, name).
		Scan(&owns.Tasks, &owns.Assets, &owns.Uploads); err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	if owns.Tasks+owns.Assets+owns.Uploads > 0 {
		return &owns
	}
	for _, q := range []string{
		`DELETE FROM idempotency_keys WHERE account_id = ?`,
		`DELETE FROM webhook_endpoints WHERE account_id = ?`, // its tasks, and so their deliveries, are gone
		`DELETE FROM uploads WHERE account_id = ?`,
		`DELETE FROM accounts WHERE name = ?`, // its keys go with it (ON DELETE CASCADE)
	} {
		if _, err := tx.ExecContext(ctx, q, name); err != nil {
			return fmt.Errorf("delete account: %w", err)
		}
	}
	return tx.Commit()
}

// CreateKey adds an API key to an account and returns its id and the key.
func (s *Accounts) CreateKey(ctx context.Context, name string) (id, key string, err error) {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return "", "", fmt.Errorf("create key: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM accounts WHERE name = ?`, name).Scan(&n); err != nil {
		return "", "", fmt.Errorf("create key: %w", err)
	}
	if n == 0 {
		return "", "", account.ErrNotFound
	}
	if id, key, err = s.insertKey(ctx, tx, name); err != nil {
		return "", "", err
	}
	return id, key, tx.Commit()
}

// ListKeys returns the keys of an account, oldest first, revoked ones
// included; never the keys themselves.
func (s *Accounts) ListKeys(ctx context.Context, name string) ([]account.Key, error) {
	var n int
	if err := s.db.Reader.QueryRowContext(ctx, `SELECT count(*) FROM accounts WHERE name = ?`, name).Scan(&n); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	if n == 0 {
		return nil, account.ErrNotFound
	}
	rows, err := s.db.Reader.QueryContext(ctx, `SELECT id, account_id, created_at, revoked_at FROM api_keys
		WHERE account_id = ? ORDER BY created_at, id`, name)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	out := []account.Key{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *k)
	}
	return out, rows.Err()
}

func scanKey(s interface{ Scan(...any) error }) (*account.Key, error) {
	var k account.Key
	var created int64
	var revoked sql.NullInt64
	if err := s.Scan(&k.ID, &k.Account, &created, &revoked); err != nil {
		return nil, err
	}
	k.CreatedAt = time.UnixMicro(created).UTC()
	if revoked.Valid {
		r := time.UnixMicro(revoked.Int64).UTC()
		k.RevokedAt = &r
	}
	return &k, nil
}

// RevokeKey revokes a key (again is a no-op) and returns it;
// account.ErrKeyNotFound when there is none.
func (s *Accounts) RevokeKey(ctx context.Context, id string) (*account.Key, error) {
	if _, err := s.db.Writer.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
		s.now().UnixMicro(), id); err != nil {
		return nil, fmt.Errorf("revoke key: %w", err)
	}
	k, err := scanKey(s.db.Writer.QueryRowContext(ctx, `SELECT id, account_id, created_at, revoked_at FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, account.ErrKeyNotFound
	}
	return k, err
}

// Authenticate returns the account of an API key: account.ErrKeyNotFound
// for a key that was never issued, account.ErrRevoked for a revoked one.
// It reads the database on every call, so a revoke holds at once in every
// process that shares it.
func (s *Accounts) Authenticate(ctx context.Context, key string) (string, error) {
	h := account.Hash(key)
	var name, stored string
	var revoked sql.NullInt64
	err := s.db.Reader.QueryRowContext(ctx, `SELECT account_id, hash, revoked_at FROM api_keys WHERE hash = ?`, h).Scan(&name, &stored, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return "", account.ErrKeyNotFound
	}
	if err != nil {
		return "", fmt.Errorf("authenticate: %w", err)
	}
	// The index found the row by hash; compare in constant time anyway.
	if subtle.ConstantTimeCompare([]byte(stored), []byte(h)) != 1 {
		return "", account.ErrKeyNotFound
	}
	if revoked.Valid {
		return "", account.ErrRevoked
	}
	return name, nil
}
