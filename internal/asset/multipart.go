package asset

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// UploadRequest starts a multipart upload.
type UploadRequest struct {
	Filename     string
	Type         string // video, audio or image
	TotalSize    int64
	UserMetadata map[string]any
}

// PresignedURL is where to PUT one chunk.
type PresignedURL struct {
	Index     int
	URL       string
	ExpiresAt time.Time
}

// UploadsPath is the path prefix of presigned chunk URLs, outside the API
// prefix: "/uploads/{upload_id}/{chunk_index}".
const UploadsPath = "/uploads/"

// CreateUpload starts a multipart upload session for a file of TotalSize
// bytes, cut into chunks of ChunkSize bytes (the last one shorter), and
// returns presigned URLs for the first chunks. base is the URL of this
// server as the client reaches it ("http://host:port"); the URLs point there.
func (s *Service) CreateUpload(ctx context.Context, req UploadRequest, base string) (*Upload, []PresignedURL, error) {
	if strings.TrimSpace(req.Filename) == "" {
		return nil, nil, missing("filename")
	}
	typ := Type(req.Type)
	switch typ {
	case Video, Audio, Image:
	case "":
		return nil, nil, missing("type")
	default:
		return nil, nil, invalid("The type parameter must be video, audio or image, but %q was given.", req.Type)
	}
	if ext := strings.ToLower(path.Ext(req.Filename)); documentExts[ext] {
		return nil, nil, unsupported(req.Filename, "a "+strings.TrimPrefix(ext, ".")+" document")
	}
	limit := s.lim.MultipartBytes
	if typ == Image {
		limit = s.lim.ImageBytes
	}
	switch {
	case req.TotalSize < 1:
		return nil, nil, invalid("The total_size parameter must be the file size in bytes, at least 1, but %d was given.", req.TotalSize)
	case req.TotalSize > limit:
		e := tooLarge(typ, limit, "multipart upload")
		e.Status = http.StatusBadRequest
		return nil, nil, e
	}
	if s.quota != nil {
		if err := s.quota.Check(req.TotalSize); err != nil {
			return nil, nil, err
		}
	}
	now := s.clock()
	chunk := s.lim.ChunkSize
	u := &Upload{
		ID: newID(now), AssetID: newID(now), Status: UploadActive,
		Filename: strings.TrimSpace(req.Filename), Type: typ, TotalSize: req.TotalSize,
		ChunkSize: chunk, TotalChunks: int((req.TotalSize + chunk - 1) / chunk),
		UserMetadata: req.UserMetadata, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(s.lim.SessionTTL),
	}
	direct := s.directUsable()
	if direct {
		if err := s.startDirect(ctx, u); err != nil {
			return nil, nil, err
		}
	}
	if err := s.store.CreateUpload(ctx, u); err != nil {
		if direct {
			s.abortDirect(ctx, u.ID)
			_ = s.blobs.Delete(ctx, partsPrefix(u.ID))
		}
		return nil, nil, err
	}
	s.log.Info("multipart upload created", "upload_id", u.ID, "asset_id", u.AssetID, "type", typ,
		"total_size", u.TotalSize, "chunk_size", u.ChunkSize, "total_chunks", u.TotalChunks, "direct_to_store", direct)
	urls, err := s.presign(ctx, u, 1, min(s.lim.InitialURLs, u.TotalChunks), base, now)
	if err != nil {
		return nil, nil, err
	}
	return u, urls, nil
}

// presign returns URLs for count chunks from start: framewise's own, or
// the object store's for a direct session.
func (s *Service) presign(ctx context.Context, u *Upload, start, count int, base string, now time.Time) ([]PresignedURL, error) {
	exp := now.Add(s.lim.URLTTL)
	if exp.After(u.ExpiresAt) {
		exp = u.ExpiresAt
	}
	exp = exp.Truncate(time.Second)
	if key, id, err := s.directUpload(ctx, u.ID); err != nil {
		return nil, err
	} else if id != "" {
		return s.presignDirect(ctx, key, id, start, count, exp, now)
	}
	out := make([]PresignedURL, 0, count)
	for i := start; i < start+count; i++ {
		out = append(out, PresignedURL{Index: i, ExpiresAt: exp,
			URL: strings.TrimRight(base, "/") + UploadsPath + u.ID + "/" + strconv.Itoa(i) + "?" + s.signer.Sign(u.ID, i, exp)})
	}
	return out, nil
}

func uploadNotFound(id string) *Error {
	return errorf(http.StatusNotFound, "resource_not_exist", "Upload with id %s does not exist. Check the upload_id; list incomplete uploads with GET /v1.3/assets/multipart-uploads.", id)
}

