package asset

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/framewise/framewise/internal/redact"
)

// maxFieldBytes bounds one text field of the upload form.
const maxFieldBytes = 64 << 10

// formFields are the text fields of POST /assets.
var formFields = map[string]bool{"method": true, "url": true, "filename": true, "enable_hls": true, "enable_thumbnail": true, "user_metadata": true}

// storedFile is the file part of a direct upload, once in the blob store.
type storedFile struct {
	name     string
	typ      Type
	mimeType string
	size     int64
}

// CreateFromForm creates an asset from the multipart/form-data body of
// POST /assets (method direct with a file, or method url). Fields may come
// in any order: the file is streamed into the blob store as it arrives,
// under the key the new asset will have, and removed again when the form
// turns out to be invalid. Nothing is held in memory but the small text
// fields. The asset is returned in status processing, its job enqueued.
func (s *Service) CreateFromForm(ctx context.Context, mr *multipart.Reader) (*Asset, error) {
	now := s.clock()
	id := newID(now)
	fields := map[string]string{}
	var file *storedFile
	var firstErr error
	keep := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	cleanup := func() {
		if file != nil {
			_ = s.blobs.Delete(ctx, "assets/"+id)
		}
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			cleanup()
			return nil, formError(err)
		}
		name := part.FormName()
		switch {
		case name == "file":
			if file != nil {
				keep(invalid("The form has more than one file part. Send one file per request."))
				continue
			}
			f, err := s.storeFormFile(ctx, id, part)
			var ae *Error
			switch {
			case errors.As(err, &ae) && ae.Code == "file_type_unsupported":
				keep(err) // read on: the client gets the 400 rather than a broken connection
			case err != nil:
				cleanup()
				return nil, formError(err)
			default:
				file = f
			}
		case formFields[name]:
			if _, dup := fields[name]; dup {
				keep(invalid("The %s field appears more than once. Send it once.", name))
				continue
			}
			v, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil {
				cleanup()
				return nil, formError(err)
			}
			if len(v) > maxFieldBytes {
				keep(invalid("The %s field is longer than %d bytes.", name, maxFieldBytes))
				continue
			}
			fields[name] = string(v)
		case name == "":
			keep(invalid("A part of the form has no field name. Send multipart/form-data with named fields."))
		default:
			keep(errorf(http.StatusBadRequest, "parameter_unknown", "The %s parameter is not recognized. Remove it and try again.", name))
		}
	}
	if firstErr != nil {
		cleanup()
		return nil, firstErr
	}
	a, err := s.formAsset(id, fields, file)
	if err != nil {
		cleanup()
		return nil, err
	}
	if a.Method == URL && s.quota != nil {
		// Its download is not refused later (jobs finish what the API
		// accepted): refuse it now when nothing more fits.
		if err := s.quota.Check(1); err != nil {
			return nil, err
		}
	}
	a.CreatedAt, a.UpdatedAt = now, now
	if err := s.store.CreateAsset(ctx, a); err != nil {
		cleanup()
		return nil, err
	}
	s.log.Info("asset created", "asset_id", a.ID, "method", a.Method, "type", a.Type, "size", a.Size, "filename", a.Filename)
	return a, nil
}

// ErrStorage is a failure to store an uploaded file (a full disk, a
// permission problem): the server's fault, not the client's. Errors that
// wrap it are not *Error: the API answers them as internal errors, with a
// generic message, and logs their text, which names files of the server,
// with the request id.
var ErrStorage = errors.New("the server could not store the file")

// sourceReader is the client's body on its way to the blob store. It
// remembers the body's own read error, so that a failed Put can be blamed
// on the client (a broken or malformed body) or on the store.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// blame returns the error of a failed Put of the body: the context's, the
// body's read error, or else err from the store, wrapped in ErrStorage.
func (s *sourceReader) blame(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case s.err != nil:
		return s.err
	}
	return fmt.Errorf("%w: %w", ErrStorage, err)
}

// formError passes on a body-size error (for a 413) and turns a malformed
// body into a 400.
func formError(err error) error {
	var mbe *http.MaxBytesError
	var ae *Error
	if errors.As(err, &mbe) || errors.As(err, &ae) || errors.Is(err, context.Canceled) || errors.Is(err, ErrStorage) {
		return err
	}
	return invalid("The multipart/form-data body could not be read (%v). Send the fields method, file or url, and optionally filename and user_metadata.", err)
}

