package client

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/framewise/framewise/api"
)

const tasksPath = "/analyze/tasks"

// CreateTask starts an asynchronous analysis (POST /analyze/tasks) and
// returns the new task's id and initial status. Use Wait to follow it.
//
// CreateTask is retried on transient failures only when the call carries
// WithIdempotencyKey: without a key a retry could create a second task.
func (c *Client) CreateTask(ctx context.Context, req *api.CreateTaskRequest, opts ...CallOption) (*api.CreateTaskResponse, error) {
	if req == nil {
		return nil, errors.New("framewise: CreateTask: nil request")
	}
	r, err := jsonRequest("CreateTask", http.MethodPost, tasksPath, req, opts)
	if err != nil {
		return nil, err
	}
	var out api.CreateTaskResponse
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetTask returns a task (GET /analyze/tasks/{id}), including its result
// once it is ready. An unknown id gives an error matching ErrNotFound.
func (c *Client) GetTask(ctx context.Context, id string, opts ...CallOption) (*api.Task, error) {
	if id == "" {
		return nil, errors.New("framewise: GetTask: empty task id")
	}
	var out api.Task
	r := &request{method: http.MethodGet, path: tasksPath + "/" + url.PathEscape(id), call: callOptions(opts)}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteTask deletes a task (DELETE /analyze/tasks/{id}). A task that is
// processing cannot be deleted: the error matches ErrConflict.
func (c *Client) DeleteTask(ctx context.Context, id string, opts ...CallOption) error {
	if id == "" {
		return errors.New("framewise: DeleteTask: empty task id")
	}
	r := &request{method: http.MethodDelete, path: tasksPath + "/" + url.PathEscape(id), call: callOptions(opts)}
	return c.do(ctx, r, nil)
}

// CancelTask cancels a task as an operator (POST
// /admin/v1/tasks/{id}/cancel, a framewise route outside the TwelveLabs API)
// and returns it, now failed with the message "The task was canceled by an
// operator.". The client's API key must be one of the server's admin keys
// (--admin-key). A task already ready or failed gives an error matching
// ErrConflict; a server without admin keys answers 403 (code
// "admin_disabled").
func (c *Client) CancelTask(ctx context.Context, id string, opts ...CallOption) (*api.Task, error) {
	if id == "" {
		return nil, errors.New("framewise: CancelTask: empty task id")
	}
	var out api.Task
	r := &request{method: http.MethodPost, path: api.AdminBasePath + "/tasks/" + url.PathEscape(id) + "/cancel", admin: true, call: callOptions(opts)}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListOptions selects a page of tasks. Zero values are left out of the
// query, so the server's defaults apply (page 1, 10 per page). The filters
// combine with AND.
type ListOptions struct {
	Page      int // 1-based
	PageLimit int // at most 50
	// Status is one of the api.Status* values.
	Status string
	// VideoURL matches tasks whose source is exactly this URL.
	VideoURL string
	AssetID  string
	// VideoID is the legacy pre-indexed video filter.
	VideoID      string
	AnalysisMode string // api.ModeGeneral or api.ModeTimeBasedMetadata
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Page > 0 {
		q.Set("page", strconv.Itoa(o.Page))
	}
	if o.PageLimit > 0 {
		q.Set("page_limit", strconv.Itoa(o.PageLimit))
	}
	for k, v := range map[string]string{
		"status":        o.Status,
		"video_url":     o.VideoURL,
		"asset_id":      o.AssetID,
		"video_id":      o.VideoID,
		"analysis_mode": o.AnalysisMode,
	} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// ListTasks returns one page of tasks, newest first (GET /analyze/tasks).
// A page past the end is an empty page, not an error. List items are
// abbreviated by the server (prompts cut to 30 characters, no JSON schema);
// use GetTask for the full task.
func (c *Client) ListTasks(ctx context.Context, opts ListOptions, callOpts ...CallOption) (*api.TaskList, error) {
	var out api.TaskList
	r := &request{method: http.MethodGet, path: tasksPath, query: opts.query(), call: callOptions(callOpts)}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Tasks iterates over every task that matches opts, page after page,
// starting at opts.Page (default 1). It stops after the last page
// (page_info.total_page) or at the first empty page, and yields a single
// error, after which it stops, when a page cannot be fetched.
//
// Tasks created while iterating shift the newest-first pages, so a long
// walk may see a task twice or miss one.
func (c *Client) Tasks(ctx context.Context, opts ListOptions) iter.Seq2[api.Task, error] {
	return pages(opts.Page, "tasks", func(page int) ([]api.Task, api.PageInfo, error) {
		o := opts
		o.Page = page
		list, err := c.ListTasks(ctx, o)
		if err != nil {
			return nil, api.PageInfo{}, err
		}
		return list.Data, list.PageInfo, nil
	})
}

func callOptions(opts []CallOption) callConfig {
	var cc callConfig
	for _, o := range opts {
		o(&cc)
	}
	return cc
}
