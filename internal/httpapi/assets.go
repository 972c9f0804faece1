package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/internal/apiconv"
	"github.com/framewise/framewise/internal/asset"
)

// Assets is what the API needs of the asset service.
type Assets interface {
	CreateFromForm(ctx context.Context, mr *multipart.Reader) (*asset.Asset, error)
	Get(ctx context.Context, id string) (*asset.Asset, error)
	List(ctx context.Context, f asset.Filter) ([]*asset.Asset, int, error)
	Delete(ctx context.Context, id string) error
	CreateUpload(ctx context.Context, req asset.UploadRequest, base string) (*asset.Upload, []asset.PresignedURL, error)
	UploadStatus(ctx context.Context, id string, page, limit int) (*asset.UploadState, error)
	ReportChunks(ctx context.Context, id string, in []asset.ReportedChunk) (*asset.ReportResult, error)
	PresignURLs(ctx context.Context, id string, start, count int, base string) (*asset.Upload, []asset.PresignedURL, error)
	ListUploads(ctx context.Context, page, limit int) ([]*asset.Upload, int, error)
	AbortUpload(ctx context.Context, id string) error
	PutChunk(ctx context.Context, uploadID string, index int, q url.Values, size int64, body io.Reader) (string, error)
	Limits() asset.Limits
}

// assetError turns the asset service's client errors, and a body over its
// limit, into API errors. Other errors pass through to writeError.
func (s *Server) assetError(err error) error {
	var ae *asset.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return &apiError{status: ae.Status, code: ae.Code, message: ae.Message}
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, api.CodeFileTooLarge,
			"The request body is larger than %d bytes. Direct uploads take video and audio files up to %d MiB and images up to %d MiB; "+
				"upload larger files with a multipart upload (POST /v1.3/assets/multipart-uploads).",
			mbe.Limit, s.assets.Limits().DirectBytes>>20, s.assets.Limits().ImageBytes>>20)
	}
	return err
}

// baseURL is this server's URL as the client reaches it, for presigned
// URLs and the asset URL of a completed upload: the configured public URL
// (--public-url). Without one it is built from the request, whose Host
// header the client chooses: it is used only when it names this server as
// the connection reached it (hostAllowed), and refused otherwise, so that
// a Host of someone else's (a DNS-rebinding page, a proxy forwarding the
// client's Host) never becomes the address where chunks are uploaded.
func (s *Server) baseURL(r *http.Request) (string, error) {
	if s.publicURL != "" {
		return s.publicURL, nil
	}
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	host := r.Host
	// net/http's server always records the local address; a handler called
	// without one (a test's recorder) has no connection to compare with.
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || local == nil {
		return scheme + "://" + host, nil
	}
	if host == "" {
		host = local.String() // HTTP/1.0 without Host: the address it came in on
	}
	if !hostAllowed(host, scheme, local) {
		return "", errorf(http.StatusMisdirectedRequest, api.CodeParameterInvalid,
			"Upload URLs point at the host this request was sent to, and the Host header %q does not name this server (the request arrived at %s). "+
				"Send the request to http://%s or a localhost address, or start framewise with --public-url set to the URL clients reach it at (for example https://fw.example.com).",
			host, local, local)
	}
	return scheme + "://" + host, nil
}

// hostAllowed reports whether a Host header names this server: a loopback
// name or address (localhost, *.localhost, 127.0.0.0/8, ::1; any port, for
// port mappings such as Docker's), or the IP address and port the
// connection arrived at (local). Names other than localhost need
// --public-url: the server cannot tell that a name resolves to it.
func hostAllowed(host, scheme string, local net.Addr) bool {
	if host == "" || strings.ContainsAny(host, "/?#@\\ ") {
		return false
	}
	name, port, err := net.SplitHostPort(host)
	switch {
	case err == nil:
	case strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]"):
		name, port = host[1:len(host)-1], "" // an IPv6 address without a port
	case !strings.ContainsAny(host, ":[]"):
		name, port = host, ""
	default:
		return false
	}
	if name == "" {
		return false
	}
	lower := strings.ToLower(strings.TrimSuffix(name, "."))
	if lower == "localhost" || strings.HasSuffix(lower, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(name)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	if ip.IsLoopback() {
		return true
	}
	tcp, ok := local.(*net.TCPAddr)
	if !ok || tcp == nil {
		return false
	}
	lip, ok := netip.AddrFromSlice(tcp.IP)
	if !ok || lip.Unmap().WithZone("") != ip.WithZone("") {
		return false
	}
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return port == strconv.Itoa(tcp.Port)
}

