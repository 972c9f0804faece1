package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/internal/apiconv"
	"github.com/framewise/framewise/internal/task"
)

// TaskCanceler cancels a task for an operator (task.Service.Cancel).
type TaskCanceler interface {
	Cancel(ctx context.Context, id string) (*task.Task, error)
}

// adminRoutes are the operator's routes under /v1.3/admin. They are not
// part of the TwelveLabs API: a separate list of keys authorizes them, and
// without one they are off.
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

// Admin error codes.
const (
	codeAdminDisabled = "admin_disabled"
	codeTaskFinished  = "task_finished"
)

// adminEndpoint is endpoint for the admin routes: an admin key instead of
// an API key, no rate limit, nested errors like the task routes.
func (s *Server) adminEndpoint(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.admin.keys) == 0 || s.admin.canceler == nil {
			s.writeError(w, r, nested, errorf(http.StatusForbidden, codeAdminDisabled,
				"The admin routes are off on this server. Start it with --admin-key (or FRAMEWISE_ADMIN_KEYS) to use them."))
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
		writeJSON(w, status, body)
	})
}

// cancelTask is POST /v1.3/admin/tasks/{task_id}/cancel: a queued, pending
// or processing task ends failed with task.CanceledMessage and its job is
// stopped; it answers 200 with the task. A ready or failed task is 409.
func (s *Server) cancelTask(r *http.Request) (int, any, error) {
	id := r.PathValue("task_id")
	t, err := s.admin.canceler.Cancel(r.Context(), id)
	if errors.Is(err, task.ErrFinished) {
		cur, gerr := s.tasks.Get(r.Context(), id)
		status := "finished"
		if gerr == nil {
			status = string(cur.Status)
		}
		return 0, nil, errorf(http.StatusConflict, codeTaskFinished,
			"The task is already %s; only a queued, pending or processing task can be canceled.", status)
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, apiconv.Task(t), nil
}
