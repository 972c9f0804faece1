package asset_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/framewise/framewise/internal/asset"
	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/store"
)

// lockedBuffer collects log output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// leakyDownloader fails with the URL in its message, as net/http's errors do.
type leakyDownloader struct{ temporary bool }

func (d leakyDownloader) Download(ctx context.Context, rawURL string, max int64, w io.Writer) (int64, string, error) {
	return 0, "", fmt.Errorf("downloading failed: %w",
		&url.Error{Op: "Get", URL: rawURL, Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}})
}

func (d leakyDownloader) Temporary(error) bool { return d.temporary }

// A url upload that fails leaves no query, fragment or userinfo in the
// log, the error handed back to the queue or the asset's error message.
func TestURLUploadFailureLeaksNoQuery(t *testing.T) {
	t.Parallel()
	const raw = "https://bucket.example/v.mp4?X-Amz-Credential=AKIA-secret&X-Amz-Signature=sig-secret#frag-secret"
	for _, tc := range []struct {
		temporary bool
		attempt   int
	}{{true, 1}, {true, 5}, {false, 1}} {
		e := newEnv(t)
		var logs lockedBuffer
		signer, _ := asset.NewSigner(bytes.Repeat([]byte("s"), 32))
		e.svc = asset.NewService(asset.Config{Store: store.NewAssets(e.db, nil), Blobs: e.blobs, Media: mustTool(t), Signer: signer,
			Limits: asset.DefaultLimits(), Downloader: leakyDownloader{tc.temporary}, Log: slog.New(slog.NewJSONHandler(&logs, nil))})
		ctx := context.Background()
		a, err := e.svc.CreateFromForm(ctx, form(t, "method", "url", "url", raw))
		if err != nil {
			t.Fatal(err)
		}
		perr := e.svc.Process(ctx, a.ID, tc.attempt, 5)
		a, _ = e.svc.Get(ctx, a.ID)
		texts := []string{logs.String(), a.ErrorMessage}
		if perr != nil {
			texts = append(texts, perr.Error())
		}
		if tc.temporary && tc.attempt == 1 && (perr == nil || !strings.Contains(perr.Error(), "https://bucket.example/v.mp4?REDACTED")) {
			t.Errorf("retry error = %v; want the redacted URL", perr)
		}
		if !tc.temporary && !strings.Contains(a.ErrorMessage, "https://bucket.example/v.mp4?REDACTED") {
			t.Errorf("asset error = %q; want the redacted URL", a.ErrorMessage)
		}
		if !strings.Contains(logs.String(), "https://bucket.example/v.mp4?REDACTED") {
			t.Errorf("log lacks the redacted URL:\n%s", logs.String())
		}
		for _, s := range texts {
			if strings.Contains(s, "secret") || strings.Contains(s, "AKIA") {
				t.Errorf("temporary=%v attempt %d: a credential leaked: %s", tc.temporary, tc.attempt, s)
			}
		}
	}
	// A url the form refuses is not echoed whole either.
	_, err := newEnv(t).svc.CreateFromForm(context.Background(), form(t, "method", "url", "url", "ftp://u:pass-secret@h.example/v.mp4?sig-secret"))
	if ae := apiErr(t, err, 400, "parameter_invalid"); strings.Contains(ae.Message, "secret") {
		t.Errorf("message = %q", ae.Message)
	}
}

// fullDisk fails to write after reading a little, with an error naming a
// file of the server.
type fullDisk struct{ *blob.Local }

func (d fullDisk) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	n, err := io.CopyN(io.Discard, r, 100)
	if err != nil && err != io.EOF {
		return n, fmt.Errorf("blob: put %s: %w", key, err) // the body's failure, as blob.Local reports it
	}
	return n, fmt.Errorf("blob: put %s: %w", key, &fs.PathError{Op: "write", Path: "/srv/framewise/blobs/" + key + ".part-1", Err: syscall.ENOSPC})
}

// brokenBody is a request body that breaks off after some bytes.
type brokenBody struct{ r io.Reader }

