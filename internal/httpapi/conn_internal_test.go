package httpapi

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// deadlineWriter records the deadlines http.ResponseController sets and
// the writes.
type deadlineWriter struct {
	*httptest.ResponseRecorder
	read, write []time.Time
	pieces      []int
}

func (w *deadlineWriter) SetReadDeadline(t time.Time) error { w.read = append(w.read, t); return nil }
func (w *deadlineWriter) SetWriteDeadline(t time.Time) error {
	w.write = append(w.write, t)
	return nil
}
func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.pieces = append(w.pieces, len(p))
	return w.ResponseRecorder.Write(p)
}

// scriptedBody returns its reads in turn; the clock moves by each step's
// pause before it returns.
type scriptedBody struct {
	clock *time.Time
	steps []bodyStep
}

type bodyStep struct {
	pause time.Duration
	n     int
	err   error
}

func (b *scriptedBody) Read(p []byte) (int, error) {
	s := b.steps[0]
	b.steps = b.steps[1:]
	*b.clock = b.clock.Add(s.pause)
	return s.n, s.err
}

func (b *scriptedBody) Close() error { return nil }

func TestGuardedBodyDeadlines(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := t0
	now := func() time.Time { return clock }
	w := &deadlineWriter{ResponseRecorder: httptest.NewRecorder()}
	lim := IOLimits{BodyGrace: 10 * time.Second, BodyWindow: 10 * time.Second, BodyStep: 1000}.withDefaults()
	// As startExchange does, with the test clock.
	x := &exchange{rc: http.NewResponseController(w), limits: lim, now: now, hasBody: true, lastRead: now()}
	x.deadline = x.lastRead.Add(lim.BodyGrace)
	_ = x.rc.SetReadDeadline(x.deadline)
	b := &guardedBody{ReadCloser: &scriptedBody{clock: &clock, steps: []bodyStep{
		{pause: 2 * time.Second, n: 600},        // 600 B: no step yet
		{pause: 3 * time.Second, n: 600},        // 1200 B: extended to t0+5s+10s
		{pause: 100 * time.Millisecond, n: 100}, // no change
		{pause: 100 * time.Millisecond, n: 0, err: io.EOF},
	}}, x: x}
	read := func() {
		t.Helper()
		if _, err := b.Read(make([]byte, 1)); err != nil && err != io.EOF {
			t.Fatal(err)
		}
	}
	read()
	read()
	if got, want := w.read[len(w.read)-1], t0.Add(15*time.Second); !got.Equal(want) {
		t.Fatalf("deadline after a step %v, want %v", got.Sub(t0), want.Sub(t0))
	}
	// The handler works 7 s between two reads: that time is not the
	// client's, the deadline moves by it.
	clock = clock.Add(7 * time.Second)
	read()
	if got, want := w.read[len(w.read)-1], t0.Add(22*time.Second); !got.Equal(want) {
		t.Fatalf("deadline after a 7 s pause of the handler %v, want %v", got.Sub(t0), want.Sub(t0))
	}
	read()
	if got := w.read[len(w.read)-1]; !got.IsZero() || !x.sawEOF {
		t.Fatalf("deadline after EOF %v, want none", got)
	}

	// A read past the deadline is the client's fault: errBodyTooSlow.
	x2 := &exchange{rc: http.NewResponseController(w), limits: lim, now: now, hasBody: true, lastRead: now()}
	b2 := &guardedBody{ReadCloser: &scriptedBody{clock: &clock, steps: []bodyStep{{n: 0, err: os.ErrDeadlineExceeded}}}, x: x2}
	_, err := b2.Read(make([]byte, 1))
	var slow *errBodyTooSlow
	if !errors.As(err, &slow) || !x2.tooSlow || !x2.unreadBody() {
		t.Fatalf("err %v tooSlow %v", err, x2.tooSlow)
	}
}

func TestResponseWrittenInSteps(t *testing.T) {
	w := &deadlineWriter{ResponseRecorder: httptest.NewRecorder()}
	x := &exchange{rc: http.NewResponseController(w), limits: IOLimits{WriteStep: 1000, WriteWindow: time.Second}.withDefaults(), now: time.Now}
	n, err := x.write(w, make([]byte, 2500))
	if err != nil || n != 2500 {
		t.Fatal(n, err)
	}
	if len(w.pieces) != 3 || w.pieces[0] != 1000 || w.pieces[2] != 500 || len(w.write) != 3 {
		t.Fatalf("pieces %v, %d deadlines", w.pieces, len(w.write))
	}
	for _, d := range w.write {
		if until := time.Until(d); until <= 0 || until > time.Second {
			t.Fatalf("write deadline %v from now", until)
		}
	}
}

func TestRefusesBody(t *testing.T) {
	for st, want := range map[int]bool{401: true, 403: true, 408: true, 503: true, 400: false, 413: false, 429: false, 200: false} {
		if refusesBody(st) != want {
			t.Errorf("%d: %v", st, !want)
		}
	}
}
