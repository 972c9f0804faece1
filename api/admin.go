package api

import "time"

// AdminBasePath is the path prefix of the admin routes: operators' routes
// outside the TwelveLabs API, authorized by an admin key (--admin-key).
const AdminBasePath = "/admin/v1"

// CreateAccountRequest is the body of POST /admin/v1/accounts.
type CreateAccountRequest struct {
	// Name is the account's name and id: 1 to 63 characters of a-z, 0-9,
	// "-" and "_", starting with a letter or digit.
	Name string `json:"name"`
}

// Account is an account as the admin routes show it.
type Account struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// ActiveKeys counts its API keys that are not revoked.
	ActiveKeys int `json:"active_keys"`
}

// CreatedAccount answers POST /admin/v1/accounts: the account and its
// first API key, which is shown this once and never again.
type CreatedAccount struct {
	Account
	APIKey string `json:"api_key"`
	KeyID  string `json:"key_id"`
}

// AccountList answers GET /admin/v1/accounts, sorted by name.
type AccountList struct {
	Data []Account `json:"data"`
}

// APIKey describes an API key of an account, without the key.
type APIKey struct {
	ID        string     `json:"id"`
	Account   string     `json:"account"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// CreatedAPIKey answers POST /admin/v1/accounts/{name}/keys; APIKey is
// shown this once and never again.
type CreatedAPIKey struct {
	APIKey
	Key string `json:"api_key"`
}

// APIKeyList answers GET /admin/v1/accounts/{name}/keys, oldest first,
// revoked keys included.
type APIKeyList struct {
	Data []APIKey `json:"data"`
}

// Error codes of the admin routes.
const (
	CodeAdminDisabled    = "admin_disabled"    // 403: the server has no admin key
	CodeTaskFinished     = "task_finished"     // 409: cancel of a ready or failed task
	CodeAccountExists    = "account_exists"    // 409: create with a name in use
	CodeAccountNotEmpty  = "account_not_empty" // 409: delete of an account that owns tasks, assets or uploads
	CodeAccountProtected = "account_protected" // 409: the default account cannot be deleted
)
