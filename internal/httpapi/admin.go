package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/internal/account"
	"github.com/framewise/framewise/internal/apiconv"
	"github.com/framewise/framewise/internal/task"
)

// TaskCanceler cancels a task for an operator (task.Service.Cancel).
type TaskCanceler interface {
	Cancel(ctx context.Context, id string) (*task.Task, error)
}

// Accounts is what the API needs of the account store (store.Accounts):
// authenticating API keys, and managing accounts and keys for the admin
// routes.
type Accounts interface {
	// Authenticate returns the account of an API key, account.ErrKeyNotFound
	// or account.ErrRevoked.
	Authenticate(ctx context.Context, key string) (string, error)
	CreateAccount(ctx context.Context, name string) (keyID, key string, err error)
	ListAccounts(ctx context.Context) ([]account.Account, error)
	DeleteAccount(ctx context.Context, name string) error
	CreateKey(ctx context.Context, name string) (id, key string, err error)
	ListKeys(ctx context.Context, name string) ([]account.Key, error)
	RevokeKey(ctx context.Context, id string) (*account.Key, error)
}

// adminRoutes are the operator's routes under /admin/v1. They are not
// part of the TwelveLabs API: a separate list of keys authorizes them, and
// without one they are off. They act across accounts: their context has
// no account.
type adminRoutes struct {
	keys     [][]byte
	canceler TaskCanceler
}

func newAdminRoutes(keys []string, c TaskCanceler) adminRoutes {
	a := adminRoutes{canceler: c}
	for _, k := range keys {
		a.keys = append(a.keys, []byte(k))
	}
	return a
}

// adminEndpoint is endpoint for the admin routes: an admin key instead of
// an API key, no rate limit, nested errors like the task routes.
func (s *Server) adminEndpoint(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.admin.keys) == 0 {
			s.writeError(w, r, nested, errorf(http.StatusForbidden, api.CodeAdminDisabled,
				"The admin routes are off on this server. Start it with --admin-key (or FRAMEWISE_ADMIN_KEY) to use them."))
			return
		}
		got := []byte(r.Header.Get("x-api-key"))
		ok := 0
		for _, k := range s.admin.keys {
			ok |= subtle.ConstantTimeCompare(got, k)
		}
		if ok != 1 {
			s.writeError(w, r, nested, errorf(http.StatusUnauthorized, api.CodeAPIKeyInvalid,
				"The admin key is missing or invalid. Send one of the server's admin keys (--admin-key) in the x-api-key header."))
			return
		}
		status, body, err := h(r)
		if err != nil {
			s.writeError(w, r, nested, err)
			return
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, body)
	})
}

