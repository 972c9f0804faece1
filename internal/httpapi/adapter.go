package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/internal/account"
	"github.com/framewise/framewise/internal/diskspace"
	"github.com/framewise/framewise/internal/task"
)

// shape is the error body shape of an endpoint (spec §2.1).
type shape int

const (
	flat   shape = iota // {"code", "message"}
	nested              // {"error": {"code", "message"}}
)

// handlerFunc is one endpoint: it returns the status and body to send, or
// an error that the adapter maps to the endpoint's wire shape.
type handlerFunc func(r *http.Request) (status int, body any, err error)

// withHeader is a response body that also sets one response header.
type withHeader struct {
	body        any
	name, value string
	// drainAfter sends the answer before the request body is read, then
	// reads and drops a little of it and closes the connection
	// (exchange.closeAfterAnswer).
	drainAfter bool
}

// Pace of drain: drainChunk bytes every drainPause, for at most drainFor.
const (
	drainChunk = 32 << 10
	drainPause = 20 * time.Millisecond
	drainFor   = 2 * time.Second
)

// drain reads and drops up to limit bytes of a request body whose answer
// was sent, slowly, for at most drainFor. A client still sending its body
// keeps its connection for that long, time to read the answer (a client
// such as Go's reports the reset of a connection it is still writing to
// rather than an answer it has not read yet), and the server spends a few
// reads on it, not a copy of the whole body.
func drain(rc *http.ResponseController, body io.Reader, limit int64) {
	deadline := time.Now().Add(drainFor)
	_ = rc.SetReadDeadline(deadline)
	buf := make([]byte, drainChunk)
	for read := int64(0); read < limit && time.Now().Before(deadline); {
		n, err := body.Read(buf)
		read += int64(n)
		if err != nil {
			return
		}
		time.Sleep(drainPause)
	}
}

// rawBody is a response body sent as it is, not as JSON.
type rawBody struct {
	contentType string
	data        []byte
}

// apiError is an error with a status and code for the client.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

type ctxKey struct{}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(ctxKey{}).(string)
	return id
}

// middleware wraps every route: request id, version header, panic
// recovery and an access log.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		h := w.Header()
		h.Set("X-Api-Version", "1.3")
		h.Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, id))
		r, x := startExchange(w, r)
		rw := &statusWriter{ResponseWriter: w, status: 200, x: x}
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("panic in handler", "request_id", id, "method", r.Method, "path", r.URL.Path, "panic", v)
				if !rw.wrote {
					s.writeError(rw, r, nested, errors.New("panic"))
				}
			}
			level := slog.LevelDebug
			if rw.status >= 400 || r.Method != http.MethodGet {
				level = slog.LevelInfo
			}
			if rw.status >= 500 && rw.status != http.StatusServiceUnavailable {
				// 503 is the server busy or starting, not a fault.
				level = slog.LevelError
			}
			took := time.Since(start)
			s.log.Log(r.Context(), level, "http", "request_id", id, "method", r.Method, "path", r.URL.Path,
				"status", rw.status, "took", took.Round(time.Microsecond))
			// The route is the pattern ServeMux matched (it sets it on r).
			s.metrics.HTTP(r.Pattern, r.Method, rw.status, took)
		}()
		// ServeMux answers a path with "//", "." or ".." segments or a
		// trailing slash with a redirect and an HTML body. Serve the
		// canonical path instead: a client whose base URL ends in "/"
		// still reaches the endpoint, and every answer stays JSON.
		if p := r.URL.Path; !canonicalPath(p) {
			u := *r.URL
			u.Path, u.RawPath = path.Clean("/"+p), ""
			r.URL = &u
		}
		if isOverflow(r) {
			s.serveOverflow(rw, r, next)
			return
		}
		next.ServeHTTP(rw, r)
		x.lingerDrain(r.Body)
	})
}

// canonicalPath reports whether p is absolute and already clean; it
// allocates nothing, as it runs on every request.
func canonicalPath(p string) bool {
	return strings.HasPrefix(p, "/") && path.Clean(p) == p
}

// endpoint adapts a handlerFunc: auth, error mapping, JSON encoding.
// Auth comes before anything reads the body: a request without a valid
// key gets its 401 at once and the connection is closed without reading
// the rest of the body (statusWriter, refusesBody).
func (s *Server) endpoint(sh shape, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, err := s.authenticate(r)
		if err != nil {
			s.writeError(w, r, sh, err)
			return
		}
		r = r.WithContext(account.NewContext(r.Context(), name))
		if !s.admit(w, r, sh) {
			return
		}
		status, body, err := h(r)
		if err != nil {
			s.writeError(w, r, sh, err)
			return
		}
		if st, ok := body.(streamer); ok {
			st.serve(w, r)
			return
		}
		if wh, ok := body.(withHeader); ok {
			w.Header().Set(wh.name, wh.value)
			body = wh.body
			if wh.drainAfter {
				// Answered now; the middleware drains a little of the
				// body afterwards (lingerDrain).
				exchangeOf(r).closeAfterAnswer(w)
			}
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		if rb, ok := body.(rawBody); ok {
			w.Header().Set("Content-Type", rb.contentType)
			w.WriteHeader(status)
			_, _ = w.Write(rb.data)
			return
		}
		writeJSON(w, status, body)
	})
}

