package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/framewise/framewise/internal/connlimit"
)

// IOLimits bound how slowly a client may send a request body or read a
// response, so that a connection that stalls gives back its socket.
// http.Server's ReadTimeout and WriteTimeout cannot do this: they bound the
// whole request, which would cut a large upload on a slow link and any
// long-running handler. Zero fields are the defaults.
type IOLimits struct {
	// BodyGrace is how long the first BodyStep bytes of a body may take,
	// from the end of the headers (default 10 s).
	BodyGrace time.Duration
	// BodyWindow is how long each further BodyStep bytes may take
	// (default 10 s): a body must keep arriving at BodyStep per
	// BodyWindow, 6.4 KiB/s by default.
	BodyWindow time.Duration
	// BodyStep is the bytes that extend the read deadline by BodyWindow
	// (default 64 KiB).
	BodyStep int64
	// WriteWindow is how long each WriteStep bytes of a response may take
	// to be written to the client (default 10 s).
	WriteWindow time.Duration
	// WriteStep: see WriteWindow (default 64 KiB).
	WriteStep int
	// AdmittedRate and AdmittedGrace bound a create that holds one of the
	// slots of creates that decode a video (task.Service.Admit): the rest
	// of its body must arrive within AdmittedGrace plus its size at
	// AdmittedRate bytes per second (defaults 30 s and 256 KiB/s), so that
	// a slow sender cannot keep a slot for an hour at the minimum rate.
	AdmittedRate  int64
	AdmittedGrace time.Duration
}

// Defaults of IOLimits.
const (
	DefaultBodyGrace     = 10 * time.Second
	DefaultBodyWindow    = 10 * time.Second
	DefaultBodyStep      = 64 << 10
	DefaultWriteWindow   = 10 * time.Second
	DefaultWriteStep     = 64 << 10
	DefaultAdmittedRate  = 256 << 10
	DefaultAdmittedGrace = 30 * time.Second
)

func (l IOLimits) withDefaults() IOLimits {
	if l.BodyGrace <= 0 {
		l.BodyGrace = DefaultBodyGrace
	}
	if l.BodyWindow <= 0 {
		l.BodyWindow = DefaultBodyWindow
	}
	if l.BodyStep <= 0 {
		l.BodyStep = DefaultBodyStep
	}
	if l.WriteWindow <= 0 {
		l.WriteWindow = DefaultWriteWindow
	}
	if l.WriteStep <= 0 {
		l.WriteStep = DefaultWriteStep
	}
	if l.AdmittedRate <= 0 {
		l.AdmittedRate = DefaultAdmittedRate
	}
	if l.AdmittedGrace <= 0 {
		l.AdmittedGrace = DefaultAdmittedGrace
	}
	return l
}

type ioLimitsKey struct{}

// WithIOLimits returns a context whose requests are served with l instead
// of the default IOLimits: an http.Server's BaseContext, in tests that
// need short windows.
func WithIOLimits(ctx context.Context, l IOLimits) context.Context {
	return context.WithValue(ctx, ioLimitsKey{}, l.withDefaults())
}

func ioLimitsOf(ctx context.Context) IOLimits {
	if l, ok := ctx.Value(ioLimitsKey{}).(IOLimits); ok {
		return l
	}
	return IOLimits{}.withDefaults()
}

// errBodyTooSlow is what a body read returns once the client fell below
// the minimum rate.
type errBodyTooSlow struct {
	step     int64
	window   time.Duration
	admitted time.Duration // the bound of an admitted create (bound), when that was passed
}

func (e *errBodyTooSlow) Error() string {
	if e.admitted > 0 {
		return fmt.Sprintf("The request body arrived too slowly: a create with an inline video must arrive within %s. "+
			"Upload a large video on a slow link as an asset (multipart, resumable) and create the task with its asset_id. The connection is closed.",
			e.admitted.Round(time.Second))
	}
	return fmt.Sprintf("The request body arrived too slowly: send at least %d KiB every %s. The connection is closed.",
		e.step>>10, e.window)
}

