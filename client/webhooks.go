package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/framewise/framewise/api"
)

// Webhook endpoints are managed by operators through framewise routes
// outside the TwelveLabs API (api.AdminBasePath); the client's API key must
// be one of the server's admin keys (--admin-key). Receivers verify
// notifications with package client/webhook.

const webhooksPath = api.AdminBasePath + "/webhooks"

// CreateWebhook registers an endpoint for the account in req (empty:
// "default") and returns it with its signing secret. A URL that is not
// http(s) or, without --allow-private-urls on the server, resolves to a
// private address is refused (ErrBadRequest).
func (c *Client) CreateWebhook(ctx context.Context, req *api.CreateWebhookRequest, opts ...CallOption) (*api.WebhookEndpoint, error) {
	if req == nil {
		return nil, errors.New("framewise: CreateWebhook: nil request")
	}
	r, err := jsonRequest("CreateWebhook", http.MethodPost, webhooksPath, req, opts)
	if err != nil {
		return nil, err
	}
	r.admin = true
	var out api.WebhookEndpoint
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListWebhooks returns the endpoints of account (empty: "default"), without secrets.
func (c *Client) ListWebhooks(ctx context.Context, account string, opts ...CallOption) ([]api.WebhookEndpoint, error) {
	var q url.Values
	if account != "" {
		q = url.Values{"account": {account}}
	}
	var out api.WebhookEndpointList
	r := &request{method: http.MethodGet, path: webhooksPath, query: q, admin: true, call: callOptions(opts)}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// GetWebhook returns one endpoint with its secret.
func (c *Client) GetWebhook(ctx context.Context, id string, opts ...CallOption) (*api.WebhookEndpoint, error) {
	if id == "" {
		return nil, errors.New("framewise: GetWebhook: empty id")
	}
	var out api.WebhookEndpoint
	r := &request{method: http.MethodGet, path: webhooksPath + "/" + url.PathEscape(id), admin: true, call: callOptions(opts)}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteWebhook removes an endpoint; pending deliveries to it stop.
func (c *Client) DeleteWebhook(ctx context.Context, id string, opts ...CallOption) error {
	if id == "" {
		return errors.New("framewise: DeleteWebhook: empty id")
	}
	r := &request{method: http.MethodDelete, path: webhooksPath + "/" + url.PathEscape(id), admin: true, call: callOptions(opts)}
	return c.do(ctx, r, nil)
}

// TestWebhook makes the server send one signed test event to the endpoint
// now and reports whether it answered 2xx.
func (c *Client) TestWebhook(ctx context.Context, id string, opts ...CallOption) (*api.WebhookTestResult, error) {
	if id == "" {
		return nil, errors.New("framewise: TestWebhook: empty id")
	}
	var out api.WebhookTestResult
	r := &request{method: http.MethodPost, path: webhooksPath + "/" + url.PathEscape(id) + "/test", admin: true, call: callOptions(opts)}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RedeliverWebhooks queues a finished task's event again for the enabled
// endpoints of its account (only webhookID when not empty) and returns how
// many. A task not yet ready or failed gives an error matching ErrConflict.
func (c *Client) RedeliverWebhooks(ctx context.Context, taskID, webhookID string, opts ...CallOption) (int, error) {
	if taskID == "" {
		return 0, errors.New("framewise: RedeliverWebhooks: empty task id")
	}
	var q url.Values
	if webhookID != "" {
		q = url.Values{"webhook_id": {webhookID}}
	}
	var out api.WebhookRedelivery
	r := &request{method: http.MethodPost, path: api.AdminBasePath + "/tasks/" + url.PathEscape(taskID) + "/webhooks/redeliver",
		query: q, admin: true, idempotent: true, call: callOptions(opts)}
	if err := c.do(ctx, r, &out); err != nil {
		return 0, err
	}
	return out.Queued, nil
}