// admit applies the rate limit of the request's account (spec §2.3:
// limits are per account, across its keys): it sets the X-Ratelimit-*
// headers and, when the account has used up the
// current minute, answers 429 too_many_requests with Retry-After.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, sh shape) bool {
	if s.limiter == nil {
		return true
	}
	d := s.limiter.Take(accountOf(r))
	h := w.Header()
	h.Set("X-Ratelimit-Limit", strconv.Itoa(d.Limit))
	h.Set("X-Ratelimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("X-Ratelimit-Used", strconv.Itoa(d.Used))
	h.Set("X-Ratelimit-Reset", strconv.FormatInt(d.Reset.Unix(), 10))
	if d.Allowed {
		return true
	}
	wait := max(1, int(math.Ceil(d.Reset.Sub(s.now()).Seconds())))
	h.Set("Retry-After", strconv.Itoa(wait))
	s.writeError(w, r, sh, errorf(http.StatusTooManyRequests, api.CodeTooManyRequests,
		"You have exceeded the rate limit (%d requests per minute). Retry after %d seconds.", d.Limit, wait))
	return false
}

// accountOf is the account an endpoint's request acts for (set by
// endpoint), the owner of its rate limit and idempotency keys.
func accountOf(r *http.Request) string {
	return account.Owner(r.Context())
}

var (
	errKeyInvalid = errorf(http.StatusUnauthorized, api.CodeAPIKeyInvalid,
		"The API key is missing or invalid. Send a valid key in the x-api-key header.")
	errKeyRevoked = errorf(http.StatusUnauthorized, api.CodeAPIKeyInvalid,
		"The API key was revoked. Ask the server's operator for a new key and send it in the x-api-key header.")
)

