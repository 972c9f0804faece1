package httpapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"github.com/framewise/framewise/internal/account"
	"net/http"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/internal/apiconv"
	"github.com/framewise/framewise/internal/webhook"
)

// Webhooks manages webhook endpoints for the admin routes (webhook.Service).
type Webhooks interface {
	Add(ctx context.Context, account, url, description string) (*webhook.Endpoint, error)
	Endpoints(ctx context.Context, account string) ([]webhook.Endpoint, error)
	Endpoint(ctx context.Context, id string) (*webhook.Endpoint, error)
	Remove(ctx context.Context, id string) error
	Test(ctx context.Context, id string) (*webhook.TestResult, error)
	Redeliver(ctx context.Context, taskID, endpointID string) (int, error)
}

// Webhook admin error codes.
const (
	codeWebhooksOff = "webhooks_disabled"
	codeNotFinished = "task_not_finished"
)

// adminWebhooks wraps a webhook admin route: admin key, and 404 when the
// server has no webhook service.
func (s *Server) adminWebhooks(h handlerFunc) http.Handler {
	return s.adminEndpoint(func(r *http.Request) (int, any, error) {
		if s.webhooks == nil {
			return 0, nil, errorf(http.StatusNotFound, codeWebhooksOff, "This server does not deliver webhooks.")
		}
		status, body, err := h(r)
		return status, body, webhookError(r, err)
	})
}

func webhookError(r *http.Request, err error) error {
	var ie *webhook.InvalidError
	switch {
	case errors.As(err, &ie):
		return errorf(http.StatusBadRequest, api.CodeParameterInvalid, "%s", ie.Message)
	case errors.Is(err, webhook.ErrNotFound):
		return errorf(http.StatusNotFound, api.CodeResourceNotExist,
			"Webhook endpoint %s does not exist. List them with GET /admin/v1/webhooks.", cmp.Or(r.PathValue("webhook_id"), r.URL.Query().Get("webhook_id")))
	case errors.Is(err, account.ErrNotFound):
		return errorf(http.StatusNotFound, api.CodeResourceNotExist, "The account does not exist. List accounts with GET /admin/v1/accounts.")
	case errors.Is(err, webhook.ErrNotFinished):
		return errorf(http.StatusConflict, codeNotFinished, "The task is not ready or failed yet; its event is sent when it is.")
	}
	return err
}

// createWebhook is POST /admin/v1/webhooks: 201 with the endpoint and its secret.
func (s *Server) createWebhook(r *http.Request) (int, any, error) {
	var req api.CreateWebhookRequest
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return 0, nil, errorf(http.StatusBadRequest, api.CodeParameterInvalid,
			"The body must be a JSON object {\"url\": …, \"account\"?: …, \"description\"?: …}: %v.", err)
	}
	e, err := s.webhooks.Add(r.Context(), req.Account, req.URL, req.Description)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, apiconv.WebhookEndpoint(e, true), nil
}

// listWebhooks is GET /admin/v1/webhooks?account=NAME (default "default").
func (s *Server) listWebhooks(r *http.Request) (int, any, error) {
	list, err := s.webhooks.Endpoints(r.Context(), r.URL.Query().Get("account"))
	if err != nil {
		return 0, nil, err
	}
	out := api.WebhookEndpointList{Data: []api.WebhookEndpoint{}}
	for i := range list {
		out.Data = append(out.Data, apiconv.WebhookEndpoint(&list[i], false))
	}
	return http.StatusOK, out, nil
}

// getWebhook is GET /admin/v1/webhooks/{webhook_id}, with the secret.
func (s *Server) getWebhook(r *http.Request) (int, any, error) {
	e, err := s.webhooks.Endpoint(r.Context(), r.PathValue("webhook_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, apiconv.WebhookEndpoint(e, true), nil
}

// deleteWebhook is DELETE /admin/v1/webhooks/{webhook_id}: 204; pending
// deliveries to it stop.
func (s *Server) deleteWebhook(r *http.Request) (int, any, error) {
	if err := s.webhooks.Remove(r.Context(), r.PathValue("webhook_id")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// testWebhook is POST /admin/v1/webhooks/{webhook_id}/test: one signed
// test event, sent now; 200 with the outcome either way.
func (s *Server) testWebhook(r *http.Request) (int, any, error) {
	res, err := s.webhooks.Test(r.Context(), r.PathValue("webhook_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, api.WebhookTestResult{Delivered: res.Delivered, StatusCode: res.StatusCode, Error: res.Error}, nil
}

// redeliverWebhooks is POST /admin/v1/tasks/{task_id}/webhooks/redeliver
// [?webhook_id=ID]: the finished task's event is queued again for every
// enabled endpoint of its account (or that one); 202.
func (s *Server) redeliverWebhooks(r *http.Request) (int, any, error) {
	n, err := s.webhooks.Redeliver(r.Context(), r.PathValue("task_id"), r.URL.Query().Get("webhook_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, api.WebhookRedelivery{Queued: n}, nil
}
