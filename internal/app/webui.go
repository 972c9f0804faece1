package app

import (
	"net/http"

	"github.com/framewise/framewise/internal/config"
	"github.com/framewise/framewise/internal/webui"
)

// webUI is the web UI handler, or nil when --ui=false.
func webUI(cfg config.Config) http.Handler {
	if !cfg.UI {
		return nil
	}
	return webui.Handler()
}
