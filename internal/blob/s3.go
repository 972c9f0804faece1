package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Defaults of the streaming upload: a Put holds at most
// (DefaultConcurrency+1) parts of DefaultPartSize in memory, whatever the
// size of the blob. 8 MiB parts allow blobs of up to 78 GiB (S3 takes at
// most 10,000 parts).
const (
	DefaultPartSize    = 8 << 20
	DefaultConcurrency = 2
	minPartSize        = 5 << 20 // S3's smallest part but the last
	maxParts           = 10000
)

// S3Options configure an S3 store.
type S3Options struct {
	Bucket string
	// Prefix is prepended to every key ("framewise/" stores
	// "tasks/ID/source" as "framewise/tasks/ID/source").
	Prefix string
	// Endpoint is the URL of an S3-compatible server, e.g.
	// http://127.0.0.1:7070; empty is AWS. With an endpoint, requests use
	// path-style addressing (http://host/bucket/key).
	Endpoint string
	// Region defaults to the SDK's (AWS_REGION), else us-east-1.
	Region string
	// TempDir holds the files of LocalPath; empty is os.TempDir().
	TempDir string
	// PartSize and Concurrency bound the memory of a Put; zero takes the
	// defaults.
	PartSize    int64
	Concurrency int
	// ProxyUploads keeps the chunks of multipart asset uploads going
	// through framewise; by default clients PUT them straight to the
	// store at presigned URLs (see Multipart), which needs Endpoint to be
	// reachable by them.
	ProxyUploads bool
}

// S3 stores blobs as objects of a bucket of an S3-compatible store.
// Credentials come from the AWS SDK's default chain (AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, the shared config files, an instance role).
type S3 struct {
	client *s3.Client
	opt    S3Options
	bufs   sync.Pool // *[]byte of opt.PartSize
}

var _ Store = (*S3)(nil)

// NewS3 connects to the bucket, creating it when it does not exist.
func NewS3(ctx context.Context, opt S3Options) (*S3, error) {
	if opt.Bucket == "" {
		return nil, errors.New("blob: s3: no bucket")
	}
	if opt.PartSize == 0 {
		opt.PartSize = DefaultPartSize
	}
	if opt.PartSize < minPartSize {
		return nil, fmt.Errorf("blob: s3: part size %d is below S3's minimum of 5 MiB", opt.PartSize)
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = DefaultConcurrency
	}
	if opt.Prefix != "" && !strings.HasSuffix(opt.Prefix, "/") {
		opt.Prefix += "/"
	}
	var loadOpts []func(*awsconfig.LoadOptions) error
	if opt.Region != "" {
		loadOpts = append(loadOpts, awsconfig.WithRegion(opt.Region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("blob: s3: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	opt.Region = cfg.Region
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opt.Endpoint != "" {
			o.BaseEndpoint = aws.String(opt.Endpoint)
			o.UsePathStyle = true
		}
		// Checksums only where S3 requires one: not every S3-compatible
		// server knows the newer checksum headers.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	s := &S3{client: client, opt: opt}
	s.bufs.New = func() any { b := make([]byte, opt.PartSize); return &b }
	if err := s.ensureBucket(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Client returns the S3 client, Bucket the bucket and Key the object key of
// a blob key.
func (s *S3) Client() *s3.Client { return s.client }
func (s *S3) Bucket() string     { return s.opt.Bucket }
func (s *S3) Key(key string) string {
	return s.opt.Prefix + key
}

// Ping checks that the bucket answers (for /readyz).
func (s *S3) Ping(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.opt.Bucket}); err != nil {
		return fmt.Errorf("object store: bucket %s: %w", s.opt.Bucket, err)
	}
	return nil
}

func (s *S3) ensureBucket(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.opt.Bucket})
	if err == nil {
		return nil
	}
	if !isNotFound(err) {
		return fmt.Errorf("blob: s3: bucket %s: %w", s.opt.Bucket, err)
	}
	in := &s3.CreateBucketInput{Bucket: &s.opt.Bucket}
	if s.opt.Region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(s.opt.Region)}
	}
	_, err = s.client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("blob: s3: create bucket %s: %w", s.opt.Bucket, err)
	}
	return nil
}

// isNotFound tells whether err is S3's answer for a missing key or bucket.
func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var nsb *types.NoSuchBucket
	if errors.As(err, &nsk) || errors.As(err, &nf) || errors.As(err, &nsb) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchBucket":
			return true
		}
	}
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

// Put streams r to the object: a blob that fits one part is one
// PutObject, a larger one a multipart upload of PartSize parts, at most
// Concurrency of them in flight. Memory stays bounded whatever the size;
// the object appears only once complete.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	n, err := s.put(ctx, s.Key(key), r)
	if err != nil {
		return n, fmt.Errorf("blob: put %s: %w", key, err)
	}
	return n, nil
}