func (s *Service) getUpload(ctx context.Context, id string) (*Upload, error) {
	u, err := s.store.GetUpload(ctx, id)
	if errors.Is(err, ErrUploadNotFound) {
		return nil, uploadNotFound(id)
	}
	return u, err
}

// effective is the session's status at now: an active session past its
// expiry is expired even before the cleanup job marked it.
func effective(u *Upload, now time.Time) UploadStatus {
	if u.Status == UploadActive && !now.Before(u.ExpiresAt) {
		return UploadExpired
	}
	return u.Status
}

func notActive(u *Upload, status UploadStatus, httpStatus int) *Error {
	if status == UploadCompleted {
		return errorf(httpStatus, "upload_not_active", "The upload %s is already completed; its asset is %s.", u.ID, u.AssetID)
	}
	return errorf(httpStatus, "upload_not_active", "The upload %s expired at %s. Start a new upload with POST /v1.3/assets/multipart-uploads.",
		u.ID, u.ExpiresAt.Format(time.RFC3339))
}

// UploadState is a session with one page of its chunks.
type UploadState struct {
	Upload *Upload
	Status UploadStatus // effective status
	// Chunks is the requested page of chunks 1..TotalChunks.
	Chunks       []ChunkState
	Completed    int
	Pending      int
	UploadedSize int64 // bytes of completed chunks
}

// ChunkState is one chunk in a status page.
type ChunkState struct {
	Index      int
	Completed  bool
	UploadedAt *time.Time // when its bytes arrived, if they did
	UpdatedAt  *time.Time
}

// UploadStatus returns a session and page (1-based, limit per page) of the
// states of all its chunks, completed or pending.
func (s *Service) UploadStatus(ctx context.Context, id string, page, limit int) (*UploadState, error) {
	u, err := s.getUpload(ctx, id)
	if err != nil {
		return nil, err
	}
	chunks, err := s.store.Chunks(ctx, id)
	if err != nil {
		return nil, err
	}
	st := &UploadState{Upload: u, Status: effective(u, s.clock())}
	byIndex := make(map[int]*Chunk, len(chunks))
	for _, c := range chunks {
		byIndex[c.Index] = c
		if c.Reported != nil {
			st.Completed++
			st.UploadedSize += c.Size
		}
	}
	st.Pending = u.TotalChunks - st.Completed
	first := (page-1)*limit + 1
	for i := first; i < first+limit && i <= u.TotalChunks; i++ {
		cs := ChunkState{Index: i}
		if c := byIndex[i]; c != nil {
			up := c.UploadedAt
			cs.UploadedAt, cs.UpdatedAt = &up, &up
			if c.Reported != nil {
				cs.Completed = true
				cs.UpdatedAt = c.Reported
			}
		}
		st.Chunks = append(st.Chunks, cs)
	}
	return st, nil
}

// ReportedChunk is one entry of a chunk report.
type ReportedChunk struct {
	Index     int
	Proof     string
	ProofType string
	Size      int64
}

// ReportResult is the outcome of a chunk report.
type ReportResult struct {
	AssetID        string
	Processed      int
	Duplicates     int
	TotalCompleted int
	// Complete is true once every chunk is reported: the asset exists and
	// is processing.
	Complete bool
}

