package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/framewise/framewise/api"
)

// The admin methods call framewise's operator routes under /admin/v1,
// outside the TwelveLabs API. The client's API key must be one of the
// server's admin keys (--admin-key); a server without admin keys answers
// 403 (code "admin_disabled").

// CreateAccount creates an account and returns it with its first API key,
// which the server shows this once. A name in use gives an error matching
// ErrConflict.
func (c *Client) CreateAccount(ctx context.Context, name string, opts ...CallOption) (*api.CreatedAccount, error) {
	r, err := jsonRequest("CreateAccount", http.MethodPost, api.AdminBasePath+"/accounts", api.CreateAccountRequest{Name: name}, opts)
	if err != nil {
		return nil, err
	}
	r.admin = true
	var out api.CreatedAccount
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAccounts returns every account, sorted by name.
func (c *Client) ListAccounts(ctx context.Context, opts ...CallOption) (*api.AccountList, error) {
	var out api.AccountList
	r := &request{method: http.MethodGet, path: api.AdminBasePath + "/accounts", admin: true, call: callOptions(opts)}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteAccount deletes an account and its keys. While the account owns
// tasks, assets or active uploads the server refuses (ErrConflict, code
// "account_not_empty"); the default account cannot be deleted.
func (c *Client) DeleteAccount(ctx context.Context, name string, opts ...CallOption) error {
	if name == "" {
		return errors.New("framewise: DeleteAccount: empty name")
	}
	r := &request{method: http.MethodDelete, path: api.AdminBasePath + "/accounts/" + url.PathEscape(name), admin: true, call: callOptions(opts)}
	return c.do(ctx, r, nil)
}

// CreateKey adds an API key to an account; the key is shown this once.
func (c *Client) CreateKey(ctx context.Context, account string, opts ...CallOption) (*api.CreatedAPIKey, error) {
	if account == "" {
		return nil, errors.New("framewise: CreateKey: empty account")
	}
	var out api.CreatedAPIKey
	r := &request{method: http.MethodPost, path: api.AdminBasePath + "/accounts/" + url.PathEscape(account) + "/keys", admin: true, call: callOptions(opts)}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListKeys returns the ids of an account's keys, revoked ones included;
// never the keys.
func (c *Client) ListKeys(ctx context.Context, account string, opts ...CallOption) (*api.APIKeyList, error) {
	if account == "" {
		return nil, errors.New("framewise: ListKeys: empty account")
	}
	var out api.APIKeyList
	r := &request{method: http.MethodGet, path: api.AdminBasePath + "/accounts/" + url.PathEscape(account) + "/keys", admin: true, call: callOptions(opts)}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeKey revokes an API key by its id: every request with it from then
// on is refused with 401, in every server process.
func (c *Client) RevokeKey(ctx context.Context, id string, opts ...CallOption) (*api.APIKey, error) {
	if id == "" {
		return nil, errors.New("framewise: RevokeKey: empty key id")
	}
	var out api.APIKey
	r := &request{method: http.MethodDelete, path: api.AdminBasePath + "/keys/" + url.PathEscape(id), admin: true, call: callOptions(opts)}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
