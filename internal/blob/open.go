package blob

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Open returns the store named by rawURL, the --blob-url setting:
//
//	""                    files under <dataDir>/blobs (the default)
//	file:///srv/media     files under /srv/media
//	s3://bucket?endpoint=http://127.0.0.1:7070&region=us-east-1&prefix=fw
//	                      objects of an S3-compatible bucket, created if
//	                      missing; endpoint, region and prefix are optional
//	                      (no endpoint: AWS itself); direct_uploads=false
//	                      keeps multipart upload chunks going through
//	                      framewise rather than to presigned URLs of the
//	                      store
//
// S3 credentials come from the AWS SDK's default chain
// (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ~/.aws, an instance role);
// LocalPath's temporary copies go under <dataDir>/tmp.
func Open(ctx context.Context, rawURL, dataDir string) (Store, error) {
	if rawURL == "" {
		return NewLocal(filepath.Join(dataDir, "blobs"))
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("blob url: %w", err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("blob url %q: a file URL names a local folder: file:///absolute/path", rawURL)
		}
		if u.Path == "" || !strings.HasPrefix(u.Path, "/") || u.RawQuery != "" {
			return nil, fmt.Errorf("blob url %q: want file:///absolute/path", rawURL)
		}
		return NewLocal(filepath.FromSlash(u.Path))
	case "s3":
		opt, err := parseS3URL(u)
		if err != nil {
			return nil, fmt.Errorf("blob url %q: %w", redact(u), err)
		}
		opt.TempDir = filepath.Join(dataDir, "tmp")
		removeStale(opt.TempDir, time.Now().Add(-staleAfter))
		return NewS3(ctx, opt)
	default:
		return nil, fmt.Errorf("blob url %q: unknown scheme %q: use file:///path or s3://bucket?endpoint=…", redact(u), u.Scheme)
	}
}

func parseS3URL(u *url.URL) (S3Options, error) {
	opt := S3Options{Bucket: u.Host}
	if u.User != nil {
		return opt, fmt.Errorf("credentials do not go in the URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if opt.Bucket == "" {
		return opt, fmt.Errorf("no bucket: want s3://bucket")
	}
	if u.Path != "" && u.Path != "/" {
		return opt, fmt.Errorf("a path after the bucket: put a key prefix in ?prefix=%s", strings.Trim(u.Path, "/"))
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return opt, err
	}
	for k, v := range q {
		if len(v) != 1 {
			return opt, fmt.Errorf("%s given %d times", k, len(v))
		}
		switch k {
		case "endpoint":
			e, err := url.Parse(v[0])
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return opt, fmt.Errorf("endpoint %q: want an http:// or https:// URL", v[0])
			}
			opt.Endpoint = v[0]
		case "region":
			opt.Region = v[0]
		case "direct_uploads":
			direct, err := strconv.ParseBool(v[0])
			if err != nil {
				return opt, fmt.Errorf("direct_uploads %q: want true or false", v[0])
			}
			opt.ProxyUploads = !direct
		case "prefix":
			p := strings.Trim(v[0], "/")
			if strings.Contains(p, "..") {
				return opt, fmt.Errorf("prefix %q: no .. allowed", v[0])
			}
			opt.Prefix = p
		default:
			return opt, fmt.Errorf("unknown parameter %q (want endpoint, region, prefix or direct_uploads)", k)
		}
	}
	return opt, nil
}

// staleAfter is the age of a temporary copy that no job can still be
// using: one left behind by a process that was killed.
const staleAfter = 24 * time.Hour

// removeStale removes LocalPath's copies in dir older than before.
func removeStale(dir string, before time.Time) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && strings.HasPrefix(e.Name(), "blob-") && fi.ModTime().Before(before) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// redact hides a password put in the URL by mistake.
func redact(u *url.URL) string { return u.Redacted() }
