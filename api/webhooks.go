package api

import "time"

// Webhook admin routes (framewise, outside the TwelveLabs API): endpoints
// are managed per account under AdminBasePath with an admin key.

// CreateWebhookRequest is the body of POST /admin/v1/webhooks.
type CreateWebhookRequest struct {
	// Account owns the endpoint; empty means "default".
	Account     string `json:"account,omitempty"`
	URL         string `json:"url"`
	Description string `json:"description,omitempty"`
}

// WebhookEndpoint is an endpoint. Secret, the signing key of its
// TL-Signature headers, is returned when the endpoint is created and by
// GET /admin/v1/webhooks/{webhook_id}, never in lists.
type WebhookEndpoint struct {
	ID          string    `json:"id"`
	Account     string    `json:"account"`
	URL         string    `json:"url"`
	Secret      string    `json:"secret,omitempty"`
	Enabled     bool      `json:"enabled"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
}

// WebhookEndpointList is the body of GET /admin/v1/webhooks.
type WebhookEndpointList struct {
	Data []WebhookEndpoint `json:"data"`
}

// WebhookTestResult is the body of POST /admin/v1/webhooks/{webhook_id}/test:
// whether the endpoint acknowledged a signed test event with a 2xx.
type WebhookTestResult struct {
	Delivered  bool   `json:"delivered"`
	StatusCode int    `json:"status_code,omitempty"`
	Error      string `json:"error,omitempty"`
}

// WebhookRedelivery is the body of POST /admin/v1/tasks/{task_id}/webhooks/redeliver.
type WebhookRedelivery struct {
	// Queued is the number of endpoints the task's event was queued for.
	Queued int `json:"queued"`
}