// createAsset is POST /assets: a multipart/form-data upload, read as a
// stream so that the file goes straight to the blob store.
func (s *Server) createAsset(r *http.Request) (int, any, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return 0, nil, errorf(http.StatusBadRequest, api.CodeParameterInvalid,
			"POST /v1.3/assets takes a multipart/form-data body with the fields method, file or url, filename and user_metadata. "+
				"Upload files above %d MiB with POST /v1.3/assets/multipart-uploads.", s.assets.Limits().DirectBytes>>20)
	}
	// The largest file plus room for the text fields.
	body := http.MaxBytesReader(nil, r.Body, s.assets.Limits().DirectBytes+1<<20)
	a, err := s.assets.CreateFromForm(r.Context(), multipart.NewReader(body, params["boundary"]))
	if err != nil {
		return 0, nil, s.assetError(err)
	}
	return http.StatusCreated, apiconv.Asset(a), nil
}

func (s *Server) getAsset(r *http.Request) (int, any, error) {
	a, err := s.assets.Get(r.Context(), r.PathValue("asset_id"))
	if err != nil {
		return 0, nil, s.assetError(err)
	}
	return http.StatusOK, apiconv.Asset(a), nil
}

func (s *Server) deleteAsset(r *http.Request) (int, any, error) {
	if v := r.URL.Query().Get("force"); v != "" && v != "true" && v != "false" {
		return 0, nil, errorf(http.StatusBadRequest, api.CodeParameterInvalid, "The force parameter must be true or false, but %q was given.", v)
	}
	if err := s.assets.Delete(r.Context(), r.PathValue("asset_id")); err != nil {
		return 0, nil, s.assetError(err)
	}
	return http.StatusNoContent, nil, nil
}

// listValues reads a repeatable query parameter; comma-separated values
// are accepted too.
func listValues(q url.Values, key string) []string {
	var out []string
	for _, v := range q[key] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func (s *Server) listAssets(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	f := asset.Filter{IDs: listValues(q, "asset_ids"), Filename: q.Get("filename")}
	var err error
	if f.Page, f.Limit, err = pageParams(q); err != nil {
		return 0, nil, err
	}
	types := listValues(q, "asset_types")
	for _, t := range types {
		switch t {
		case api.AssetTypeVideo, api.AssetTypeAudio, api.AssetTypeImage:
			f.Types = append(f.Types, asset.Type(t))
		case "document":
			// Upstream's fourth type: no asset here is a document.
		default:
			return 0, nil, errorf(http.StatusBadRequest, api.CodeParameterInvalid,
				"The asset_types parameter is invalid: %q. Use image, video, audio or document.", t)
		}
	}
	out := api.AssetList{Data: []api.Asset{}}
	total := 0
	if len(types) == 0 || len(f.Types) > 0 {
		assets, n, err := s.assets.List(r.Context(), f)
		if err != nil {
			return 0, nil, err
		}
		total = n
		for _, a := range assets {
			out.Data = append(out.Data, apiconv.Asset(a))
		}
	}
	out.PageInfo = pageInfo(f.Page, f.Limit, total)
	return http.StatusOK, out, nil
}

// decodeJSON reads a JSON object body into v. Unknown keys are refused
// (parameter_unknown), like on task creation; null is absent.
func decodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 1<<20))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil && dec.More():
		return errorf(http.StatusBadRequest, api.CodeParameterInvalid, "The request body must be one JSON object.")
	case err == nil:
		return nil
	case errors.As(err, &te) && te.Field != "":
		return errorf(http.StatusBadRequest, api.CodeParameterInvalid, "The %s parameter must be %s, not a JSON %s.", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errorf(http.StatusBadRequest, api.CodeParameterUnknown, "The %s parameter is not recognized. Remove it and try again.", name)
	}
	return errorf(http.StatusBadRequest, api.CodeParameterInvalid, "The request body is not a valid JSON object: %v.", err)
}

