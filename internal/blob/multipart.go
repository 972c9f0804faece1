package blob

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// MinPartSize is the smallest part of a multipart upload but the last
// (S3's bound).
const MinPartSize = minPartSize

// Part is one uploaded part of a multipart upload.
type Part struct {
	Number     int
	ETag       string // as the store answers it, quoted
	Size       int64
	UploadedAt time.Time
}

// Multipart is implemented by stores that take the parts of a multipart
// upload straight from clients, at presigned URLs of their own, so that
// the bytes never pass through framewise (S3). key is the blob the upload
// becomes; id is the store's name of the upload.
type Multipart interface {
	CreateMultipart(ctx context.Context, key string) (id string, err error)
	// PresignPart returns a URL to PUT part num (from 1) to, valid for ttl.
	PresignPart(ctx context.Context, key, id string, num int, ttl time.Duration) (string, error)
	// ListParts returns the parts uploaded so far, by number. An upload
	// that does not exist (any more) is an error wrapping ErrNotFound.
	ListParts(ctx context.Context, key, id string) ([]Part, error)
	// CompleteMultipart joins parts, in order, into the blob key and
	// returns its size. An upload that does not exist (any more, e.g.
	// completed already) is an error wrapping ErrNotFound.
	CompleteMultipart(ctx context.Context, key, id string, parts []Part) (int64, error)
	// AbortMultipart drops the upload and its parts; a missing one is no
	// error.
	AbortMultipart(ctx context.Context, key, id string) error
}

// MultipartOf returns the Multipart of store s, or nil when its multipart
// uploads go through framewise. Under a quota, a completed upload's bytes
// are counted.
func MultipartOf(s Store) Multipart {
	switch s := s.(type) {
	case *S3:
		if s.opt.ProxyUploads {
			return nil
		}
		return s
	case *Quota:
		if m := MultipartOf(s.Store); m != nil {
			return quotaMultipart{m, s}
		}
	}
	return nil
}

// quotaMultipart counts the bytes of completed uploads in the quota (the
// quota was checked when the upload was created).
type quotaMultipart struct {
	Multipart
	q *Quota
}

func (m quotaMultipart) CompleteMultipart(ctx context.Context, key, id string, parts []Part) (int64, error) {
	old, _ := m.q.Store.Usage(ctx, key) // a blob it replaces, or itself completed before
	n, err := m.Multipart.CompleteMultipart(ctx, key, id, parts)
	if err == nil {
		m.q.used.Add(n - old)
	}
	return n, err
}

var _ Multipart = (*S3)(nil)

func (s *S3) CreateMultipart(ctx context.Context, key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.opt.Bucket, Key: aws.String(s.Key(key))})
	if err != nil {
		return "", fmt.Errorf("blob: start multipart upload %s: %w", key, err)
	}
	return aws.ToString(out.UploadId), nil
}

func (s *S3) PresignPart(ctx context.Context, key, id string, num int, ttl time.Duration) (string, error) {
	req, err := s3.NewPresignClient(s.client).PresignUploadPart(ctx, &s3.UploadPartInput{Bucket: &s.opt.Bucket,
		Key: aws.String(s.Key(key)), UploadId: &id, PartNumber: aws.Int32(int32(num))}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("blob: presign part %d of %s: %w", num, key, err)
	}
	return req.URL, nil
}

func (s *S3) ListParts(ctx context.Context, key, id string) ([]Part, error) {
	var out []Part
	p := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{Bucket: &s.opt.Bucket, Key: aws.String(s.Key(key)), UploadId: &id})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, multipartErr("list parts of", key, err)
		}
		for _, x := range page.Parts {
			out = append(out, Part{Number: int(aws.ToInt32(x.PartNumber)), ETag: aws.ToString(x.ETag), Size: aws.ToInt64(x.Size),
				UploadedAt: aws.ToTime(x.LastModified)})
		}
	}
	slices.SortFunc(out, func(a, b Part) int { return a.Number - b.Number })
	return out, nil
}

func (s *S3) CompleteMultipart(ctx context.Context, key, id string, parts []Part) (int64, error) {
	done := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		done[i] = types.CompletedPart{PartNumber: aws.Int32(int32(p.Number)), ETag: aws.String(p.ETag)}
	}
	obj := s.Key(key)
	_, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.opt.Bucket, Key: &obj, UploadId: &id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		return 0, multipartErr("complete", key, err)
	}
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.opt.Bucket, Key: &obj})
	if err != nil {
		return 0, fmt.Errorf("blob: completed multipart upload %s: %w", key, err)
	}
	return aws.ToInt64(head.ContentLength), nil
}

func (s *S3) AbortMultipart(ctx context.Context, key, id string) error {
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.opt.Bucket, Key: aws.String(s.Key(key)), UploadId: &id})
	if err != nil && !errors.Is(multipartErr("", key, err), ErrNotFound) {
		return fmt.Errorf("blob: abort multipart upload %s: %w", key, err)
	}
	return nil
}

// multipartErr wraps ErrNotFound for an upload that does not exist.
func multipartErr(op, key string, err error) error {
	var nsu *types.NoSuchUpload
	var ae smithy.APIError
	if errors.As(err, &nsu) || (errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload") || isNotFound(err) {
		return fmt.Errorf("blob: %s multipart upload %s: %w (%v)", op, key, ErrNotFound, err)
	}
	return fmt.Errorf("blob: %s multipart upload %s: %w", op, key, err)
}
