// Package account owns who a request acts for. An account owns API keys,
// tasks, assets, multipart uploads and idempotency keys; the HTTP layer
// puts the account of a request's key into its context (NewContext), and
// the store scopes every query to the account it finds there.
//
// A context without an account is the server's own work (queue workers,
// expiry sweeps): the store does not scope it. Every API endpoint runs
// with an account, so only internal callers ever see all rows.
//
// API keys are random (256 bits), shown once, and stored as their SHA-256
// hash only: a hash of a high-entropy secret cannot be reversed, and a
// lookup by hash reveals nothing of the key to a timing observer.
package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Default is the account of the keys given by --api-key and of the open
// loopback mode (no keys); it always exists and cannot be deleted.
const Default = "default"

// KeyPrefix starts every generated API key, so that a leaked key is easy
// to recognise in logs and secret scanners.
const KeyPrefix = "fw_"

// Account is a tenant of the server. Its name is its id.
type Account struct {
	Name      string
	CreatedAt time.Time
	// Keys is the number of its keys that are not revoked.
	Keys int
}

// Key is an API key of an account, without the key itself.
type Key struct {
	ID        string
	Account   string
	CreatedAt time.Time
	RevokedAt *time.Time
}

// Errors of the account store.
var (
	ErrNotFound    = errors.New("account not found")
	ErrKeyNotFound = errors.New("key not found")
	ErrExists      = errors.New("account exists")
	// ErrRevoked: the key was revoked; a request with it is refused.
	ErrRevoked = errors.New("key revoked")
)

// OwnsDataError refuses to delete an account that still owns data.
type OwnsDataError struct {
	Account                string
	Tasks, Assets, Uploads int
}

func (e *OwnsDataError) Error() string {
	return fmt.Sprintf("account %s still owns %d tasks, %d assets and %d active uploads", e.Account, e.Tasks, e.Assets, e.Uploads)
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidName reports whether name can name an account: 1 to 63 lowercase
// letters, digits, "-" and "_", starting with a letter or digit.
func ValidName(name string) bool { return namePattern.MatchString(name) }

type ctxKey struct{}

// NewContext returns ctx acting for account name.
func NewContext(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, ctxKey{}, name)
}

// FromContext returns the account ctx acts for; ok is false for the
// server's own work.
func FromContext(ctx context.Context) (name string, ok bool) {
	name, ok = ctx.Value(ctxKey{}).(string)
	return name, ok
}

// Owner is the account a row created under ctx belongs to: the context's,
// or Default for the server's own work.
func Owner(ctx context.Context) string {
	if name, ok := FromContext(ctx); ok {
		return name
	}
	return Default
}

// NewKey returns a new random API key and its id.
func NewKey() (id, key string) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	var i [8]byte
	_, _ = rand.Read(i[:])
	return "key_" + hex.EncodeToString(i[:]), KeyPrefix + hex.EncodeToString(b[:])
}

// Hash is what the store keeps of a key.
func Hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
