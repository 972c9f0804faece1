package httpapi

import (
	"mime"
	"net/http"
	"strings"
)

// uiPattern routes the web UI's files (Options.UI). The UI is not part of
// the API: it is not in api/openapi.json, and it reaches the API like any
// other client.
const uiPattern = "GET /ui/"

// acceptsHTML reports whether a request to / comes from a browser: its
// Accept header names text/html. API clients (curl sends */*, the SDKs
// application/json) keep the JSON service description.
func acceptsHTML(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, params, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/html" && params["q"] != "0" {
			return true
		}
	}
	return false
}