// storeFormFile classifies the file part and streams it into the blob
// store, refusing it when it is over the limit of its type.
func (s *Service) storeFormFile(ctx context.Context, id string, part *multipart.Part) (*storedFile, error) {
	br := bufio.NewReaderSize(part, 4096)
	head, _ := br.Peek(512)
	name := part.FileName()
	typ, mimeType, ok, reason := Classify(name, part.Header.Get("Content-Type"), head)
	if !ok {
		return nil, unsupported(name, reason)
	}
	limit := s.lim.DirectBytes
	if typ == Image {
		limit = s.lim.ImageBytes
	}
	key := SourceKey(id)
	src := &sourceReader{r: io.LimitReader(br, limit+1)}
	n, err := s.blobs.Put(ctx, key, src)
	if err != nil {
		_ = s.blobs.Delete(ctx, "assets/"+id)
		return nil, src.blame(ctx, err)
	}
	switch {
	case n > limit:
		_ = s.blobs.Delete(ctx, "assets/"+id)
		return nil, tooLarge(typ, limit, "direct upload")
	case n == 0:
		_ = s.blobs.Delete(ctx, "assets/"+id)
		return nil, invalid("The file is empty. Send the media file's bytes in the file field.")
	}
	return &storedFile{name: name, typ: typ, mimeType: mimeType, size: n}, nil
}

func unsupported(name, reason string) *Error {
	what := "The file"
	if name != "" {
		what = fmt.Sprintf("The file %q", name)
	}
	return errorf(http.StatusBadRequest, "file_type_unsupported",
		"%s is %s, which framewise does not accept. Upload a video (MP4, MOV, MKV, WebM, …), audio (MP3, WAV, M4A, …) or image (JPEG, PNG, WebP, …) file.", what, reason)
}

func tooLarge(typ Type, limit int64, how string) *Error {
	hint := ""
	if typ != Image && how == "direct upload" {
		hint = " Upload larger files with a multipart upload (POST /v1.3/assets/multipart-uploads), up to 10 GiB."
	}
	kind := "video and audio files"
	if typ == Image {
		kind = "images"
	}
	return errorf(http.StatusRequestEntityTooLarge, "file_too_large", "The file is larger than the %s limit of %s for %s.%s", how, humanBytes(limit), kind, hint)
}

// formAsset validates the text fields against the file and builds the asset.
func (s *Service) formAsset(id string, fields map[string]string, file *storedFile) (*Asset, error) {
	method, ok := fields["method"]
	if !ok || strings.TrimSpace(method) == "" {
		return nil, missing("method")
	}
	a := &Asset{ID: id, Method: Method(method), Status: Processing}
	for _, name := range []string{"enable_hls", "enable_thumbnail"} {
		if v, ok := fields[name]; ok && v != "true" && v != "false" {
			return nil, invalid("The %s parameter must be true or false, but %q was given.", name, v)
		}
	}
	if v, ok := fields["user_metadata"]; ok {
		md, err := ParseUserMetadata([]byte(v))
		if err != nil {
			return nil, err
		}
		a.UserMetadata = md
	}
	filename := strings.TrimSpace(fields["filename"])
	switch a.Method {
	case Direct:
		if _, ok := fields["url"]; ok {
			return nil, invalid("The url parameter is only for method url. With method direct, send the file in the file field.")
		}
		if file == nil {
			return nil, missing("file")
		}
		a.Type, a.FileType, a.Size, a.BlobKey = file.typ, file.mimeType, file.size, SourceKey(id)
		if filename == "" {
			filename = file.name
		}
	case URL:
		if file != nil {
			return nil, invalid("The file parameter is only for method direct. With method url, send the URL in the url field.")
		}
		raw, ok := fields["url"]
		if !ok || strings.TrimSpace(raw) == "" {
			return nil, missing("url")
		}
		u, err := checkURL(raw)
		if err != nil {
			return nil, err
		}
		typ, mimeType, ok, reason := classifyURL(u.Path)
		if !ok {
			return nil, unsupported(path.Base(u.Path), reason)
		}
		a.SourceURL, a.Type, a.FileType = u.String(), typ, mimeType
		if filename == "" {
			filename = path.Base(u.Path)
			if filename == "/" || filename == "." {
				filename = u.Hostname()
			}
		}
	default:
		return nil, invalid("The method parameter must be direct or url, but %q was given. Upload large files with POST /v1.3/assets/multipart-uploads.", method)
	}
	if filename == "" {
		filename = "upload"
	}
	a.Filename = filename
	return a, nil
}

// checkURL accepts an absolute http(s) URL without credentials. Where it
// may connect is decided at download time by the SSRF guard.
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, invalid("The url parameter must be an absolute http or https URL of the media file, but %q was given.", redact.URL(raw))
	}
	if u.User != nil {
		return nil, invalid("The url parameter must not contain credentials (user:password@). Use a presigned URL instead.")
	}
	return u, nil
}

// ParseUserMetadata reads user_metadata: a JSON object whose values are
// strings, numbers or booleans (spec §4.6).
func ParseUserMetadata(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil || dec.More() {
		return nil, invalid("The user_metadata parameter must be a JSON object such as {\"camera\":\"front\",\"take\":3}.")
	}
	for k, v := range m {
		switch x := v.(type) {
		case string, bool:
		case json.Number:
			f, err := x.Float64()
			if err != nil || math.IsInf(f, 0) {
				return nil, invalid("The user_metadata value of %q is not a usable number.", k)
			}
		default:
			return nil, invalid("The user_metadata value of %q must be a string, number or boolean; nested objects, arrays and null are not allowed.", k)
		}
	}
	return m, nil
}