// Timeout marks it as a timeout, as the net.Error it replaces.
func (e *errBodyTooSlow) Timeout() bool { return true }

// exchange is the state of one request's connection I/O: the guard on its
// body and the deadline of its response writes.
type exchange struct {
	rc     *http.ResponseController
	limits IOLimits
	now    func() time.Time

	hasBody  bool
	sawEOF   bool
	tooSlow  bool
	cut      bool      // closeNow: the rest of the body is not read
	linger   bool      // closeAfterAnswer: the rest is drained after the answer
	sinceExt int64     // body bytes since the deadline was last extended
	deadline time.Time // of the body reads
	lastRead time.Time // when the last body read returned (or the exchange began)
	// hard, when set, is a deadline the body's reads never move past
	// (bound), and hardFor the bound it came from.
	hard    time.Time
	hardFor time.Duration
}

type exchangeKey struct{}

func exchangeOf(r *http.Request) *exchange {
	x, _ := r.Context().Value(exchangeKey{}).(*exchange)
	return x
}

// startExchange sets up the I/O guard of a request: a request with a body
// gets a read deadline at once, extended as the body arrives (guardedBody),
// so that neither a handler reading it nor http.Server draining what the
// handler left can wait on a stalled client forever. A request without a
// body gets none: http.Server then reads in the background to notice a
// client that hangs up, and a deadline would cut it.
func startExchange(w http.ResponseWriter, r *http.Request) (*http.Request, *exchange) {
	x := &exchange{rc: http.NewResponseController(w), limits: ioLimitsOf(r.Context()), now: time.Now}
	r = r.WithContext(context.WithValue(r.Context(), exchangeKey{}, x))
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		x.hasBody = true
		x.lastRead = x.now()
		x.deadline = x.lastRead.Add(x.limits.BodyGrace)
		_ = x.rc.SetReadDeadline(x.deadline)
		r.Body = &guardedBody{ReadCloser: r.Body, x: x}
	}
	return r, x
}

// guardedBody extends the read deadline by BodyWindow each BodyStep bytes
// and lifts it at the end of the body. Time the handler spends between
// reads (writing to disk, say) does not count against the client: the
// deadline moves by it.
type guardedBody struct {
	io.ReadCloser
	x *exchange
}

// handlerGap is the pause between body reads from which the deadline is
// moved (below it, the clock calls would cost more than they are worth).
const handlerGap = 50 * time.Millisecond

func (b *guardedBody) Read(p []byte) (int, error) {
	x := b.x
	if !x.sawEOF && !x.tooSlow && !x.cut {
		if gap := x.now().Sub(x.lastRead); gap > handlerGap {
			x.deadline = x.deadline.Add(gap)
			x.setDeadline()
		}
	}
	n, err := b.ReadCloser.Read(p)
	x.lastRead = x.now()
	x.sinceExt += int64(n)
	switch {
	case err == io.EOF:
		// From here http.Server reads in the background (to notice a
		// client that hangs up while the handler works): no deadline.
		x.sawEOF = true
		_ = x.rc.SetReadDeadline(time.Time{})
	case err != nil && !x.cut && errors.Is(err, os.ErrDeadlineExceeded):
		x.tooSlow = true
		return n, x.slowError()
	case x.sinceExt >= x.limits.BodyStep && !x.cut:
		x.sinceExt = 0
		x.deadline = x.lastRead.Add(x.limits.BodyWindow)
		x.setDeadline()
	}
	return n, err
}

// setDeadline applies x.deadline, never past the hard one.
func (x *exchange) setDeadline() {
	if !x.hard.IsZero() && x.deadline.After(x.hard) {
		x.deadline = x.hard
	}
	_ = x.rc.SetReadDeadline(x.deadline)
}

