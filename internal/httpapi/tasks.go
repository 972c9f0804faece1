package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/internal/apiconv"
	"github.com/framewise/framewise/internal/task"
)

// maxPageLimit is the largest page_limit (spec §3).
const maxPageLimit = 50

// maxPage is the largest page number: (maxPage-1)*maxPageLimit+1 fits
// even a 32-bit int, so no offset computed from a page can wrap. It is far
// beyond any list's end (10 million pages).
const maxPage = 10_000_000

// largeCreate is the body size above which a create is taken to carry a
// base64 video: it waits for an admission slot (task.Service.Admit)
// before its body is read, so that bodies waiting for a slot stay in the
// kernel's buffers, not in memory.
const largeCreate = 256 << 10

// refusedDrain bounds what is read of a create's body to refuse it: the
// 429 is sent first, then at most refusedDrain of the body is read (and
// dropped), slowly, while the client reads the answer, then the connection
// is closed. Reading whole bodies made each refusal cost its 35 MB: 200
// clients retrying 25 MB videos after Retry-After kept both cores copying
// refused bodies while the admitted creates starved (bench/hostile.sh
// scale).
const refusedDrain = 4 << 20

// admitter is the optional part of Tasks that bounds creates that decode
// or probe a video.
type admitter interface {
	Admit(ctx context.Context) (context.Context, func(), error)
}

func (s *Server) createTask(r *http.Request) (int, any, error) {
	idem, err := s.idempotency(r)
	if err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	if a, ok := s.tasks.(admitter); ok && (r.ContentLength < 0 || r.ContentLength > largeCreate) {
		actx, release, err := a.Admit(ctx)
		if err != nil {
			status, body, err := busyAnswer(nested, err)
			// A client that asked Expect: 100-continue has not sent its
			// body: reading would ask for it.
			if wh, ok := body.(withHeader); ok && r.Header.Get("Expect") == "" {
				wh.drainAfter = true
				body = wh
			}
			return status, body, err
		}
		defer release()
		ctx = actx
		// The slot is held while the body arrives: it must arrive briskly.
		exchangeOf(r).boundAdmitted(r.ContentLength)
	}
	body, err := readBody(r, s.maxBody)
	if err != nil {
		return 0, nil, err
	}
	t, replayed, err := s.tasks.Create(ctx, body, idem)
	if err != nil {
		return busyAnswer(nested, err)
	}
	out := api.CreateTaskResponse{TaskID: t.ID, Status: string(t.Status)}
	if replayed {
		return http.StatusAccepted, withHeader{body: out, name: "Idempotent-Replayed", value: "true"}, nil
	}
	return http.StatusAccepted, out, nil
}

// busyAnswer answers a *task.BusyError (429 too_many_requests, 503
// server_busy) in the endpoint's shape with Retry-After; other errors go to
// writeError.
func busyAnswer(sh shape, err error) (int, any, error) {
	var be *task.BusyError
	if !errors.As(err, &be) {
		return 0, nil, err
	}
	var body any = api.FlatError{Code: be.Code, Message: be.Message}
	if sh == nested {
		body = api.NestedError{Error: api.ErrorObject{Code: be.Code, Message: be.Message}}
	}
	return be.Status, withHeader{body: body, name: "Retry-After", value: strconv.Itoa(be.RetryAfter)}, nil
}

// readBody reads a request body of at most limit bytes into a buffer of
// its declared size, so that a large body is not copied as it grows.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	rd := http.MaxBytesReader(nil, r.Body, limit)
	if n := r.ContentLength; n > 0 && n <= limit {
		// The server delivers exactly ContentLength bytes or an error.
		buf := make([]byte, n)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	return io.ReadAll(rd)
}

// idempotency reads the Idempotency-Key header (spec Q4). Keys are scoped
// to the account that sent them (any of its API keys).
func (s *Server) idempotency(r *http.Request) (*task.Idempotency, error) {
	vals := r.Header.Values("Idempotency-Key")
	if len(vals) == 0 {
		return nil, nil
	}
	if len(vals) > 1 || !task.ValidIdempotencyKey(vals[0]) {
		return nil, &task.ValidationError{Status: http.StatusBadRequest, Code: api.CodeParameterInvalid, Param: "Idempotency-Key",
			Message: fmt.Sprintf("The Idempotency-Key header must be sent once, with 1 to %d printable ASCII characters (a UUID is a good key).", task.MaxIdempotencyKey)}
	}
	return &task.Idempotency{Scope: accountOf(r), Key: vals[0]}, nil
}

func (s *Server) getTask(r *http.Request) (int, any, error) {
	t, err := s.tasks.Get(r.Context(), r.PathValue("task_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, apiconv.Task(t), nil
}

func (s *Server) deleteTask(r *http.Request) (int, any, error) {
	if err := s.tasks.Delete(r.Context(), r.PathValue("task_id")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (s *Server) listTasks(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	f := task.Filter{
		VideoURL:     q.Get("video_url"),
		AssetID:      q.Get("asset_id"),
		VideoID:      q.Get("video_id"),
		AnalysisMode: q.Get("analysis_mode"),
	}
	var err error
	if f.Page, f.PageLimit, err = pageParams(q); err != nil {
		return 0, nil, err
	}
	if st := q.Get("status"); st != "" {
		f.Status = task.Status(st)
		if !f.Status.Valid() {
			return 0, nil, errorf(http.StatusBadRequest, api.CodeParameterInvalid,
				"The status parameter is invalid: %q. Use one of queued, pending, processing, ready, failed.", st)
		}
	}
	if m := f.AnalysisMode; m != "" && m != task.ModeGeneral && m != task.ModeTimeBasedMetadata {
		return 0, nil, errorf(http.StatusBadRequest, api.CodeParameterInvalid,
			"The analysis_mode parameter is invalid: %q. Use general or time_based_metadata.", m)
	}
	tasks, total, err := s.tasks.List(r.Context(), f)
	if err != nil {
		return 0, nil, err
	}
	out := api.TaskList{Data: make([]api.Task, 0, len(tasks)), PageInfo: pageInfo(f.Page, f.PageLimit, total)}
	for _, t := range tasks {
		out.Data = append(out.Data, apiconv.ListItem(t))
	}
	return http.StatusOK, out, nil
}

// pageParams parses page (default 1, at most maxPage) and page_limit
// (default 10, at most 50). Values out of range are refused, not clamped
// (Q6); both are bounded here, before any arithmetic, so that no offset
// overflows. A page within range but past the end of the list is 200 with
// no data.
func pageParams(q url.Values) (page, limit int, err error) {
	page, limit = 1, 10
	if v := q.Get("page"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > maxPage {
			return 0, 0, errorf(http.StatusBadRequest, api.CodeParameterInvalid,
				"The page parameter is invalid: %q. Use a whole number from 1 to %d.", v, maxPage)
		}
		page = n
	}
	if v := q.Get("page_limit"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > maxPageLimit {
			return 0, 0, errorf(http.StatusBadRequest, api.CodeParameterInvalid,
				"The page_limit parameter is invalid: %q. Use a whole number from 1 to %d.", v, maxPageLimit)
		}
		limit = n
	}
	return page, limit, nil
}

func pageInfo(page, limit, total int) api.PageInfo {
	return api.PageInfo{LimitPerPage: limit, Page: page, TotalPage: (total + limit - 1) / limit, TotalResults: total}
}