// authenticate returns the account of a request's x-api-key: the default
// account for a key of --api-key (compared in constant time), the key's
// account for a key of an account (looked up by hash on every request, so
// a revoked key is refused at once, in every process). With no --api-key
// (the open loopback mode) a request without an account key acts for the
// default account; a revoked key is refused in every mode.
func (s *Server) authenticate(r *http.Request) (string, error) {
	got := r.Header.Get("x-api-key")
	if len(s.keys) > 0 {
		ok := 0
		for _, k := range s.keys {
			ok |= subtle.ConstantTimeCompare([]byte(got), k)
		}
		if ok == 1 {
			return account.Default, nil
		}
	}
	if s.accounts != nil && got != "" {
		name, err := s.accounts.Authenticate(r.Context(), got)
		switch {
		case err == nil:
			return name, nil
		case errors.Is(err, account.ErrRevoked):
			return "", errKeyRevoked
		case !errors.Is(err, account.ErrKeyNotFound):
			return "", err
		}
	}
	if len(s.keys) == 0 {
		return account.Default, nil
	}
	return "", errKeyInvalid
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		http.Error(w, `{"error":{"code":"internal_error","message":"response encoding failed"}}`, 500)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError maps err to a status and code and writes it in shape sh.
// Internal causes are logged with the request id, never sent.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, sh shape, err error) {
	status, code, msg := http.StatusInternalServerError, api.CodeInternal, ""
	var ae *apiError
	var ve *task.ValidationError
	var failed *task.AnalysisError
	var mbe *http.MaxBytesError
	var slow *errBodyTooSlow
	var quota *diskspace.QuotaError
	if x := exchangeOf(r); x != nil && x.tooSlow && !errors.As(err, &slow) {
		// The body stopped arriving; whatever error the handler made of
		// it (a canceled context, a broken multipart stream), that is the
		// answer.
		slow = x.slowError()
		err = slow
	}
	switch {
	case errors.As(err, &slow):
		status, code, msg = http.StatusRequestTimeout, codeRequestTimeout, slow.Error()
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads this answer.
		s.log.Debug("request canceled by the client", "request_id", requestID(r), "path", r.URL.Path)
		w.WriteHeader(499)
		return
	case errors.As(err, &ae):
		status, code, msg = ae.status, ae.code, ae.message
	case errors.As(err, &ve):
		status, code, msg = ve.Status, ve.Code, ve.Message
	case errors.As(err, &failed):
		status, code, msg = failed.Status, failed.Code, failed.Message
	case errors.Is(err, task.ErrBatchNotFound):
		status, code = http.StatusNotFound, api.CodeResourceNotExist
		msg = fmt.Sprintf("Batch with id %s does not exist. Check the batch_id.", r.PathValue("batch_id"))
	case errors.Is(err, task.ErrNotFound):
		status, code = http.StatusNotFound, api.CodeResourceNotExist
		msg = fmt.Sprintf("Task with id %s does not exist. Check the task_id.", r.PathValue("task_id"))
	case errors.Is(err, task.ErrProcessing):
		status, code = http.StatusConflict, api.CodeTaskProcessing
		msg = "The task is being processed and cannot be deleted now. Wait until it is ready or failed, then delete it."
	case errors.As(err, &mbe):
		status, code = http.StatusRequestEntityTooLarge, api.CodeBodyTooLarge
		msg = fmt.Sprintf("The request body is larger than %d bytes. Send videos above 30 MB by url.", mbe.Limit)
	case errors.As(err, &quota):
		status, code = http.StatusInsufficientStorage, api.CodeInsufficientStorage
		msg = fmt.Sprintf("The server's storage quota of %s is used up, so this request was not stored. "+
			"Delete assets, tasks or unfinished uploads (DELETE /v1.3/assets/multipart-uploads/{upload_id}) you no longer need, then retry.", binarySize(quota.Limit))
	case diskspace.Full(err):
		// The cause names files of the server: logged, not sent.
		s.log.Error("disk full", "request_id", requestID(r), "method", r.Method, "path", r.URL.Path, "err", err)
		status, code = http.StatusInsufficientStorage, api.CodeInsufficientStorage
		msg = "The server's disk is full, so this request was not stored (nothing of it was kept). " +
			"Retry later, or free space by deleting assets or tasks you no longer need."
	case s.unavailable != nil && s.unavailable(err):
		s.log.Warn("database unreachable: answered 503", "request_id", requestID(r), "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		status, code = http.StatusServiceUnavailable, api.CodeServiceUnavailable
		msg = "The server cannot reach its database right now; nothing of this request was changed. Retry in a few seconds."
	default:
		s.log.Error("internal error", "request_id", requestID(r), "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "An internal error occurred. Retry later; if it persists, report request id " + requestID(r) + "."
	}
	if sh == nested {
		var details map[string]any
		if ve != nil && ve.Param != "" {
			details = map[string]any{"parameter": ve.Param}
		}
		writeJSON(w, status, api.NestedError{Error: api.ErrorObject{Code: code, Message: msg, Details: details}})
		return
	}
	writeJSON(w, status, api.FlatError{Code: code, Message: msg})
}

// binarySize prints n bytes in the largest binary unit that divides it:
// "50 GiB", "512 MiB", "1000 bytes".
func binarySize(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{40, "TiB"}, {30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether the server takes work, and how much free space its
// data dir has: "degraded" (still 200: reads and deletes work, uploads
// may fail with 507) when it is below --min-free-disk.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	type body struct {
		Status string            `json:"status"`
		Reason string            `json:"reason,omitempty"`
		Disk   *diskspace.Status `json:"disk,omitempty"`
	}
	if !s.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, body{Status: "starting"})
		return
	}
	b := body{Status: "ok"}
	if s.ping != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		err := s.ping(ctx)
		cancel()
		if err != nil {
			s.log.Warn("not ready", "err", err)
			w.Header().Set("Retry-After", "5")
			writeJSON(w, http.StatusServiceUnavailable, body{Status: "unavailable", Reason: "the database or the object store is out of reach (the server's log says which)"})
			return
		}
	}
	if s.disk != nil {
		if st := s.disk(); st.Known {
			b.Disk = &st
			if st.Low {
				b.Status = "degraded"
			}
		}
	}
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) noRoute(r *http.Request) (int, any, error) {
	for _, p := range knownPaths {
		if matchPath(p, r.URL.Path) {
			return 0, nil, errorf(http.StatusMethodNotAllowed, api.CodeMethodNotAllowed,
				"Method %s is not allowed on %s.", r.Method, r.URL.Path)
		}
	}
	return 0, nil, errorf(http.StatusNotFound, api.CodeNotFound, "There is no endpoint %s %s. Endpoints live under /v1.3.", r.Method, r.URL.Path)
}

// matchPath matches a path against a pattern with {wildcard} segments.
func matchPath(pattern, path string) bool {
	if pattern == path {
		return true
	}
	ps, xs := strings.Split(pattern, "/"), strings.Split(strings.TrimSuffix(path, "/"), "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if strings.HasPrefix(ps[i], "{") {
			if xs[i] == "" {
				return false
			}
			continue
		}
		if ps[i] != xs[i] {
			return false
		}
	}
	return true
}

// statusWriter records the status for the access log, and applies the
// exchange's rules to the response: the write deadlines, and closing the
// connection without reading the body on a refusal (refusesBody).
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	x      *exchange
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
		if w.x != nil {
			if refusesBody(code) && !w.x.linger {
				w.x.closeNow(w.ResponseWriter)
			}
			_ = w.x.rc.SetWriteDeadline(w.x.now().Add(w.x.limits.WriteWindow))
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.x == nil {
		return w.ResponseWriter.Write(b)
	}
	return w.x.write(w.ResponseWriter, b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