func (s *S3) put(ctx context.Context, obj string, r io.Reader) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The Put's buffers: Concurrency+1 at most, one being filled while
	// the others upload. They go back to the pool when the Put ends.
	var (
		taken []*[]byte
		free  = make(chan *[]byte, s.opt.Concurrency+1)
	)
	defer func() {
		for _, b := range taken {
			s.bufs.Put(b)
		}
	}()
	get := func() (*[]byte, error) {
		select {
		case b := <-free:
			return b, nil
		default:
		}
		if len(taken) <= s.opt.Concurrency {
			b := s.bufs.Get().(*[]byte)
			taken = append(taken, b)
			return b, nil
		}
		select {
		case b := <-free:
			return b, nil
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
	buf, _ := get()
	n, err := io.ReadFull(ctxReader{ctx, r}, *buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		_, err = s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.opt.Bucket, Key: &obj,
			Body: bytes.NewReader((*buf)[:n]), ContentLength: aws.Int64(int64(n))})
		return int64(n), err
	}
	if err != nil {
		return int64(n), err
	}
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.opt.Bucket, Key: &obj})
	if err != nil {
		return int64(n), err
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		parts []types.CompletedPart
		total = int64(n)
	)
	upload := func(num int32, buf *[]byte, size int) {
		defer func() { free <- buf; wg.Done() }()
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.opt.Bucket, Key: &obj, UploadId: up.UploadId,
			PartNumber: aws.Int32(num), Body: bytes.NewReader((*buf)[:size]), ContentLength: aws.Int64(int64(size))})
		if err != nil {
			cancel(fmt.Errorf("part %d: %w", num, err))
			return
		}
		mu.Lock()
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		mu.Unlock()
	}
	size := n
	for num := int32(1); ; num++ {
		if num > maxParts {
			err = fmt.Errorf("larger than %d parts of %d bytes", maxParts, s.opt.PartSize)
			break
		}
		wg.Add(1)
		go upload(num, buf, size)
		if size < len(*buf) { // that was the short last part
			break
		}
		if buf, err = get(); err != nil {
			break
		}
		size, err = io.ReadFull(ctxReader{ctx, r}, *buf)
		total += int64(size)
		if err == io.ErrUnexpectedEOF { // a short last part
			err = nil
			continue
		}
		if err == io.EOF { // the previous part was the last
			err = nil
		}
		if err != nil || size == 0 {
			break
		}
	}
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil {
		err = cause // an upload's failure, rather than the read it stopped
	}
	if err == nil {
		// Parts may end in any order; S3 wants them ascending.
		slices.SortFunc(parts, func(a, b types.CompletedPart) int { return int(*a.PartNumber - *b.PartNumber) })
		_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.opt.Bucket, Key: &obj,
			UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	}
	if err != nil {
		// Abort even when ctx is done, so that the parts do not linger.
		_, _ = s.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &s.opt.Bucket, Key: &obj, UploadId: up.UploadId})
		return total, err
	}
	return total, nil
}

// Open streams the object.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.opt.Bucket, Key: aws.String(s.Key(key))})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("blob %s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	return out.Body, nil
}

// LocalPath downloads the object to a temporary file, removed by release.
func (s *S3) LocalPath(ctx context.Context, key string) (string, func(), error) {
	rc, err := s.Open(ctx, key)
	if err != nil {
		return "", nil, err
	}
	defer rc.Close()
	if s.opt.TempDir != "" {
		if err := os.MkdirAll(s.opt.TempDir, 0o750); err != nil {
			return "", nil, fmt.Errorf("blob: %w", err)
		}
	}
	f, err := os.CreateTemp(s.opt.TempDir, "blob-*")
	if err != nil {
		return "", nil, fmt.Errorf("blob: %w", err)
	}
	release := func() { os.Remove(f.Name()) }
	_, err = io.Copy(f, ctxReader{ctx, rc})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		release()
		return "", nil, fmt.Errorf("blob: download %s: %w", key, err)
	}
	return f.Name(), release, nil
}

// Delete removes the object key and every object below key+"/".
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	obj := s.Key(key)
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.opt.Bucket, Key: &obj}); err != nil && !isNotFound(err) {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	err := s.list(ctx, obj+"/", func(objs []types.Object) error {
		ids := make([]types.ObjectIdentifier, len(objs))
		for i, o := range objs {
			ids[i] = types.ObjectIdentifier{Key: o.Key}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &s.opt.Bucket,
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return err
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("%d objects not deleted, first %s: %s", len(out.Errors), aws.ToString(e.Key), aws.ToString(e.Message))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	return nil
}

// Usage sums the sizes of the object key and the objects below key+"/";
// "" is every object under the store's prefix.
func (s *S3) Usage(ctx context.Context, key string) (int64, error) {
	var n int64
	add := func(objs []types.Object) error {
		for _, o := range objs {
			n += aws.ToInt64(o.Size)
		}
		return nil
	}
	if key == "" {
		err := s.list(ctx, s.opt.Prefix, add)
		return n, err
	}
	if err := checkKey(key); err != nil {
		return 0, err
	}
	obj := s.Key(key)
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.opt.Bucket, Key: &obj})
	if err == nil {
		n += aws.ToInt64(head.ContentLength)
	} else if !isNotFound(err) {
		return 0, fmt.Errorf("blob: usage %s: %w", key, err)
	}
	err = s.list(ctx, obj+"/", add)
	return n, err
}

// list calls fn with each page of the objects whose key starts with prefix.
func (s *S3) list(ctx context.Context, prefix string, fn func([]types.Object) error) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.opt.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		if len(page.Contents) > 0 {
			if err := fn(page.Contents); err != nil {
				return err
			}
		}
	}
	return nil
}