// slowError is the error of a body that missed its deadline.
func (x *exchange) slowError() *errBodyTooSlow {
	e := &errBodyTooSlow{step: x.limits.BodyStep, window: x.limits.BodyWindow}
	if !x.hard.IsZero() && !x.now().Before(x.hard) {
		e.admitted = x.hardFor
	}
	return e
}

// boundAdmitted gives the rest of the body of a create that holds a
// decode slot a hard deadline: AdmittedGrace plus size at AdmittedRate.
func (x *exchange) boundAdmitted(size int64) {
	if x == nil || !x.hasBody || x.sawEOF {
		return
	}
	if size < 0 {
		size = 0
	}
	x.hardFor = x.limits.AdmittedGrace + time.Duration(float64(size)/float64(x.limits.AdmittedRate)*float64(time.Second))
	x.hard = x.now().Add(x.hardFor)
	x.setDeadline()
}

// unreadBody reports whether the request has a body not read to its end.
func (x *exchange) unreadBody() bool { return x != nil && x.hasBody && !x.sawEOF }

// closeNow makes the answer the connection's last one, sent without
// reading what is left of the body: "Connection: close", and a read
// deadline in the past, so that http.Server's drain of an unread body
// (up to 256 KiB, otherwise without a deadline) ends at once.
func (x *exchange) closeNow(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	if x.unreadBody() {
		x.cut = true
		_ = x.rc.SetReadDeadline(x.now())
	}
}

// closeAfterAnswer makes the answer the connection's last one, like
// closeNow, but the rest of the body is read and dropped for a moment
// after the answer is sent (lingerDrain), so that a client still sending
// reads the answer rather than a reset. It is for refusals of senders that
// proved who they are (a presigned URL already used or expired): their
// answer matters to them; a sender without a key gets closeNow.
func (x *exchange) closeAfterAnswer(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	if x.unreadBody() {
		x.linger = true
		_ = x.rc.EnableFullDuplex()
	}
}

// lingerDrain reads and drops what is left of the body of an answer sent
// with closeAfterAnswer: at most refusedDrain, for at most 2 s (drain).
func (x *exchange) lingerDrain(body io.Reader) {
	if x == nil || !x.linger || !x.unreadBody() {
		return
	}
	_ = x.rc.Flush()
	x.cut = true
	drain(x.rc, body, refusedDrain)
}

// write writes p to w in steps of WriteStep bytes, each with WriteWindow
// to reach the client.
func (x *exchange) write(w http.ResponseWriter, p []byte) (int, error) {
	step := x.limits.WriteStep
	written := 0
	for {
		part := p[written:min(len(p), written+step)]
		_ = x.rc.SetWriteDeadline(x.now().Add(x.limits.WriteWindow))
		n, err := w.Write(part)
		written += n
		if err != nil || written == len(p) {
			return written, err
		}
	}
}

// refusesBody reports whether a response with this status is sent without
// reading the rest of the body and closes the connection: the sender has no
// valid key or signature (401, 403), it was too slow (408), or the server
// is over its connection caps (503).
func refusesBody(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout, http.StatusServiceUnavailable:
		return true
	}
	return false
}

// serveOverflow answers a request that came on a connection over the caps
// (connlimit): /healthz as usual, anything else 503, and the connection is
// closed after it.
func (s *Server) serveOverflow(w http.ResponseWriter, r *http.Request, next http.Handler) {
	w.Header().Set("Connection", "close")
	if r.Method == http.MethodGet && r.URL.Path == "/healthz" {
		next.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"code": codeServerBusy,
		"message": "The server has too many connections open (from your address or in total). Retry in a few seconds; reuse connections rather than opening many."})
}

// codeServerBusy is the error code of a 503 over the connection caps;
// codeRequestTimeout of a body that arrived too slowly.
const (
	codeServerBusy     = "server_busy"
	codeRequestTimeout = "request_timeout"
)

// isOverflow reports whether r came on a connection over the caps.
func isOverflow(r *http.Request) bool { return connlimit.Overflowed(r.Context()) }
