package httpapi

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/internal/account"
	"github.com/framewise/framewise/internal/asset"
	"github.com/framewise/framewise/internal/blob"
)

// MediaTTL is how long a media URL stays valid. A player that is still
// playing when it expires gets 403 on its next range request and asks for
// a new URL (the web UI does so on the video's error event).
const MediaTTL = time.Hour

// MediaPath is the path prefix of media URLs: MediaPath + task id + "?" +
// the signed query.
const MediaPath = "/media/tasks/"

// MediaBlobs is what the media route needs of the blob store: ranged
// reads of a stored video (blob.Local and blob.S3 do them), so that a
// seek reads only what it needs.
type MediaBlobs = blob.Ranged

// createMediaURL is POST /v1.3/analyze/tasks/{task_id}/media: a
// short-lived signed URL of the task's stored source video, for players
// (an HTML5 <video> element) that cannot send x-api-key. Like every task
// route it is account-scoped: another account's task is 404.
func (s *Server) createMediaURL(r *http.Request) (int, any, error) {
	id := r.PathValue("task_id")
	t, err := s.tasks.Get(r.Context(), id)
	if err != nil {
		return 0, nil, err
	}
	if t.BlobKey == "" {
		return 0, nil, errorf(http.StatusConflict, "media_not_ready",
			"The video of task %s is not stored yet: a video given by URL is downloaded when the task starts. Try again once its status is processing.", id)
	}
	base, err := s.baseURL(r)
	if err != nil {
		return 0, nil, err
	}
	exp := s.now().Add(MediaTTL).UTC().Truncate(time.Second)
	return http.StatusOK, api.MediaURL{URL: base + MediaPath + id + "?" + s.mediaSigner.SignMedia(accountOf(r), id, exp), ExpiresAt: exp}, nil
}

// serveMedia is GET /media/tasks/{task_id}: the target of a signed media
// URL. The signature authorizes it, not an API key. It serves the task's
// stored source with range requests (http.ServeContent), as a video or
// audio type only, never as a type a browser would run.
func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("task_id")
	acct, err := s.mediaSigner.VerifyMedia(id, r.URL.Query(), s.now())
	switch {
	case errors.Is(err, asset.ErrMediaExpired):
		s.writeError(w, r, flat, errorf(http.StatusForbidden, "media_url_expired",
			"This media URL has expired. Ask for a new one: POST /v1.3/analyze/tasks/%s/media.", id))
		return
	case err != nil:
		s.writeError(w, r, flat, errorf(http.StatusForbidden, "media_url_invalid",
			"This media URL is not valid: its signature does not match. Ask for one with POST /v1.3/analyze/tasks/%s/media.", id))
		return
	}
	ctx := account.NewContext(r.Context(), acct)
	t, err := s.tasks.Get(ctx, id)
	if err != nil {
		s.writeError(w, r, flat, err)
		return
	}
	notStored := errorf(http.StatusNotFound, api.CodeResourceNotExist,
		"The video of task %s is not stored (not yet downloaded, or its asset was deleted).", id)
	if t.BlobKey == "" {
		s.writeError(w, r, flat, notStored)
		return
	}
	f, mod, err := blob.NewReadSeeker(ctx, s.mediaBlobs, t.BlobKey)
	if errors.Is(err, blob.ErrNotFound) {
		err = notStored
	}
	if err != nil {
		s.writeError(w, r, flat, err)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", mediaType(f))
	h.Set("X-Content-Type-Options", "nosniff")
	// Never a document: a stored file that is not a video cannot run
	// script in this origin.
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", "private, max-age=3600")
	http.ServeContent(w, r, "", mod, f)
}

// mediaType is the sniffed type of a stored file when it is a video or
// audio type, else application/octet-stream. f is left at its start.
func mediaType(f io.ReadSeeker) string {
	var head [512]byte
	n, _ := io.ReadFull(f, head[:])
	_, _ = f.Seek(0, io.SeekStart)
	ct := http.DetectContentType(head[:n])
	if strings.HasPrefix(ct, "video/") || strings.HasPrefix(ct, "audio/") {
		return ct
	}
	// Matroska and QuickTime files sniff as octet-stream; a <video>
	// element plays them by content all the same.
	return "application/octet-stream"
}
