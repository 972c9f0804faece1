package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestStoresRanged: on each store, a ReadSeeker reads any part of a blob
// (http.ServeContent serves ranges from it), and a missing key is
// ErrNotFound.
func TestStoresRanged(t *testing.T) {
	for name, mk := range stores() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := mk(t)
			data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
			if _, err := s.Put(ctx, "tasks/t1/source", bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			r := s.(Ranged)
			rs, mod, err := NewReadSeeker(ctx, r, "tasks/t1/source")
			if err != nil || mod.IsZero() {
				t.Fatalf("NewReadSeeker: %v (mod %v)", err, mod)
			}
			defer rs.Close()
			if n, _ := rs.Seek(0, io.SeekEnd); n != int64(len(data)) {
				t.Fatalf("size %d, want %d", n, len(data))
			}
			for _, off := range []int64{40000, 5, 0, int64(len(data)) - 3} {
				rs.Seek(off, io.SeekStart)
				got := make([]byte, min(1000, int64(len(data))-off))
				if _, err := io.ReadFull(rs, got); err != nil || !bytes.Equal(got, data[off:off+int64(len(got))]) {
					t.Errorf("at %d: %v, read %q…", off, err, got[:min(len(got), 8)])
				}
			}
			if _, _, err := NewReadSeeker(ctx, r, "tasks/none/source"); !errors.Is(err, ErrNotFound) {
				t.Errorf("missing key: %v, want ErrNotFound", err)
			}

			// As http.ServeContent serves it: a range is 206 with those bytes.
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Range", "bytes=1000-1999")
			rs2, mod, _ := NewReadSeeker(ctx, r, "tasks/t1/source")
			defer rs2.Close()
			http.ServeContent(rec, req, "", mod, rs2)
			if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), data[1000:2000]) {
				t.Errorf("ServeContent range: %d, %d bytes", rec.Code, rec.Body.Len())
			}
		})
	}
}

func TestDirectUploadOrigin(t *testing.T) {
	local, _ := NewLocal(t.TempDir())
	for _, tc := range []struct {
		s    Store
		want string
	}{
		{local, ""},
		{&S3{opt: S3Options{Endpoint: "http://127.0.0.1:7070/"}}, "http://127.0.0.1:7070"},
		{&S3{opt: S3Options{Endpoint: "http://127.0.0.1:7070", ProxyUploads: true}}, ""},
		{&S3{}, "https://*.amazonaws.com"},
		{&Quota{Store: &S3{opt: S3Options{Endpoint: "https://minio.example:9000"}}}, "https://minio.example:9000"},
	} {
		if got := DirectUploadOrigin(tc.s); got != tc.want {
			t.Errorf("DirectUploadOrigin(%T %+v) = %q, want %q", tc.s, tc.s, got, tc.want)
		}
	}
}
