// Package blob stores media files by key. The default store keeps them as
// files under a folder of the data directory; an S3-compatible store comes
// with scale-out. Keys are slash-separated paths such as "tasks/ID/source".
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotFound: no blob under that key.
var ErrNotFound = errors.New("blob not found")

// Store stores blobs by key: Local (files under a folder), S3 (an
// S3-compatible object store) and Quota (either, with a storage quota).
// Open picks one from the --blob-url setting.
type Store interface {
	// Put writes r under key, replacing what was there; readers never see
	// a partial blob. It returns the bytes written.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Open returns a reader of the blob; a missing key is an error
	// wrapping ErrNotFound.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// LocalPath returns a file path holding the blob, for tools such as
	// ffprobe that need one; release must be called when done with it.
	LocalPath(ctx context.Context, key string) (path string, release func(), err error)
	// Delete removes key and every key below it ("tasks/ID" removes
	// "tasks/ID/source"); deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Usage returns the bytes stored at key and below it; "" is the
	// whole store.
	Usage(ctx context.Context, key string) (int64, error)
}

var (
	_ Store = (*Local)(nil)
	_ Store = (*Quota)(nil)
)

// checkKey refuses keys that are empty, absolute or climb with "..".
func checkKey(key string) error {
	if key == "" || strings.Contains(key, "..") || strings.HasPrefix(key, "/") {
		return fmt.Errorf("blob: invalid key %q", key)
	}
	return nil
}

// Local stores blobs as files below Dir.
type Local struct {
	Dir string
}

// NewLocal returns a store rooted at dir, creating it if needed.
func NewLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("blob: create %s: %w", dir, err)
	}
	return &Local{Dir: dir}, nil
}

func (l *Local) path(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return filepath.Join(l.Dir, filepath.FromSlash(key)), nil
}

// Put writes r under key atomically: readers never see a partial file.
func (l *Local) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	p, err := l.path(key)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return 0, fmt.Errorf("blob: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".part-*")
	if err != nil {
		return 0, fmt.Errorf("blob: %w", err)
	}
	n, err := io.Copy(f, ctxReader{ctx, r})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return n, fmt.Errorf("blob: put %s: %w", key, err)
	}
	return n, nil
}

// LocalPath returns a file path holding the blob, for tools such as
// ffprobe that need one. release must be called when done with it.
func (l *Local) LocalPath(ctx context.Context, key string) (path string, release func(), err error) {
	p, err := l.path(key)
	if err != nil {
		return "", nil, err
	}
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil, fmt.Errorf("blob %s: %w", key, ErrNotFound)
		}
		return "", nil, fmt.Errorf("blob: %w", err)
	}
	return p, func() {}, nil
}

// Open returns a reader of the blob under key; close it when done. A
// missing key is an error wrapping ErrNotFound.
func (l *Local) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return f, nil
}

// Delete removes key and every key below it ("tasks/ID" removes the
// folder). Deleting a missing key is not an error.
func (l *Local) Delete(ctx context.Context, key string) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	return nil
}

// Usage returns the bytes of the files at or below key, leaving out the
// temporary files of Puts in progress; "" is the whole store.
func (l *Local) Usage(ctx context.Context, key string) (int64, error) {
	p := l.Dir
	if key != "" {
		var err error
		if p, err = l.path(key); err != nil {
			return 0, err
		}
	}
	return treeSize(p)
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
