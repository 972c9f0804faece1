package asset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/diskspace"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/redact"
)

// Store persists assets and upload sessions. CreateAsset writes the asset
// row and enqueues its processing job in one transaction; so does Report
// when it completes a session. Update-style methods apply change inside a
// write transaction; an error from change leaves the row as it was and is
// returned.
type Store interface {
	CreateAsset(ctx context.Context, a *Asset) error
	GetAsset(ctx context.Context, id string) (*Asset, error) // ErrNotFound
	ListAssets(ctx context.Context, f Filter) ([]*Asset, int, error)
	UpdateAsset(ctx context.Context, id string, change func(a *Asset) error) (*Asset, error)
	// DeleteAsset removes the asset unless allow refuses. activeTasks is
	// the number of queued, pending or processing tasks whose video is the
	// asset, counted in the deleting transaction.
	DeleteAsset(ctx context.Context, id string, allow func(a *Asset, activeTasks int) error) (*Asset, error)

	CreateUpload(ctx context.Context, u *Upload) error
	GetUpload(ctx context.Context, id string) (*Upload, error) // ErrUploadNotFound
	// ListUploads returns active sessions that have not expired by now, newest first.
	ListUploads(ctx context.Context, now time.Time, page, limit int) ([]*Upload, int, error)
	// Chunks returns the chunks of a session that were PUT, by index.
	Chunks(ctx context.Context, uploadID string) ([]*Chunk, error)
	// ClaimURL marks a presigned URL (by its signature) as in use; it
	// returns ErrURLUsed when it was used or is in use.
	ClaimURL(ctx context.Context, uploadID, sig string, at time.Time) error
	// ReleaseURL makes a claimed URL usable again after a failed PUT.
	ReleaseURL(ctx context.Context, sig string) error
	// PutChunk records a stored chunk and marks the URL sig used. It
	// returns the blob key of the chunk it replaced ("" if none), or
	// ErrChunkReported when the chunk is already completed.
	PutChunk(ctx context.Context, uploadID, sig string, c *Chunk) (replaced string, err error)
	// Report runs apply on the session and its chunks in one write
	// transaction and writes back the chunks apply marked reported and the
	// session. When apply returns an asset, it is inserted and its
	// processing job enqueued in the same transaction.
	Report(ctx context.Context, uploadID string, apply func(u *Upload, chunks map[int]*Chunk) (*Asset, error)) error
	// ExpireUploads marks active sessions whose expiry has passed as
	// expired and returns their ids; it removes sessions that ended
	// before purgeBefore.
	ExpireUploads(ctx context.Context, now, purgeBefore time.Time) ([]string, error)
	// DeleteUpload removes a session and its chunk rows unless allow
	// refuses; ErrUploadNotFound when there is none.
	DeleteUpload(ctx context.Context, id string, allow func(u *Upload) error) (*Upload, error)
}

// Blobs stores files by key.
type Blobs interface {
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	LocalPath(ctx context.Context, key string) (path string, release func(), err error)
	Delete(ctx context.Context, key string) error
}

// Quota is the storage quota of the blob store (*blob.Quota): Check
// returns a *diskspace.QuotaError when need more bytes would not fit.
type Quota interface {
	Check(need int64) error
}

// Media probes and decodes files; *media.Tool implements it.
type Media interface {
	Probe(ctx context.Context, path string) (*media.Info, error)
	DecodeCheck(ctx context.Context, path string) error
}

// Downloader fetches the file of a url upload, refusing more than
// maxBytes, through the SSRF guard. Temporary tells whether a failure is
// worth retrying.
type Downloader interface {
	Download(ctx context.Context, rawURL string, maxBytes int64, w io.Writer) (n int64, contentType string, err error)
	Temporary(err error) bool
}

// Limits bound uploads (spec §4.6–§4.7). Sizes are in bytes.
type Limits struct {
	DirectBytes    int64         // direct upload of video or audio
	ImageBytes     int64         // any image
	URLBytes       int64         // url upload of video or audio
	MultipartBytes int64         // multipart upload of video or audio
	ChunkSize      int64         // multipart chunk size
	InitialURLs    int           // presigned URLs returned at session create
	MaxURLs        int           // presigned URLs per request
	URLTTL         time.Duration // life of a presigned URL
	SessionTTL     time.Duration // life of an upload session
	// PurgeAfter is how long ended sessions stay listed by id before
	// their rows are removed.
	PurgeAfter time.Duration
}