func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"):
		return "a whole number"
	case k == "string":
		return "a string"
	case k == "bool":
		return "true or false"
	case k == "slice":
		return "an array"
	case k == "map" || k == "struct":
		return "an object"
	}
	return "a " + k
}

// firstMissing takes pairs of a parameter name and whether it is missing,
// and returns the first missing name, or "".
func firstMissing(pairs ...any) string {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1].(bool) {
			return pairs[i].(string)
		}
	}
	return ""
}

func (s *Server) createUpload(r *http.Request) (int, any, error) {
	var req struct {
		Filename        *string         `json:"filename"`
		Type            *string         `json:"type"`
		TotalSize       *int64          `json:"total_size"`
		EnableHLS       *bool           `json:"enable_hls"`
		EnableThumbnail *bool           `json:"enable_thumbnail"`
		UserMetadata    json.RawMessage `json:"user_metadata"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return 0, nil, s.assetError(err)
	}
	if name := firstMissing("filename", req.Filename == nil, "type", req.Type == nil, "total_size", req.TotalSize == nil); name != "" {
		return 0, nil, errorf(http.StatusBadRequest, api.CodeParameterNotProvided, "The %s parameter is required but was not provided.", name)
	}
	in := asset.UploadRequest{Filename: *req.Filename, Type: *req.Type, TotalSize: *req.TotalSize}
	if len(req.UserMetadata) > 0 && string(req.UserMetadata) != "null" {
		md, err := asset.ParseUserMetadata(req.UserMetadata)
		if err != nil {
			return 0, nil, s.assetError(err)
		}
		in.UserMetadata = md
	}
	base, err := s.baseURL(r)
	if err != nil {
		return 0, nil, err
	}
	u, urls, err := s.assets.CreateUpload(r.Context(), in, base)
	if err != nil {
		return 0, nil, s.assetError(err)
	}
	return http.StatusCreated, api.CreateUploadResponse{
		UploadID:      u.ID,
		AssetID:       u.AssetID,
		UploadURLs:    apiconv.PresignedURLs(urls),
		UploadHeaders: map[string]string{"Content-Type": "application/octet-stream"},
		ChunkSize:     u.ChunkSize,
		TotalChunks:   u.TotalChunks,
		ExpiresAt:     u.ExpiresAt.Truncate(time.Millisecond),
	}, nil
}

func (s *Server) getUpload(r *http.Request) (int, any, error) {
	page, limit, err := pageParams(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	st, err := s.assets.UploadStatus(r.Context(), r.PathValue("upload_id"), page, limit)
	if err != nil {
		return 0, nil, s.assetError(err)
	}
	return http.StatusOK, apiconv.UploadStatus(st, pageInfo(page, limit, st.Upload.TotalChunks)), nil
}

func (s *Server) reportChunks(r *http.Request) (int, any, error) {
	var req struct {
		CompletedChunks *[]struct {
			ChunkIndex *int    `json:"chunk_index"`
			Proof      *string `json:"proof"`
			ProofType  *string `json:"proof_type"`
			ChunkSize  *int64  `json:"chunk_size"`
		} `json:"completed_chunks"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return 0, nil, s.assetError(err)
	}
	if req.CompletedChunks == nil {
		return 0, nil, errorf(http.StatusBadRequest, api.CodeParameterNotProvided, "The completed_chunks parameter is required but was not provided.")
	}
	in := make([]asset.ReportedChunk, 0, len(*req.CompletedChunks))
	for i, c := range *req.CompletedChunks {
		if name := firstMissing("chunk_index", c.ChunkIndex == nil, "proof", c.Proof == nil, "proof_type", c.ProofType == nil, "chunk_size", c.ChunkSize == nil); name != "" {
			return 0, nil, errorf(http.StatusBadRequest, api.CodeParameterNotProvided,
				"The completed_chunks[%d].%s parameter is required but was not provided.", i, name)
		}
		in = append(in, asset.ReportedChunk{Index: *c.ChunkIndex, Proof: *c.Proof, ProofType: *c.ProofType, Size: *c.ChunkSize})
	}
	// Checked before the report is applied: a refused Host changes nothing.
	base, err := s.baseURL(r)
	if err != nil {
		return 0, nil, err
	}
	id := r.PathValue("upload_id")
	res, err := s.assets.ReportChunks(r.Context(), id, in)
	if err != nil {
		return 0, nil, s.assetError(err)
	}
	out := api.ReportChunksResponse{AssetID: res.AssetID, ProcessedChunks: res.Processed, DuplicateChunks: res.Duplicates, TotalCompleted: res.TotalCompleted}
	if res.Complete {
		out.URL = base + api.BasePath + "/assets/" + res.AssetID
	}
	return http.StatusOK, out, nil
}