// cancelTask is POST /admin/v1/tasks/{task_id}/cancel: a queued, pending
// or processing task of any account ends failed with task.CanceledMessage
// and its job is stopped; it answers 200 with the task. A ready or failed
// task is 409.
func (s *Server) cancelTask(r *http.Request) (int, any, error) {
	id := r.PathValue("task_id")
	if s.admin.canceler == nil {
		return 0, nil, errorf(http.StatusForbidden, api.CodeAdminDisabled, "This server cannot cancel tasks.")
	}
	t, err := s.admin.canceler.Cancel(r.Context(), id)
	if errors.Is(err, task.ErrFinished) {
		cur, gerr := s.tasks.Get(r.Context(), id)
		status := "finished"
		if gerr == nil {
			status = string(cur.Status)
		}
		return 0, nil, errorf(http.StatusConflict, api.CodeTaskFinished,
			"The task is already %s; only a queued, pending or processing task can be canceled.", status)
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, apiconv.Task(t), nil
}

// accountError maps the account store's errors to the wire.
func accountError(err error, name string) error {
	var owns *account.OwnsDataError
	switch {
	case errors.Is(err, account.ErrNotFound):
		return errorf(http.StatusNotFound, api.CodeResourceNotExist, "Account %s does not exist. List accounts with GET /admin/v1/accounts.", name)
	case errors.Is(err, account.ErrKeyNotFound):
		return errorf(http.StatusNotFound, api.CodeResourceNotExist, "Key %s does not exist. List an account's keys with GET /admin/v1/accounts/{name}/keys.", name)
	case errors.Is(err, account.ErrExists):
		return errorf(http.StatusConflict, api.CodeAccountExists, "Account %s exists already. Pick another name, or add a key to it with POST /admin/v1/accounts/%s/keys.", name, name)
	case errors.As(err, &owns):
		return errorf(http.StatusConflict, api.CodeAccountNotEmpty,
			"Account %s still owns %d tasks, %d assets and %d active multipart uploads. Delete them with its API key first, then delete the account.",
			name, owns.Tasks, owns.Assets, owns.Uploads)
	}
	return err
}

func (s *Server) createAccount(r *http.Request) (int, any, error) {
	var req api.CreateAccountRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return 0, nil, errorf(http.StatusBadRequest, api.CodeParameterInvalid, `The body must be a JSON object such as {"name": "acme"}: %v.`, err)
	}
	if !account.ValidName(req.Name) {
		return 0, nil, errorf(http.StatusBadRequest, api.CodeParameterInvalid,
			`The name %q is not valid: use 1 to 63 characters of a-z, 0-9, "-" and "_", starting with a letter or digit.`, req.Name)
	}
	keyID, key, err := s.accounts.CreateAccount(r.Context(), req.Name)
	if err != nil {
		return 0, nil, accountError(err, req.Name)
	}
	s.log.Info("account created", "request_id", requestID(r), "account", req.Name, "key_id", keyID)
	return http.StatusCreated, api.CreatedAccount{Account: api.Account{Name: req.Name, CreatedAt: s.now().UTC(), ActiveKeys: 1},
		APIKey: key, KeyID: keyID}, nil
}

func (s *Server) listAccounts(r *http.Request) (int, any, error) {
	list, err := s.accounts.ListAccounts(r.Context())
	if err != nil {
		return 0, nil, err
	}
	out := api.AccountList{Data: make([]api.Account, 0, len(list))}
	for _, a := range list {
		out.Data = append(out.Data, api.Account{Name: a.Name, CreatedAt: a.CreatedAt, ActiveKeys: a.Keys})
	}
	return http.StatusOK, out, nil
}

func (s *Server) deleteAccount(r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	if name == account.Default {
		return 0, nil, errorf(http.StatusConflict, api.CodeAccountProtected,
			"The default account holds the data of --api-key keys and of the open mode; it cannot be deleted.")
	}
	if err := s.accounts.DeleteAccount(r.Context(), name); err != nil {
		return 0, nil, accountError(err, name)
	}
	s.log.Info("account deleted", "request_id", requestID(r), "account", name)
	return http.StatusNoContent, nil, nil
}

func (s *Server) createKey(r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	id, key, err := s.accounts.CreateKey(r.Context(), name)
	if err != nil {
		return 0, nil, accountError(err, name)
	}
	s.log.Info("API key created", "request_id", requestID(r), "account", name, "key_id", id)
	return http.StatusCreated, api.CreatedAPIKey{APIKey: api.APIKey{ID: id, Account: name, CreatedAt: s.now().UTC()}, Key: key}, nil
}

func (s *Server) listKeys(r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	keys, err := s.accounts.ListKeys(r.Context(), name)
	if err != nil {
		return 0, nil, accountError(err, name)
	}
	out := api.APIKeyList{Data: make([]api.APIKey, 0, len(keys))}
	for _, k := range keys {
		out.Data = append(out.Data, wireKey(k))
	}
	return http.StatusOK, out, nil
}

// revokeKey is DELETE /admin/v1/keys/{key_id}: the key is refused from
// its next request on, in every process (keys are looked up per request).
func (s *Server) revokeKey(r *http.Request) (int, any, error) {
	id := r.PathValue("key_id")
	k, err := s.accounts.RevokeKey(r.Context(), id)
	if err != nil {
		return 0, nil, accountError(err, id)
	}
	s.log.Info("API key revoked", "request_id", requestID(r), "account", k.Account, "key_id", id)
	return http.StatusOK, wireKey(*k), nil
}

func wireKey(k account.Key) api.APIKey {
	return api.APIKey{ID: k.ID, Account: k.Account, CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt}
}
