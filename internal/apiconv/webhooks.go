package apiconv

import (
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/internal/webhook"
)

// WebhookEndpoint converts an endpoint; withSecret includes its signing secret.
func WebhookEndpoint(e *webhook.Endpoint, withSecret bool) api.WebhookEndpoint {
	out := api.WebhookEndpoint{ID: e.ID, Account: e.AccountID, URL: e.URL, Enabled: e.Enabled, Description: e.Description,
		CreatedAt: e.CreatedAt.Truncate(time.Millisecond)}
	if withSecret {
		out.Secret = e.Secret
	}
	return out
}
