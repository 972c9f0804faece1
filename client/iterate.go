package client

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/framewise/framewise/api"
)

// pages iterates over the items of a list, page after page from start
// (default 1): fetch returns one page. It stops after the last page
// (page_info.total_page) or at the first empty page, and yields a single
// error, after which it stops, when a page cannot be fetched or the
// server answers another page than the one asked for. what names the
// items in that error.
func pages[T any](start int, what string, fetch func(page int) ([]T, api.PageInfo, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		for page := max(start, 1); ; page++ {
			data, info, err := fetch(page)
			if err != nil {
				yield(zero, err)
				return
			}
			if info.Page > 0 && info.Page != page {
				yield(zero, fmt.Errorf("framewise: asked for page %d of %s, server answered page %d", page, what, info.Page))
				return
			}
			for _, v := range data {
				if !yield(v, nil) {
					return
				}
			}
			// total_page 0 with data means the server did not say; go on
			// until an empty page.
			if len(data) == 0 || (info.TotalPage > 0 && page >= info.TotalPage) {
				return
			}
		}
	}
}

// poll calls get on the schedule of Wait (see its options) until final
// says the value it returned is final, and returns that value. When the
// context ends or get fails, it returns the last value seen (the zero
// value if none) and that error.
func poll[T any](ctx context.Context, c *Client, opts []WaitOption, get func() (T, error), final func(T) bool) (T, error) {
	w := waitConfig{interval: DefaultPollInterval, factor: DefaultBackoffFactor, maxDelay: DefaultMaxPollInterval}
	for _, o := range opts {
		o(&w)
	}
	delay := min(w.interval, w.maxDelay)
	var last T
	for {
		v, err := get()
		if err != nil {
			return last, err
		}
		last = v
		if final(v) {
			return v, nil
		}
		if err := c.sleep(ctx, delay); err != nil {
			return last, err
		}
		delay = min(time.Duration(float64(delay)*w.factor), w.maxDelay)
	}
}