// ReportChunks marks chunks completed after checking that each proof is
// the ETag the chunk's PUT answered with and each size is the chunk's.
// Chunks already completed, or listed twice, are counted as duplicates and
// ignored. A report is applied whole or not at all. The report that
// completes the last chunk creates the asset (processing) and enqueues its
// job, which assembles the chunks.
func (s *Service) ReportChunks(ctx context.Context, id string, in []ReportedChunk) (*ReportResult, error) {
	if s.direct != nil {
		// A direct session's chunks went to the store: record those it
		// holds, then check the report as for chunks PUT here.
		u, err := s.getUpload(ctx, id)
		if err != nil {
			return nil, err
		}
		if key, did, err := s.directUpload(ctx, id); err != nil {
			return nil, err
		} else if did != "" && effective(u, s.clock()) == UploadActive {
			if err := s.recordDirectParts(ctx, u, key, did, in); err != nil {
				return nil, err
			}
		}
	}
	res := &ReportResult{}
	err := s.store.Report(ctx, id, func(u *Upload, chunks map[int]*Chunk) (*Asset, error) {
		now := s.clock()
		res.AssetID = u.AssetID
		switch st := effective(u, now); st {
		case UploadCompleted:
			res.Duplicates, res.TotalCompleted, res.Complete = len(in), u.TotalChunks, true
			return nil, nil
		case UploadActive:
		default:
			return nil, notActive(u, st, http.StatusBadRequest)
		}
		seen := map[int]bool{}
		for i, c := range in {
			p := fmt.Sprintf("completed_chunks[%d]", i)
			switch {
			case c.Index < 1 || c.Index > u.TotalChunks:
				return nil, invalid("The %s.chunk_index parameter must be from 1 to %d, but %d was given.", p, u.TotalChunks, c.Index)
			case c.ProofType != "etag":
				return nil, invalid("The %s.proof_type parameter must be etag, but %q was given.", p, c.ProofType)
			case strings.TrimSpace(c.Proof) == "":
				return nil, missing(p + ".proof")
			case c.Size != u.ChunkLen(c.Index):
				return nil, invalid("The %s.chunk_size parameter is %d, but chunk %d has %d bytes (chunk_size %d; the last chunk holds the rest).",
					p, c.Size, c.Index, u.ChunkLen(c.Index), u.ChunkSize)
			}
			ch := chunks[c.Index]
			if seen[c.Index] || (ch != nil && ch.Reported != nil) {
				res.Duplicates++
				continue
			}
			seen[c.Index] = true
			if ch == nil {
				return nil, invalid("Chunk %d has not been uploaded: PUT its bytes to its presigned URL first, then report the ETag that the PUT answered with.", c.Index)
			}
			if got := normalizeETag(c.Proof); got != ch.ETag {
				return nil, invalid("The proof of chunk %d does not match the uploaded bytes: the report says %q, the chunk's ETag is %q. Report the ETag header returned by the PUT of that chunk, or upload the chunk again.",
					c.Index, got, ch.ETag)
			}
			t := now
			ch.Reported = &t
			res.Processed++
		}
		for _, ch := range chunks {
			if ch.Reported != nil {
				res.TotalCompleted++
			}
		}
		u.UpdatedAt = now
		if res.TotalCompleted < u.TotalChunks {
			return nil, nil
		}
		res.Complete = true
		u.Status = UploadCompleted
		typ, mimeType, _, _ := Classify(u.Filename, "", nil)
		if typ != u.Type || mimeType == "" {
			mimeType = map[Type]string{Video: "video/mp4", Audio: "audio/mpeg", Image: "image/jpeg"}[u.Type]
		}
		return &Asset{ID: u.AssetID, Method: Multipart, Status: Processing, Type: u.Type, Filename: u.Filename,
			FileType: mimeType, UploadID: u.ID, Size: u.TotalSize, UserMetadata: u.UserMetadata, CreatedAt: now, UpdatedAt: now}, nil
	})
	if errors.Is(err, ErrUploadNotFound) {
		return nil, uploadNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	if res.Complete && res.Processed > 0 {
		s.log.Info("multipart upload completed; asset processing", "upload_id", id, "asset_id", res.AssetID)
	}
	return res, nil
}

// normalizeETag strips quotes and a weak prefix and lowercases.
func normalizeETag(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	return strings.ToLower(strings.Trim(s, `"`))
}

// PresignURLs returns new presigned URLs for count chunks from start,
// clipped to the last chunk.
func (s *Service) PresignURLs(ctx context.Context, id string, start, count int, base string) (*Upload, []PresignedURL, error) {
	u, err := s.getUpload(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	now := s.clock()
	if st := effective(u, now); st != UploadActive {
		return nil, nil, notActive(u, st, http.StatusBadRequest)
	}
	switch {
	case start < 1 || start > u.TotalChunks:
		return nil, nil, invalid("The start parameter must be a chunk index from 1 to %d, but %d was given.", u.TotalChunks, start)
	case count < 1 || count > s.lim.MaxURLs:
		return nil, nil, invalid("The count parameter must be from 1 to %d, but %d was given.", s.lim.MaxURLs, count)
	}
	count = min(count, u.TotalChunks-start+1)
	urls, err := s.presign(ctx, u, start, count, base, now)
	if err != nil {
		return nil, nil, err
	}
	return u, urls, nil
}

// ListUploads returns a page of incomplete (active, unexpired) sessions, newest first.
func (s *Service) ListUploads(ctx context.Context, page, limit int) ([]*Upload, int, error) {
	return s.store.ListUploads(ctx, s.clock(), page, limit)
}

// PutChunk stores the body of a PUT to a presigned URL as chunk index of
// session uploadID and returns its ETag (hex MD5 of the bytes). q is the
// URL's query (expires, nonce, sig); size is the request's Content-Length,
// -1 when unknown. The body is streamed to the blob store; it must be
// exactly the chunk's length. A URL is used up by a successful PUT; a PUT
// that fails leaves it usable, so a client may retry the same URL.
func (s *Service) PutChunk(ctx context.Context, uploadID string, index int, q url.Values, size int64, body io.Reader) (string, error) {
	now := s.clock()
	sig, exp, err := s.signer.Verify(uploadID, index, q, now)
	switch {
	case errors.Is(err, errBadSignature):
		return "", errorf(http.StatusForbidden, "upload_url_invalid",
			"The upload URL's signature is missing or does not match. Use the URL exactly as framewise returned it, or ask for new URLs with POST /v1.3/assets/multipart-uploads/{upload_id}/presigned-urls.")
	case errors.Is(err, errExpired):
		return "", errorf(http.StatusForbidden, "upload_url_expired",
			"The upload URL expired at %s. Ask for new URLs with POST /v1.3/assets/multipart-uploads/%s/presigned-urls.", exp.Format(time.RFC3339), uploadID)
	case err != nil:
		return "", err
	}
	u, err := s.getUpload(ctx, uploadID)
	if err != nil {
		return "", err
	}
	if st := effective(u, now); st != UploadActive {
		return "", notActive(u, st, http.StatusForbidden)
	}
	if index < 1 || index > u.TotalChunks {
		return "", invalid("Chunk index %d is out of range 1 to %d.", index, u.TotalChunks)
	}
	want := u.ChunkLen(index)
	if size >= 0 && size != want {
		return "", invalid("Chunk %d must be exactly %d bytes (chunk_size %d; the last chunk holds the rest), but the request has %d bytes.", index, want, u.ChunkSize, size)
	}
	if err := s.store.ClaimURL(ctx, uploadID, sig, now); errors.Is(err, ErrURLUsed) {
		return "", errorf(http.StatusForbidden, "upload_url_used",
			"This upload URL was already used. Each URL is single-use: to upload chunk %d again, ask for a new URL with POST /v1.3/assets/multipart-uploads/%s/presigned-urls.", index, uploadID)
	} else if err != nil {
		return "", err
	}
	key := fmt.Sprintf("%s/%d-%s", partsPrefix(uploadID), index, sig[:16])
	failed := func(err error) (string, error) {
		_ = s.blobs.Delete(ctx, key)
		if rerr := s.store.ReleaseURL(context.WithoutCancel(ctx), sig); rerr != nil {
			s.log.Warn("could not release an upload URL after a failed PUT", "upload_id", uploadID, "chunk", index, "err", rerr)
		}
		return "", err
	}
	h := md5.New()
	src := &sourceReader{r: io.TeeReader(io.LimitReader(body, want+1), h)}
	n, err := s.blobs.Put(ctx, key, src)
	if err != nil {
		err = src.blame(ctx, err)
		switch {
		case errors.Is(err, ErrStorage) && s.aborted(ctx, uploadID):
			return failed(uploadNotFound(uploadID))
		case errors.Is(err, ErrStorage), ctx.Err() != nil:
			return failed(err)
		}
		s.log.Info("chunk upload broke off", "upload_id", uploadID, "chunk", index, "err", err)
		return failed(invalid("The body of chunk %d could not be read completely; the connection broke or the body ended early. Send it again to the same URL.", index))
	}
	if n != want {
		return failed(invalid("Chunk %d must be exactly %d bytes (chunk_size %d; the last chunk holds the rest), but %d bytes were sent.", index, want, u.ChunkSize, n))
	}
	etag := hex.EncodeToString(h.Sum(nil))
	replaced, err := s.store.PutChunk(ctx, uploadID, sig, &Chunk{Index: index, Size: n, ETag: etag, BlobKey: key, UploadedAt: now})
	switch {
	case errors.Is(err, ErrChunkReported):
		return failed(errorf(http.StatusConflict, "chunk_already_completed", "Chunk %d of upload %s is already completed; it cannot be replaced.", index, uploadID))
	case errors.Is(err, ErrUploadNotFound):
		return failed(uploadNotFound(uploadID))
	case err != nil:
		return failed(err)
	}
	if replaced != "" && replaced != key {
		_ = s.blobs.Delete(ctx, replaced)
	}
	s.log.Debug("chunk stored", "upload_id", uploadID, "chunk", index, "size", n)
	return etag, nil
}

// AbortUpload ends a session that is not completed and deletes its
// chunks at once: their space is free without waiting for the expiry.
// The session is gone afterwards (404). A completed session is refused
// (409 upload_not_active): its asset owns the chunks now; delete the asset.
func (s *Service) AbortUpload(ctx context.Context, id string) error {
	u, err := s.store.DeleteUpload(ctx, id, func(u *Upload) error {
		if u.Status == UploadCompleted {
			return errorf(http.StatusConflict, "upload_not_active",
				"The upload %s is already completed; its asset is %s. Delete the asset instead (DELETE /v1.3/assets/%s).", u.ID, u.AssetID, u.AssetID)
		}
		return nil
	})
	if errors.Is(err, ErrUploadNotFound) {
		return uploadNotFound(id)
	}
	if err != nil {
		return err
	}
	s.abortDirect(ctx, id)
	if err := s.blobs.Delete(ctx, partsPrefix(id)); err != nil {
		s.log.Warn("upload aborted but its chunks were not deleted", "upload_id", id, "err", err)
	}
	s.log.Info("multipart upload aborted", "upload_id", id, "status", u.Status)
	return nil
}

// aborted reports whether the session no longer exists: a chunk PUT that
// raced its abort fails to store its file.
func (s *Service) aborted(ctx context.Context, id string) bool {
	_, err := s.store.GetUpload(ctx, id)
	return errors.Is(err, ErrUploadNotFound)
}

// assemble joins the chunks of a completed session, in order, into the
// asset's blob, streaming one chunk after the other.
func (s *Service) assemble(ctx context.Context, log *slog.Logger, a *Asset) (string, int64, error) {
	u, err := s.store.GetUpload(ctx, a.UploadID)
	if errors.Is(err, ErrUploadNotFound) {
		return "", 0, failf("The upload session of this asset no longer exists. Upload the file again.")
	}
	if err != nil {
		return "", 0, err
	}
	chunks, err := s.store.Chunks(ctx, u.ID)
	if err != nil {
		return "", 0, err
	}
	keys := make([]string, 0, u.TotalChunks)
	for i, c := range chunks {
		if c.Index != i+1 || c.Reported == nil {
			return "", 0, failf("Chunk %d of the upload is missing. Upload the file again.", i+1)
		}
		keys = append(keys, c.BlobKey)
	}
	if len(keys) != u.TotalChunks {
		return "", 0, failf("The upload has %d of %d chunks. Upload the file again.", len(keys), u.TotalChunks)
	}
	if key, id, err := s.directUpload(ctx, u.ID); err != nil {
		return "", 0, err
	} else if id != "" {
		return s.completeDirect(ctx, log, u, chunks, key, id)
	}
	log.Info("assembling upload", "upload_id", u.ID, "chunks", len(keys), "size", u.TotalSize)
	key := SourceKey(a.ID)
	r := &chainReader{ctx: ctx, blobs: s.blobs, keys: keys}
	n, err := s.blobs.Put(ctx, key, r)
	r.close()
	if err != nil {
		_ = s.blobs.Delete(ctx, key)
		return "", 0, err
	}
	if n != u.TotalSize {
		_ = s.blobs.Delete(ctx, key)
		return "", 0, failf("The assembled file has %d bytes instead of %d. Upload the file again.", n, u.TotalSize)
	}
	return key, n, nil
}

// chainReader reads blobs one after the other, opening each when the
// previous one ends, so that only one is open at a time.
type chainReader struct {
	ctx   context.Context
	blobs Blobs
	keys  []string
	cur   io.ReadCloser
}

func (c *chainReader) Read(p []byte) (int, error) {
	for {
		if c.cur == nil {
			if len(c.keys) == 0 {
				return 0, io.EOF
			}
			rc, err := c.blobs.Open(c.ctx, c.keys[0])
			if err != nil {
				return 0, err
			}
			c.cur, c.keys = rc, c.keys[1:]
		}
		n, err := c.cur.Read(p)
		if err == io.EOF {
			c.cur.Close()
			c.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *chainReader) close() {
	if c.cur != nil {
		c.cur.Close()
	}
}

// ExpireUploads marks sessions past their expiry as expired, deletes their
// chunks, and removes rows of sessions that ended long ago. The periodic
// cleanup job calls it.
func (s *Service) ExpireUploads(ctx context.Context) error {
	now := s.clock()
	ids, err := s.store.ExpireUploads(ctx, now, now.Add(-s.lim.PurgeAfter))
	if err != nil {
		return err
	}
	for _, id := range ids {
		s.abortDirect(ctx, id)
		if err := s.blobs.Delete(ctx, partsPrefix(id)); err != nil {
			s.log.Warn("could not delete the chunks of an expired upload", "upload_id", id, "err", err)
		}
	}
	if len(ids) > 0 {
		s.log.Info("expired multipart uploads cleaned up", "uploads", len(ids))
	}
	return nil
}