// DefaultLimits returns the limits of the spec, in binary units: direct
// video and audio 200 MiB, images 32 MiB, URLs 4 GiB, multipart 10 GiB in
// 8 MiB chunks; URLs valid 1 h, sessions 24 h.
func DefaultLimits() Limits {
	return Limits{
		DirectBytes:    200 << 20,
		ImageBytes:     32 << 20,
		URLBytes:       4 << 30,
		MultipartBytes: 10 << 30,
		ChunkSize:      8 << 20,
		InitialURLs:    50,
		MaxURLs:        50,
		URLTTL:         time.Hour,
		SessionTTL:     24 * time.Hour,
		PurgeAfter:     7 * 24 * time.Hour,
	}
}

// Service owns every change of asset and upload state.
type Service struct {
	store    Store
	blobs    Blobs
	media    Media
	download Downloader
	signer   *Signer
	quota    Quota // nil: no quota
	direct   blob.Multipart
	lim      Limits
	log      *slog.Logger
	now      func() time.Time
}

// Config holds what a Service is built from.
type Config struct {
	Store      Store
	Blobs      Blobs
	Media      Media
	Downloader Downloader
	Signer     *Signer
	// Quota, when set, is checked before a multipart or URL upload is
	// accepted; the blob store enforces it as bytes arrive.
	Quota Quota
	// Direct, when set, takes the chunks of multipart uploads straight
	// from clients at presigned URLs of the object store (see direct.go).
	Direct blob.Multipart
	Limits Limits
	Log    *slog.Logger
	// Now replaces the clock in tests; nil means time.Now.
	Now func() time.Time
}