func (b *brokenBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// A failure of the store is the server's: ErrStorage, not a client *Error
// (whose message the client reads); a body that breaks off is the client's.
func TestStoreFailureIsNotTheClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	signer, _ := asset.NewSigner(bytes.Repeat([]byte("s"), 32))
	lim := asset.DefaultLimits()
	lim.ChunkSize = 1 << 10
	svc := asset.NewService(asset.Config{Store: store.NewAssets(e.db, nil), Blobs: fullDisk{e.blobs}, Media: mustTool(t), Signer: signer,
		Limits: lim, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx := context.Background()

	_, err := svc.CreateFromForm(ctx, form(t, "method", "direct", "file", "@"+video(t)))
	var ae *asset.Error
	if !errors.Is(err, asset.ErrStorage) || errors.As(err, &ae) || !strings.Contains(err.Error(), "/srv/framewise/") {
		t.Fatalf("direct upload on a full disk: %v (%T); want ErrStorage with the cause for the log", err, err)
	}

	// The same store with a body that breaks off: the client's fault, 400.
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("method", "direct")
	w, _ := mw.CreateFormFile("file", "v.mp4")
	w.Write(append([]byte("\x00\x00\x00\x20ftypisom"), make([]byte, 50)...))
	cut := b.Bytes() // no closing boundary: the part ends early
	_, err = svc.CreateFromForm(ctx, multipart.NewReader(&brokenBody{bytes.NewReader(cut)}, mw.Boundary()))
	if ae := apiErr(t, err, 400, "parameter_invalid"); strings.Contains(ae.Message, "/srv/") || strings.Contains(ae.Message, "blob") {
		t.Errorf("broken body: %q", ae.Message)
	}

	u, urls, err := svc.CreateUpload(ctx, asset.UploadRequest{Filename: "v.mp4", Type: "video", TotalSize: 3000}, "http://127.0.0.1:8700")
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.Parse(urls[0].URL)
	_, err = svc.PutChunk(ctx, u.ID, 1, q.Query(), 1024, bytes.NewReader(make([]byte, 1024)))
	if !errors.Is(err, asset.ErrStorage) || errors.As(err, &ae) {
		t.Errorf("chunk on a full disk: %v (%T); want ErrStorage", err, err)
	}
	// The URL stays usable after a failure of ours; a broken body is the client's.
	_, err = svc.PutChunk(ctx, u.ID, 1, q.Query(), -1, &brokenBody{bytes.NewReader(make([]byte, 10))})
	apiErr(t, err, 400, "parameter_invalid")
}

// noProbe fails the test when FFmpeg would be run.
type noProbe struct{ t *testing.T }

func (n noProbe) Probe(ctx context.Context, path string) (*media.Info, error) {
	n.t.Errorf("ffprobe ran on %s", path)
	return nil, errors.New("probe")
}

func (n noProbe) DecodeCheck(ctx context.Context, path string) error {
	n.t.Errorf("ffmpeg ran on %s", path)
	return errors.New("decode")
}

// An HLS playlist behind an ID3v2 tag sniffs as MP3; it is refused before
// FFmpeg, which would skip the tag and follow the playlist, sees it.
func TestID3PlaylistRefusedBeforeProbe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	signer, _ := asset.NewSigner(bytes.Repeat([]byte("s"), 32))
	svc := asset.NewService(asset.Config{Store: store.NewAssets(e.db, nil), Blobs: e.blobs, Media: noProbe{t}, Signer: signer,
		Limits: asset.DefaultLimits(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	tag := []byte{'I', 'D', '3', 4, 0, 0, 0, 0, 0x0c, 0x00} // a 1536-byte tag: beyond a 1 KiB look at the head
	data := append(append(tag, make([]byte, 1536)...), []byte("#EXTM3U\n#EXT-X-TARGETDURATION:5\n#EXTINF:5,\n"+e.blobs.Dir+"/assets/other/source\n")...)
	path := filepath.Join(t.TempDir(), "song.mp3")
	os.WriteFile(path, data, 0o600)
	ctx := context.Background()
	a, err := svc.CreateFromForm(ctx, form(t, "method", "direct", "file", "@"+path))
	if err != nil {
		t.Fatal(err)
	}
	if a.Type != asset.Audio {
		t.Fatalf("classified as %s; the test wants the MP3 sniff", a.Type)
	}
	if err := svc.Process(ctx, a.ID, 1, 5); err != nil {
		t.Fatal(err)
	}
	a, _ = svc.Get(ctx, a.ID)
	if a.Status != asset.Failed || !strings.Contains(a.ErrorMessage, "playlist") {
		t.Errorf("status %s, message %q; want failed as a playlist", a.Status, a.ErrorMessage)
	}
}
