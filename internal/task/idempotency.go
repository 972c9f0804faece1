package task

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// IdempotencyTTL is how long an Idempotency-Key is remembered (spec Q4).
const IdempotencyTTL = 24 * time.Hour

// MaxIdempotencyKey is the longest Idempotency-Key accepted, in bytes.
const MaxIdempotencyKey = 255

// Idempotency ties a create request to the Idempotency-Key it carried: the
// first request with a key creates the task; a request with the same scope
// and key within IdempotencyTTL creates nothing and is answered with that
// task, or refused when its body differs.
type Idempotency struct {
	// Scope says who sent the key (a hash of the API key; "" on a server
	// without keys), so that two clients cannot collide.
	Scope string
	Key   string
}

// KeyRecord is what the store remembers of a used key.
type KeyRecord struct {
	TaskID     string
	BodySHA256 string
	CreatedAt  time.Time
}

// KeyStore remembers idempotency keys; the task Store implements it.
type KeyStore interface {
	// LookupKey returns the record of scope and key created at or after
	// since, or nil when there is none.
	LookupKey(ctx context.Context, scope, key string, since time.Time) (*KeyRecord, error)
	// CreateWithKey is Create that also stores, under scope and key, the
	// record of t (its id and creation time) and of the body that created
	// it, in the same transaction, after dropping records older than since.
	// When an unexpired record of scope and key exists it creates nothing
	// and returns that record.
	CreateWithKey(ctx context.Context, t *Task, scope, key, bodySHA256 string, since time.Time) (*KeyRecord, error)
}

// ValidIdempotencyKey reports whether key may be used: 1 to 255 printable
// ASCII characters.
func ValidIdempotencyKey(key string) bool {
	if key == "" || len(key) > MaxIdempotencyKey {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return false
		}
	}
	return true
}

func bodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// replay answers a request whose key was used before: with the task it
// created when the body is the same, else with a 422.
func replay(rec *KeyRecord, key string, body []byte) (*Task, error) {
	if rec.BodySHA256 != bodyHash(body) {
		return nil, &ValidationError{Status: 422, Code: "idempotency_key_reused", Param: "Idempotency-Key",
			Message: fmt.Sprintf("The Idempotency-Key %q was used at %s for a different request body (task %s). "+
				"Send the same body to get that task again, or use a new key for a new request.",
				key, rec.CreatedAt.UTC().Format(time.RFC3339), rec.TaskID)}
	}
	return &Task{ID: rec.TaskID, Status: Queued, CreatedAt: rec.CreatedAt}, nil
}