func (s *Server) presignedURLs(r *http.Request) (int, any, error) {
	var req struct {
		Start *int `json:"start"`
		Count *int `json:"count"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return 0, nil, s.assetError(err)
	}
	if name := firstMissing("start", req.Start == nil, "count", req.Count == nil); name != "" {
		return 0, nil, errorf(http.StatusBadRequest, api.CodeParameterNotProvided, "The %s parameter is required but was not provided.", name)
	}
	base, err := s.baseURL(r)
	if err != nil {
		return 0, nil, err
	}
	u, urls, err := s.assets.PresignURLs(r.Context(), r.PathValue("upload_id"), *req.Start, *req.Count, base)
	if err != nil {
		return 0, nil, s.assetError(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	out := api.PresignedURLsResponse{UploadID: u.ID, StartIndex: *req.Start, Count: len(urls), UploadURLs: apiconv.PresignedURLs(urls), GeneratedAt: now}
	if len(urls) > 0 {
		out.ExpiresAt = urls[0].ExpiresAt
	}
	return http.StatusOK, out, nil
}

// abortUpload is DELETE /assets/multipart-uploads/{upload_id}, a
// framewise extension: the session and its chunks are deleted at once.
func (s *Server) abortUpload(r *http.Request) (int, any, error) {
	if err := s.assets.AbortUpload(r.Context(), r.PathValue("upload_id")); err != nil {
		return 0, nil, s.assetError(err)
	}
	return http.StatusNoContent, nil, nil
}

func (s *Server) listUploads(r *http.Request) (int, any, error) {
	page, limit, err := pageParams(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	uploads, total, err := s.assets.ListUploads(r.Context(), page, limit)
	if err != nil {
		return 0, nil, err
	}
	out := api.UploadList{Data: make([]api.UploadSummary, 0, len(uploads)), PageInfo: pageInfo(page, limit, total)}
	for _, u := range uploads {
		out.Data = append(out.Data, apiconv.UploadSummary(u))
	}
	return http.StatusOK, out, nil
}

// putChunk is PUT /uploads/{upload_id}/{chunk_index}: the target of a
// presigned URL. The signature in the query authorizes it, not an API key.
// It answers 200 with the chunk's ETag (quoted, like S3) and no body.
func (s *Server) putChunk(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Expose-Headers", "ETag")
	idx, err := strconv.Atoi(r.PathValue("chunk_index"))
	if err != nil {
		s.writeError(w, r, flat, errorf(http.StatusNotFound, api.CodeNotFound, "There is no chunk %q: chunk indexes are whole numbers from 1.", r.PathValue("chunk_index")))
		return
	}
	etag, err := s.assets.PutChunk(r.Context(), r.PathValue("upload_id"), idx, r.URL.Query(), r.ContentLength, r.Body)
	if err != nil {
		err = s.assetError(err)
		var ae *apiError
		if errors.As(err, &ae) && ae.code != "upload_url_invalid" {
			// The URL was ours (used, expired, the upload is over): the
			// sender reads why, rather than a reset of its upload.
			exchangeOf(r).closeAfterAnswer(w)
		}
		s.writeError(w, r, flat, err)
		return
	}
	// Spelled as S3 does; Set would canonicalize it to "Etag".
	w.Header()["ETag"] = []string{fmt.Sprintf("%q", etag)}
	w.WriteHeader(http.StatusOK)
}

// uploadPreflight answers CORS preflight requests for presigned URLs, so
// that browsers can upload chunks directly.
func (s *Server) uploadPreflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "PUT")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "3600")
	w.WriteHeader(http.StatusNoContent)
}
