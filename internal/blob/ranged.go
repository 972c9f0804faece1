package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Ranged is a store that reads part of a blob without fetching all of
// it, for serving byte ranges (a video player seeking). Local and S3 are.
type Ranged interface {
	// Stat returns the size and modification time of a blob; a missing
	// key is an error wrapping ErrNotFound.
	Stat(ctx context.Context, key string) (size int64, mod time.Time, err error)
	// OpenRange returns a reader of the blob from byte off to its end.
	OpenRange(ctx context.Context, key string, off int64) (io.ReadCloser, error)
}

var (
	_ Ranged = (*Local)(nil)
	_ Ranged = (*S3)(nil)
)

// Stat returns the size and modification time of the file of key.
func (l *Local) Stat(ctx context.Context, key string) (int64, time.Time, error) {
	p, err := l.path(key)
	if err != nil {
		return 0, time.Time{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, time.Time{}, fmt.Errorf("blob %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("blob: %w", err)
	}
	return fi.Size(), fi.ModTime(), nil
}

// OpenRange opens the file of key at byte off.
func (l *Local) OpenRange(ctx context.Context, key string, off int64) (io.ReadCloser, error) {
	rc, err := l.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	if _, err := rc.(*os.File).Seek(off, io.SeekStart); err != nil {
		rc.Close()
		return nil, fmt.Errorf("blob: %w", err)
	}
	return rc, nil
}

// Stat returns the size and modification time of the object (HeadObject).
func (s *S3) Stat(ctx context.Context, key string) (int64, time.Time, error) {
	if err := checkKey(key); err != nil {
		return 0, time.Time{}, err
	}
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.opt.Bucket, Key: aws.String(s.Key(key))})
	if isNotFound(err) {
		return 0, time.Time{}, fmt.Errorf("blob %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("blob: stat %s: %w", key, err)
	}
	return aws.ToInt64(head.ContentLength), aws.ToTime(head.LastModified), nil
}

// OpenRange streams the object from byte off (a ranged GetObject).
func (s *S3) OpenRange(ctx context.Context, key string, off int64) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.opt.Bucket, Key: aws.String(s.Key(key)),
		Range: aws.String("bytes=" + strconv.FormatInt(off, 10) + "-")})
	if isNotFound(err) {
		return nil, fmt.Errorf("blob %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: open %s at %d: %w", key, off, err)
	}
	return out.Body, nil
}

// ReadSeeker reads a blob of a Ranged store as an io.ReadSeeker (for
// http.ServeContent): a Read opens one ranged read from the current
// offset, kept until the next Seek that moves away. Close it when done.
type ReadSeeker struct {
	ctx  context.Context
	r    Ranged
	key  string
	size int64
	off  int64
	body io.ReadCloser
}

// NewReadSeeker returns a ReadSeeker of key and the blob's modification
// time; a missing key is an error wrapping ErrNotFound.
func NewReadSeeker(ctx context.Context, r Ranged, key string) (*ReadSeeker, time.Time, error) {
	size, mod, err := r.Stat(ctx, key)
	if err != nil {
		return nil, time.Time{}, err
	}
	return &ReadSeeker{ctx: ctx, r: r, key: key, size: size}, mod, nil
}

// Read reads from the current offset.
func (rs *ReadSeeker) Read(p []byte) (int, error) {
	if rs.off >= rs.size {
		return 0, io.EOF
	}
	if rs.body == nil {
		body, err := rs.r.OpenRange(rs.ctx, rs.key, rs.off)
		if err != nil {
			return 0, err
		}
		rs.body = body
	}
	n, err := rs.body.Read(p)
	rs.off += int64(n)
	if err == io.EOF && rs.off < rs.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Seek moves the offset; a move closes the open read, if any.
func (rs *ReadSeeker) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += rs.off
	case io.SeekEnd:
		offset += rs.size
	}
	if offset < 0 {
		return 0, errors.New("blob: seek before the start")
	}
	if offset != rs.off && rs.body != nil {
		rs.body.Close()
		rs.body = nil
	}
	rs.off = offset
	return offset, nil
}

// Close closes the open read, if any.
func (rs *ReadSeeker) Close() error {
	if rs.body == nil {
		return nil
	}
	err := rs.body.Close()
	rs.body = nil
	return err
}

// DirectUploadOrigin is the origin ("http://host:port") that clients PUT
// multipart upload chunks to when s takes them at presigned URLs of its
// own (MultipartOf), for a web page's Content-Security-Policy; "" when the
// chunks go to framewise. Without an endpoint (AWS) it is the pattern
// "https://*.amazonaws.com".
func DirectUploadOrigin(s Store) string {
	if MultipartOf(s) == nil {
		return ""
	}
	if q, ok := s.(*Quota); ok {
		s = q.Store
	}
	s3s, ok := s.(*S3)
	if !ok {
		return ""
	}
	if s3s.opt.Endpoint == "" {
		return "https://*.amazonaws.com"
	}
	u, err := url.Parse(s3s.opt.Endpoint)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
