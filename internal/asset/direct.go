package asset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/framewise/framewise/internal/blob"
)

// Direct multipart uploads: with an object store that takes parts itself
// (Config.Direct, an S3 bucket), a session is a multipart upload of the
// store's, started at create; the presigned URLs are the store's own
// UploadPart URLs, so the video's bytes never pass through framewise. A
// chunk report checks each ETag against the store's list of parts and
// records the chunk; the asset's job completes the store's upload into
// the asset's file (no assembly). Abort and expiry abort it.
//
// The store's upload id is kept in a small blob beside the session's
// chunks (directMarker): a session without one goes the framewise way,
// which is how sessions begun before a switch of store still finish.

// directMarker is the blob holding "key\nid" of a session's store upload.
func directMarker(uploadID string) string { return partsPrefix(uploadID) + "/direct" }

// directUsable tells whether sessions can go straight to the store: parts
// but the last must be at least blob.MinPartSize.
func (s *Service) directUsable() bool {
	return s.direct != nil && s.lim.ChunkSize >= blob.MinPartSize
}

// startDirect starts the store's upload for session u.
func (s *Service) startDirect(ctx context.Context, u *Upload) error {
	key := SourceKey(u.AssetID)
	id, err := s.direct.CreateMultipart(ctx, key)
	if err != nil {
		return err
	}
	if _, err := s.blobs.Put(ctx, directMarker(u.ID), strings.NewReader(key+"\n"+id)); err != nil {
		_ = s.direct.AbortMultipart(context.WithoutCancel(ctx), key, id)
		return err
	}
	return nil
}

// directUpload returns the blob key and the store's upload id of a
// session; "" when its chunks go through framewise.
func (s *Service) directUpload(ctx context.Context, uploadID string) (key, id string, err error) {
	if s.direct == nil {
		return "", "", nil
	}
	rc, err := s.blobs.Open(ctx, directMarker(uploadID))
	if errors.Is(err, blob.ErrNotFound) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4096))
	if err != nil {
		return "", "", err
	}
	key, id, ok := strings.Cut(string(b), "\n")
	if !ok || key == "" || id == "" {
		return "", "", fmt.Errorf("upload %s: bad marker of its store upload", uploadID)
	}
	return key, id, nil
}

// presignDirect returns the store's URLs for chunks start..start+count-1.
func (s *Service) presignDirect(ctx context.Context, key, id string, start, count int, exp, now time.Time) ([]PresignedURL, error) {
	ttl := max(exp.Sub(now), time.Second)
	out := make([]PresignedURL, 0, count)
	for i := start; i < start+count; i++ {
		u, err := s.direct.PresignPart(ctx, key, id, i, ttl)
		if err != nil {
			return nil, err
		}
		out = append(out, PresignedURL{Index: i, URL: u, ExpiresAt: exp})
	}
	return out, nil
}

// recordDirectParts records, as uploaded chunks, the reported chunks that
// the store holds with the reported size, so that the report can check
// their ETags like those of chunks PUT to framewise.
func (s *Service) recordDirectParts(ctx context.Context, u *Upload, key, id string, in []ReportedChunk) error {
	parts, err := s.direct.ListParts(ctx, key, id)
	if errors.Is(err, blob.ErrNotFound) {
		return nil // completed or aborted: the report says which
	}
	if err != nil {
		return err
	}
	byNum := make(map[int]blob.Part, len(parts))
	for _, p := range parts {
		byNum[p.Number] = p
	}
	for _, c := range in {
		p, ok := byNum[c.Index]
		if !ok || c.Index < 1 || c.Index > u.TotalChunks {
			continue // the report refuses it
		}
		if want := u.ChunkLen(c.Index); p.Size != want {
			return invalid("Chunk %d was uploaded with %d bytes, but it must be exactly %d bytes (chunk_size %d; the last chunk holds the rest). Upload it again to a new URL from POST /v1.3/assets/multipart-uploads/%s/presigned-urls.",
				c.Index, p.Size, want, u.ChunkSize, u.ID)
		}
		at := p.UploadedAt
		if at.IsZero() {
			at = s.clock()
		}
		_, err := s.store.PutChunk(ctx, u.ID, "", &Chunk{Index: c.Index, Size: p.Size, ETag: normalizeETag(p.ETag), BlobKey: key, UploadedAt: at.UTC()})
		switch {
		case errors.Is(err, ErrChunkReported):
		case errors.Is(err, ErrUploadNotFound):
			return uploadNotFound(u.ID)
		case err != nil:
			return err
		}
	}
	return nil
}

// completeDirect completes the store's upload of a session whose chunks
// are all reported, making the asset's file.
func (s *Service) completeDirect(ctx context.Context, log *slog.Logger, u *Upload, chunks []*Chunk, key, id string) (string, int64, error) {
	parts := make([]blob.Part, len(chunks))
	for i, c := range chunks {
		parts[i] = blob.Part{Number: c.Index, ETag: `"` + c.ETag + `"`, Size: c.Size}
	}
	log.Info("completing the store's multipart upload", "upload_id", u.ID, "chunks", len(parts), "size", u.TotalSize)
	n, err := s.direct.CompleteMultipart(ctx, key, id, parts)
	if errors.Is(err, blob.ErrNotFound) {
		// Completed by an earlier attempt of this job?
		rc, oerr := s.blobs.Open(ctx, key)
		if oerr != nil {
			return "", 0, failf("The upload's parts are no longer in the object store. Upload the file again.")
		}
		rc.Close()
		n, err = u.TotalSize, nil
	}
	if err != nil {
		return "", 0, err
	}
	if n != u.TotalSize {
		_ = s.blobs.Delete(ctx, key)
		return "", 0, failf("The assembled file has %d bytes instead of %d. Upload the file again.", n, u.TotalSize)
	}
	return key, n, nil
}

// abortDirect aborts the store's upload of a session, if it has one.
func (s *Service) abortDirect(ctx context.Context, uploadID string) {
	key, id, err := s.directUpload(ctx, uploadID)
	if err == nil && id != "" {
		err = s.direct.AbortMultipart(ctx, key, id)
	}
	if err != nil {
		s.log.Warn("could not abort the object store's multipart upload", "upload_id", uploadID, "err", err)
	}
}
