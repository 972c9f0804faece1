package app

import (
	"net/http"

	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/config"
	"github.com/framewise/framewise/internal/webui"
)

// webUI is the web UI handler, or nil when --ui=false. Its pages may
// upload chunks to the object store when the store takes them directly.
func webUI(cfg config.Config, blobs blob.Store) http.Handler {
	if !cfg.UI {
		return nil
	}
	return webui.Handler(blob.DirectUploadOrigin(blobs))
}

// mediaBlobs is the store the media route reads videos from with ranged
// reads: the store itself, not its quota wrapper (reads need no quota);
// nil, leaving the route out, for a store without ranged reads.
func mediaBlobs(s blob.Store) blob.Ranged {
	r, _ := s.(blob.Ranged)
	return r
}
