package api

import _ "embed"

// OpenAPI is the OpenAPI 3.1 document of framewise's HTTP API: every route,
// request and response body, status, error shape and header the server
// uses. The server serves it at GET /v1.3/openapi.json, and the end-to-end
// tests validate every response they receive against it.
//
//go:embed openapi.json
var OpenAPI []byte
