package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/framewise/framewise/api"
)

const (
	assetsPath  = "/assets"
	uploadsPath = "/assets/multipart-uploads"
)

// ErrAssetFailed: WaitAsset saw the asset end in failure. The error
// returned by WaitAsset is an *AssetFailedError that wraps it.
var ErrAssetFailed = errors.New("framewise: asset failed")

// AssetFailedError is an asset whose processing failed.
type AssetFailedError struct {
	AssetID string
	Message string
}

func (e *AssetFailedError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("asset %s failed", e.AssetID)
	}
	return fmt.Sprintf("asset %s failed: %s", e.AssetID, e.Message)
}

// Unwrap makes errors.Is(err, ErrAssetFailed) true.
func (e *AssetFailedError) Unwrap() error { return ErrAssetFailed }

// AssetOptions are the optional fields of an asset upload.
type AssetOptions struct {
	// Filename names the asset; default the file's or URL's name.
	Filename string
	// UserMetadata is a flat object of strings, numbers and booleans.
	UserMetadata map[string]any
}

// CreateAsset uploads r as a new asset (POST /assets, method direct),
// streaming it without holding it in memory. filename is the name sent
// with the file; the server uses its extension, with the first bytes, to
// tell video, audio and image apart. Direct uploads take video and audio
// up to 200 MiB and images up to 32 MiB; use UploadFile for larger files.
// The asset comes back processing: follow it with WaitAsset.
//
// CreateAsset is not retried: r can only be read once.
func (c *Client) CreateAsset(ctx context.Context, r io.Reader, filename string, opts *AssetOptions) (*api.Asset, error) {
	if opts == nil {
		opts = &AssetOptions{}
	}
	meta, err := encodeMetadata(opts.UserMetadata)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			if err := mw.WriteField("method", api.MethodDirect); err != nil {
				return err
			}
			if opts.Filename != "" {
				if err := mw.WriteField("filename", opts.Filename); err != nil {
					return err
				}
			}
			if meta != "" {
				if err := mw.WriteField("user_metadata", meta); err != nil {
					return err
				}
			}
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filepath.Base(filename)))
			h.Set("Content-Type", "application/octet-stream")
			part, err := mw.CreatePart(h)
			if err != nil {
				return err
			}
			if _, err := io.Copy(part, r); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	var out api.Asset
	req := &request{method: http.MethodPost, path: assetsPath, stream: pr, contentType: mw.FormDataContentType()}
	err = c.do(ctx, req, &out)
	pr.CloseWithError(errors.New("request done"))
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateAssetFromURL makes the server download rawURL into a new asset
// (POST /assets, method url). The asset comes back processing.
func (c *Client) CreateAssetFromURL(ctx context.Context, rawURL string, opts *AssetOptions) (*api.Asset, error) {
	if opts == nil {
		opts = &AssetOptions{}
	}
	meta, err := encodeMetadata(opts.UserMetadata)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	mw := multipart.NewWriter(&b)
	mw.WriteField("method", api.MethodURL)
	mw.WriteField("url", rawURL)
	if opts.Filename != "" {
		mw.WriteField("filename", opts.Filename)
	}
	if meta != "" {
		mw.WriteField("user_metadata", meta)
	}
	mw.Close()
	var out api.Asset
	req := &request{method: http.MethodPost, path: assetsPath, stream: strings.NewReader(b.String()), contentType: mw.FormDataContentType()}
	if err := c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func encodeMetadata(m map[string]any) (string, error) {
	if len(m) == 0 {
		return "", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("framewise: user metadata: %w", err)
	}
	return string(b), nil
}

// GetAsset returns an asset (GET /assets/{id}). An unknown id gives an
// error matching ErrNotFound.
func (c *Client) GetAsset(ctx context.Context, id string, opts ...CallOption) (*api.Asset, error) {
	if id == "" {
		return nil, errors.New("framewise: GetAsset: empty asset id")
	}
	var out api.Asset
	r := &request{method: http.MethodGet, path: assetsPath + "/" + url.PathEscape(id), call: callOptions(opts)}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteAsset deletes an asset and its file (DELETE /assets/{id}). While
// unfinished tasks use the asset the error matches ErrConflict.
func (c *Client) DeleteAsset(ctx context.Context, id string, opts ...CallOption) error {
	if id == "" {
		return errors.New("framewise: DeleteAsset: empty asset id")
	}
	r := &request{method: http.MethodDelete, path: assetsPath + "/" + url.PathEscape(id), call: callOptions(opts)}
	return c.do(ctx, r, nil)
}

// AssetListOptions selects a page of assets. Zero values are left out.
type AssetListOptions struct {
	Page      int
	PageLimit int      // at most 50
	IDs       []string // any of these
	Types     []string // any of api.AssetType*
	Filename  string   // case-insensitive substring
}

func (o AssetListOptions) query() url.Values {
	q := url.Values{}
	if o.Page > 0 {
		q.Set("page", strconv.Itoa(o.Page))
	}
	if o.PageLimit > 0 {
		q.Set("page_limit", strconv.Itoa(o.PageLimit))
	}
	for _, id := range o.IDs {
		q.Add("asset_ids", id)
	}
	for _, t := range o.Types {
		q.Add("asset_types", t)
	}
	if o.Filename != "" {
		q.Set("filename", o.Filename)
	}
	return q
}

// ListAssets returns one page of assets, newest first (GET /assets).
func (c *Client) ListAssets(ctx context.Context, opts AssetListOptions, callOpts ...CallOption) (*api.AssetList, error) {
	var out api.AssetList
	r := &request{method: http.MethodGet, path: assetsPath, query: opts.query(), call: callOptions(callOpts)}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Assets iterates over every asset that matches opts, page after page,
// like Tasks does for tasks.
func (c *Client) Assets(ctx context.Context, opts AssetListOptions) iter.Seq2[api.Asset, error] {
	return pages(opts.Page, "assets", func(page int) ([]api.Asset, api.PageInfo, error) {
		o := opts
		o.Page = page
		list, err := c.ListAssets(ctx, o)
		if err != nil {
			return nil, api.PageInfo{}, err
		}
		return list.Data, list.PageInfo, nil
	})
}

// WaitAsset polls GetAsset until the asset is ready or failed, on the
// schedule of Wait (WithPollInterval, WithBackoffFactor and
// WithMaxPollInterval apply; OnUpdate does not). A failed asset is
// returned with an *AssetFailedError.
func (c *Client) WaitAsset(ctx context.Context, id string, opts ...WaitOption) (*api.Asset, error) {
	a, err := poll(ctx, c, opts, func() (*api.Asset, error) { return c.GetAsset(ctx, id) },
		func(a *api.Asset) bool { return a.Status == api.AssetReady || a.Status == api.AssetFailed })
	if err == nil && a.Status == api.AssetFailed {
		fe := &AssetFailedError{AssetID: id}
		if a.Error != nil {
			fe.Message = a.Error.Message
		}
		return a, fe
	}
	return a, err
}

// CreateUpload starts a multipart upload (POST /assets/multipart-uploads).
// Most callers want UploadFile, which does every step.
func (c *Client) CreateUpload(ctx context.Context, req *api.CreateUploadRequest) (*api.CreateUploadResponse, error) {
	r, err := jsonRequest("CreateUpload", http.MethodPost, uploadsPath, req, nil)
	if err != nil {
		return nil, err
	}
	var out api.CreateUploadResponse
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetUploadStatus returns a session and one page of its chunks (page from
// 1, pageLimit at most 50; zero values take the server's defaults).
func (c *Client) GetUploadStatus(ctx context.Context, uploadID string, page, pageLimit int) (*api.UploadStatus, error) {
	q := url.Values{}
	if page > 0 {
		q.Set("page", strconv.Itoa(page))
	}
	if pageLimit > 0 {
		q.Set("page_limit", strconv.Itoa(pageLimit))
	}
	var out api.UploadStatus
	r := &request{method: http.MethodGet, path: uploadsPath + "/" + url.PathEscape(uploadID), query: q}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ReportChunks reports uploaded chunks with their ETags. It is retried on
// transient failures: the server counts a chunk reported twice as a duplicate.
func (c *Client) ReportChunks(ctx context.Context, uploadID string, chunks []api.CompletedChunk) (*api.ReportChunksResponse, error) {
	body, err := json.Marshal(api.ReportChunksRequest{CompletedChunks: chunks})
	if err != nil {
		return nil, err
	}
	var out api.ReportChunksResponse
	r := &request{method: http.MethodPost, path: uploadsPath + "/" + url.PathEscape(uploadID), body: body, idempotent: true}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PresignedURLs asks for new presigned URLs of count chunks from start.
func (c *Client) PresignedURLs(ctx context.Context, uploadID string, start, count int) (*api.PresignedURLsResponse, error) {
	body, _ := json.Marshal(api.PresignedURLsRequest{Start: start, Count: count})
	var out api.PresignedURLsResponse
	r := &request{method: http.MethodPost, path: uploadsPath + "/" + url.PathEscape(uploadID) + "/presigned-urls", body: body, idempotent: true}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AbortUpload ends a multipart upload that is not completed and deletes
// its chunks at once (DELETE /assets/multipart-uploads/{id}, a framewise
// extension that TwelveLabs does not have). An unknown upload matches
// ErrNotFound; a completed one ErrConflict (delete its asset instead).
func (c *Client) AbortUpload(ctx context.Context, uploadID string, opts ...CallOption) error {
	if uploadID == "" {
		return errors.New("framewise: AbortUpload: empty upload id")
	}
	r := &request{method: http.MethodDelete, path: uploadsPath + "/" + url.PathEscape(uploadID), call: callOptions(opts)}
	return c.do(ctx, r, nil)
}

// ListUploads returns a page of incomplete multipart uploads.
func (c *Client) ListUploads(ctx context.Context, page, pageLimit int) (*api.UploadList, error) {
	q := url.Values{}
	if page > 0 {
		q.Set("page", strconv.Itoa(page))
	}
	if pageLimit > 0 {
		q.Set("page_limit", strconv.Itoa(pageLimit))
	}
	var out api.UploadList
	if err := c.do(ctx, &request{method: http.MethodGet, path: uploadsPath, query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PutChunk sends one chunk to its presigned URL and returns the ETag the
// server answered with, without quotes. The API key is not sent: the URL's
// signature authorizes the request. Failures are *APIError.
func (c *Client) PutChunk(ctx context.Context, presignedURL string, body io.Reader, size int64) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, presignedURL, body)
	if err != nil {
		return "", fmt.Errorf("framewise: PutChunk: %w", err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", parseAPIError(resp, data)
	}
	etag := strings.Trim(resp.Header.Get("ETag"), `"`)
	if etag == "" {
		return "", fmt.Errorf("framewise: PutChunk: the server answered without an ETag")
	}
	return etag, nil
}

// UploadOptions configure UploadFile.
type UploadOptions struct {
	// Filename names the asset; default the file's base name.
	Filename string
	// Type is video, audio or image; default from the file's extension,
	// else video.
	Type         string
	UserMetadata map[string]any
	// Concurrency is how many chunks are sent at once; default 4.
	Concurrency int
	// UploadID resumes an earlier session of the same file: chunks the
	// server reports completed are not sent again. When the session can
	// no longer be resumed (expired, unknown, another size), a new one is
	// started.
	UploadID string
	// OnSession is called once the session is known (created or resumed),
	// before any chunk is sent: the place to remember UploadID.
	OnSession func(s UploadSession)
	// OnProgress is called after each chunk is reported, from the
	// goroutine that sent it, one call at a time.
	OnProgress func(p UploadProgress)
}

// UploadSession describes the session an upload uses.
type UploadSession struct {
	UploadID    string
	AssetID     string
	ChunkSize   int64
	TotalChunks int
	// Resumed is true when an earlier session is continued;
	// CompletedChunks of them were done already.
	Resumed         bool
	CompletedChunks int
}

// UploadProgress is how far an upload has come.
type UploadProgress struct {
	CompletedChunks, TotalChunks int
	UploadedBytes, TotalBytes    int64
}

// UploadResult is a finished multipart upload. The asset is processing;
// follow it with WaitAsset.
type UploadResult struct {
	UploadID string
	AssetID  string
	// ChunksSent counts the chunks sent by this call (not those a resumed
	// session had already).
	ChunksSent int
}

// UploadFile uploads a local file as an asset with a multipart upload:
// it creates (or resumes) a session, sends chunks in parallel to presigned
// URLs, asking for more URLs as needed, reports each chunk with its ETag
// right after sending it, and returns once every chunk is reported. Each
// chunk is read from the file as it is sent; memory does not grow with
// the file. A failed chunk PUT is retried a few times.
func (c *Client) UploadFile(ctx context.Context, path string, opts UploadOptions) (*UploadResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("framewise: UploadFile: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("framewise: UploadFile: %w", err)
	}
	size := fi.Size()
	if size == 0 {
		return nil, fmt.Errorf("framewise: UploadFile: %s is empty", path)
	}
	u := &uploader{c: c, f: f, size: size, opts: opts, urls: map[int]api.PresignedURL{}}
	if err := u.start(ctx, path); err != nil {
		return nil, err
	}
	if err := u.run(ctx); err != nil {
		return nil, err
	}
	return &UploadResult{UploadID: u.id, AssetID: u.assetID, ChunksSent: u.sent}, nil
}

type uploader struct {
	c    *Client
	f    *os.File
	size int64
	opts UploadOptions

	id, assetID string
	chunkSize   int64
	total       int
	pending     []int

	fetchMu   sync.Mutex // one request for URLs at a time
	mu        sync.Mutex
	urls      map[int]api.PresignedURL
	completed int
	uploaded  int64
	sent      int
}

// start resumes opts.UploadID when it can, else creates a session.
func (u *uploader) start(ctx context.Context, path string) error {
	if u.opts.UploadID != "" {
		ok, err := u.resume(ctx)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	name := u.opts.Filename
	if name == "" {
		name = filepath.Base(path)
	}
	typ := u.opts.Type
	if typ == "" {
		typ = TypeOf(name)
	}
	created, err := u.c.CreateUpload(ctx, &api.CreateUploadRequest{Filename: name, Type: typ, TotalSize: u.size, UserMetadata: u.opts.UserMetadata})
	if err != nil {
		return err
	}
	u.id, u.assetID, u.chunkSize, u.total = created.UploadID, created.AssetID, created.ChunkSize, created.TotalChunks
	if u.chunkSize <= 0 || u.total != int((u.size+u.chunkSize-1)/u.chunkSize) {
		return fmt.Errorf("framewise: UploadFile: the server chose %d chunks of %d bytes for %d bytes", u.total, u.chunkSize, u.size)
	}
	for _, p := range created.UploadURLs {
		u.urls[p.ChunkIndex] = p
	}
	for i := 1; i <= u.total; i++ {
		u.pending = append(u.pending, i)
	}
	u.notify(UploadSession{UploadID: u.id, AssetID: u.assetID, ChunkSize: u.chunkSize, TotalChunks: u.total})
	return nil
}

// resume reads the status of opts.UploadID, all pages, and keeps the
// chunks that are not completed. ok is false when the session cannot be
// continued.
func (u *uploader) resume(ctx context.Context) (ok bool, err error) {
	var done map[int]bool
	for page := 1; ; page++ {
		st, err := u.c.GetUploadStatus(ctx, u.opts.UploadID, page, 50)
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if page == 1 {
			if st.TotalSize != u.size || (st.Status != api.UploadActive && st.Status != api.UploadCompleted) {
				return false, nil
			}
			u.id, u.assetID, u.chunkSize, u.total = st.UploadID, st.AssetID, st.ChunkSize, st.TotalChunks
			if u.assetID == "" || u.chunkSize <= 0 || u.total != int((u.size+u.chunkSize-1)/u.chunkSize) {
				return false, nil // the server does not say how to resume
			}
			done = make(map[int]bool, u.total)
		}
		for _, ch := range st.UploadedChunks {
			if ch.Status == api.ChunkCompleted {
				done[ch.Index] = true
			}
		}
		if len(st.UploadedChunks) == 0 || page >= st.PageInfo.TotalPage {
			break
		}
	}
	for i := 1; i <= u.total; i++ {
		if done[i] {
			u.completed++
			u.uploaded += u.chunkLen(i)
		} else {
			u.pending = append(u.pending, i)
		}
	}
	u.notify(UploadSession{UploadID: u.id, AssetID: u.assetID, ChunkSize: u.chunkSize, TotalChunks: u.total,
		Resumed: true, CompletedChunks: u.completed})
	return true, nil
}

func (u *uploader) notify(s UploadSession) {
	if u.opts.OnSession != nil {
		u.opts.OnSession(s)
	}
}

func (u *uploader) chunkLen(i int) int64 {
	if i < u.total {
		return u.chunkSize
	}
	return u.size - int64(u.total-1)*u.chunkSize
}

// url returns a presigned URL for chunk i that is valid for another
// minute, asking the server for a batch of them when needed.
func (u *uploader) url(ctx context.Context, i int, fresh bool) (string, error) {
	cached := func() (string, bool) {
		u.mu.Lock()
		defer u.mu.Unlock()
		p, ok := u.urls[i]
		return p.URL, ok && !fresh && time.Until(p.ExpiresAt) > time.Minute
	}
	if url, ok := cached(); ok {
		return url, nil
	}
	u.fetchMu.Lock()
	defer u.fetchMu.Unlock()
	if url, ok := cached(); ok {
		return url, nil // another worker fetched it meanwhile
	}
	count := 1
	if !fresh {
		count = min(50, u.total-i+1)
	}
	res, err := u.c.PresignedURLs(ctx, u.id, i, count)
	if err != nil {
		return "", err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, p := range res.UploadURLs {
		if fresh && p.ChunkIndex != i {
			continue
		}
		if _, have := u.urls[p.ChunkIndex]; !have || p.ChunkIndex == i {
			u.urls[p.ChunkIndex] = p
		}
	}
	p, ok := u.urls[i]
	if !ok {
		return "", fmt.Errorf("framewise: the server sent no upload URL for chunk %d", i)
	}
	return p.URL, nil
}

func (u *uploader) run(ctx context.Context) error {
	if len(u.pending) == 0 {
		// Every chunk was reported already; a duplicate report returns the
		// completion state.
		return nil
	}
	workers := u.opts.Concurrency
	if workers <= 0 {
		workers = 4
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(u.pending)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := u.chunk(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
feed:
	for _, i := range u.pending {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// chunk sends and reports chunk i, retrying the PUT on transient errors
// and with a fresh URL when the server refuses the URL.
func (u *uploader) chunk(ctx context.Context, i int) error {
	n := u.chunkLen(i)
	off := int64(i-1) * u.chunkSize
	fresh := false
	var etag string
	for attempt := 0; ; attempt++ {
		url, err := u.url(ctx, i, fresh)
		if err != nil {
			return err
		}
		etag, err = u.c.PutChunk(ctx, url, io.NewSectionReader(u.f, off, n), n)
		if err == nil {
			break
		}
		var ae *APIError
		refused := errors.As(err, &ae) && ae.StatusCode == http.StatusForbidden &&
			(ae.Code == api.CodeUploadURLExpired || ae.Code == api.CodeUploadURLUsed || ae.Code == api.CodeUploadURLInvalid)
		if attempt >= 3 || (!refused && !isTransient(ctx, err)) {
			return fmt.Errorf("framewise: upload of chunk %d failed: %w", i, err)
		}
		fresh = refused
		if err := u.c.sleep(ctx, u.c.retryDelay(attempt+1, err)); err != nil {
			return err
		}
	}
	if _, err := u.c.ReportChunks(ctx, u.id, []api.CompletedChunk{{ChunkIndex: i, Proof: etag, ProofType: "etag", ChunkSize: n}}); err != nil {
		return fmt.Errorf("framewise: report of chunk %d failed: %w", i, err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.completed++
	u.uploaded += n
	u.sent++
	if u.opts.OnProgress != nil {
		u.opts.OnProgress(UploadProgress{CompletedChunks: u.completed, TotalChunks: u.total, UploadedBytes: u.uploaded, TotalBytes: u.size})
	}
	return nil
}

// TypeOf guesses an asset type from a file name's extension: video, audio
// or image; video when the extension does not tell.
func TypeOf(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".mp3", ".m4a", ".aac", ".wav", ".flac", ".ogg", ".oga", ".opus", ".wma", ".aif", ".aiff", ".mka":
		return api.AssetTypeAudio
	case ".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff":
		return api.AssetTypeImage
	}
	return api.AssetTypeVideo
}