// NewService returns a Service.
func NewService(cfg Config) *Service {
	s := &Service{store: cfg.Store, blobs: cfg.Blobs, media: cfg.Media, download: cfg.Downloader, signer: cfg.Signer,
		quota: cfg.Quota, direct: cfg.Direct, lim: cfg.Limits, log: cfg.Log, now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Limits returns the service's limits.
func (s *Service) Limits() Limits { return s.lim }

func (s *Service) clock() time.Time { return s.now().UTC() }

func notFound(id string) *Error {
	return errorf(http.StatusNotFound, "resource_not_exist", "Asset with id %s does not exist. Check the asset id; list assets with GET /v1.3/assets.", id)
}

// Get returns an asset, or a 404 *Error.
func (s *Service) Get(ctx context.Context, id string) (*Asset, error) {
	a, err := s.store.GetAsset(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, notFound(id)
	}
	return a, err
}

// List returns one page of assets, newest first, and how many match.
func (s *Service) List(ctx context.Context, f Filter) ([]*Asset, int, error) {
	return s.store.ListAssets(ctx, f)
}

// Delete removes an asset and its file. It refuses (409) while queued or
// processing tasks still need the asset; finished tasks keep their results.
func (s *Service) Delete(ctx context.Context, id string) error {
	a, err := s.store.DeleteAsset(ctx, id, func(a *Asset, active int) error {
		if active > 0 {
			return errorf(http.StatusConflict, "asset_in_use",
				"Asset %s is used (as the video or a reference image) by %d analysis %s that %s not finished yet. Wait until %s ready or failed, or delete %s, then delete the asset.",
				id, active, plural(active, "task", "tasks"), plural(active, "is", "are"), plural(active, "it is", "they are"), plural(active, "it", "them"))
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return notFound(id)
	}
	if err != nil {
		return err
	}
	if err := s.blobs.Delete(ctx, "assets/"+id); err != nil {
		s.log.Warn("asset deleted but its file was not", "asset_id", id, "err", err)
	}
	if a.UploadID != "" {
		s.abortDirect(ctx, a.UploadID)
		if err := s.blobs.Delete(ctx, partsPrefix(a.UploadID)); err != nil {
			s.log.Warn("asset deleted but its upload parts were not", "asset_id", id, "err", err)
		}
	}
	s.log.Info("asset deleted", "asset_id", id, "status", a.Status)
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// finalError ends an asset as failed with a message for the client.
type finalError struct{ message string }

func (e *finalError) Error() string { return e.message }

func failf(format string, args ...any) error { return &finalError{fmt.Sprintf(format, args...)} }

// Process runs the processing job of an asset: fetch or assemble its file
// when needed, probe it and make it ready or failed. It implements the
// queue's asset runner: nil means the asset reached a final state (or no
// longer exists); an error asks for a retry. attempt counts from 1.
func (s *Service) Process(ctx context.Context, id string, attempt, maxAttempts int) error {
	a, err := s.store.GetAsset(ctx, id)
	if errors.Is(err, ErrNotFound) {
		s.log.Info("asset was deleted before it was processed; nothing to do", "asset_id", id)
		return nil
	}
	if err != nil {
		return err
	}
	if a.Status != Processing {
		return nil
	}
	log := s.log.With("asset_id", id, "attempt", attempt)
	started := time.Now()
	// Errors are logged and stored with the job: none may carry a URL's
	// credentials (a presigned query).
	err = redact.Error(s.process(ctx, log, a))
	if err == nil {
		log.Info("asset processed", "took", time.Since(started).Round(time.Millisecond))
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	var final *finalError
	var bound *media.BoundError
	switch {
	case diskspace.Full(err):
		// Retried once space returns (the worker snoozes the job) rather
		// than failed for good.
		log.Warn("asset processing stopped by a full disk; it will run again later", "err", err)
		return err
	case errors.As(err, &final):
		return s.fail(ctx, log, id, redact.Text(final.message))
	case errors.As(err, &bound):
		// Another attempt would hit the same bound on the same file.
		log.Warn("asset processing stopped by its time bound", "err", err)
		return s.fail(ctx, log, id, "The file cannot be used: checking it took too long ("+bound.Error()+"); re-encode it, for example to H.264 at 30 fps, and upload it again.")
	case attempt >= maxAttempts:
		log.Error("asset processing failed after its last attempt", "err", err)
		return s.fail(ctx, log, id, fmt.Sprintf("Processing the file failed after %d attempts because of an internal error. Upload it again; if it keeps failing, report the asset id.", attempt))
	}
	log.Warn("asset processing attempt failed; it will be retried", "err", err)
	return err
}

func (s *Service) fail(ctx context.Context, log *slog.Logger, id, message string) error {
	_, err := s.store.UpdateAsset(ctx, id, func(a *Asset) error {
		if a.Status != Processing {
			return nil
		}
		a.Status = Failed
		a.ErrorMessage = message
		a.UpdatedAt = s.clock()
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err == nil {
		log.Info("asset failed", "reason", message)
	}
	return err
}

func (s *Service) process(ctx context.Context, log *slog.Logger, a *Asset) error {
	if a.BlobKey == "" {
		var key string
		var size int64
		var err error
		switch a.Method {
		case URL:
			key, size, err = s.fetch(ctx, log, a)
		case Multipart:
			key, size, err = s.assemble(ctx, log, a)
		default:
			return failf("The uploaded file is missing. Upload it again.")
		}
		if err != nil {
			return err
		}
		_, err = s.store.UpdateAsset(ctx, a.ID, func(x *Asset) error {
			x.BlobKey, x.Size, x.UpdatedAt = key, size, s.clock()
			return nil
		})
		if errors.Is(err, ErrNotFound) {
			// Deleted meanwhile: do not leave the file behind.
			_ = s.blobs.Delete(ctx, "assets/"+a.ID)
			return nil
		}
		if err != nil {
			return err
		}
		if a.Method == Multipart {
			if err := s.blobs.Delete(ctx, partsPrefix(a.UploadID)); err != nil {
				log.Warn("could not delete the chunks of an assembled upload", "upload_id", a.UploadID, "err", err)
			}
		}
		a.BlobKey, a.Size = key, size
	}

	path, release, err := s.blobs.LocalPath(ctx, a.BlobKey)
	if err != nil {
		return err
	}
	defer release()
	rule, err := CheckPlaylist(path)
	if err != nil {
		return err
	}
	if rule != nil {
		return failf("The file cannot be used: %s.", fileRuleMessage(rule))
	}
	info, err := s.media.Probe(ctx, path)
	if errors.As(err, &rule) {
		return failf("The file cannot be used: %s.", fileRuleMessage(rule))
	}
	if err != nil {
		return err
	}
	typ := probedType(info)
	if typ == "" {
		return failf("The file cannot be used: FFmpeg found no video, audio or image stream in it.")
	}
	size := a.Size
	if size == 0 {
		size = info.Size
	}
	if typ == Image && size > s.lim.ImageBytes {
		return failf("The image is %s, more than the limit of %s for images.", humanBytes(size), humanBytes(s.lim.ImageBytes))
	}
	if typ != Audio {
		err := s.media.DecodeCheck(ctx, path)
		if errors.As(err, &rule) {
			return failf("The file cannot be used: %s.", rule.Message)
		}
		if err != nil {
			return err
		}
	}
	unanalyzable := ""
	if typ == Video {
		if r := media.CheckAnalyzable(info, media.MaxDurationAsync); r != nil {
			unanalyzable = r.Message
		}
	}
	mimeType := probedMIME(info, typ, a.Filename, a.FileType)
	tech := technical(info, typ, size, mimeType)
	_, err = s.store.UpdateAsset(ctx, a.ID, func(x *Asset) error {
		if x.Status != Processing {
			return nil
		}
		x.Status, x.Type, x.FileType, x.Size, x.Technical, x.Unanalyzable = Ready, typ, mimeType, size, tech, unanalyzable
		x.Duration = nil
		if typ != Image && info.Duration > 0 {
			d := round(info.Duration, 3)
			x.Duration = &d
		}
		x.UpdatedAt = s.clock()
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err == nil {
		log.Info("asset ready", "type", typ, "mime", mimeType, "size", size, "probe", info.String())
	}
	return err
}

// fileRuleMessage rewords the media rule for a file that is not
// necessarily a video.
func fileRuleMessage(rule *media.RuleError) string {
	if errors.Is(rule, media.ErrNotMedia) && !strings.Contains(rule.Message, "playlist") {
		return "FFmpeg cannot read it as video, audio or an image (unknown format, or a damaged or incomplete file); " +
			"upload the media file itself, complete, in a common format such as MP4, MOV, MP3, WAV, PNG or JPEG"
	}
	return rule.Message
}

// fetch downloads the file of a url upload into the asset's blob.
func (s *Service) fetch(ctx context.Context, log *slog.Logger, a *Asset) (key string, size int64, err error) {
	limit := s.lim.URLBytes
	if a.Type == Image {
		limit = s.lim.ImageBytes
	}
	key = SourceKey(a.ID)
	log.Info("downloading asset", "url", redact.URL(a.SourceURL))
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, _, err := s.download.Download(ctx, a.SourceURL, limit, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	n, perr := s.blobs.Put(ctx, key, pr)
	pr.CloseWithError(perr)
	derr := <-done
	if diskspace.Full(perr) {
		_ = s.blobs.Delete(ctx, key)
		return "", 0, perr
	}
	if derr != nil {
		_ = s.blobs.Delete(ctx, key)
		if s.download.Temporary(derr) {
			return "", 0, fmt.Errorf("download %s: %w", redact.URL(a.SourceURL), redact.Error(derr))
		}
		return "", 0, failf("The file could not be fetched from its URL: %s.", redact.Text(derr.Error()))
	}
	if perr != nil {
		return "", 0, perr
	}
	if n == 0 {
		_ = s.blobs.Delete(ctx, key)
		return "", 0, failf("The URL returned an empty file.")
	}
	return key, n, nil
}

// humanBytes prints a size in binary units: "512 B", "1.5 MiB", "2 GiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	s := strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/float64(div)), ".0")
	return s + " " + string("KMGTPE"[exp]) + "iB"
}
