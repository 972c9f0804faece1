package analysis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/engine"
	"github.com/framewise/framewise/internal/fetch"
	"github.com/framewise/framewise/internal/media"
	"github.com/framewise/framewise/internal/netguard"
	"github.com/framewise/framewise/internal/task"
)

// fakeTasks serves one task and records how it failed.
type fakeTasks struct {
	mu     sync.Mutex
	t      task.Task
	failed []string
}

func (f *fakeTasks) Begin(ctx context.Context, id string) (*task.Task, error) {
	t := f.t
	return &t, nil
}
func (f *fakeTasks) Progress(ctx context.Context, id, stage string, percent float64) error {
	return nil
}
func (f *fakeTasks) SetSource(ctx context.Context, id, blobKey string, duration *float64) error {
	return nil
}
func (f *fakeTasks) Complete(ctx context.Context, id string, r task.Result, warning string) (*task.Task, error) {
	return nil, errors.New("not expected")
}
func (f *fakeTasks) Fail(ctx context.Context, id, message string) (*task.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = append(f.failed, message)
	return nil, nil
}
func (f *fakeTasks) SaveCheckpoint(ctx context.Context, id, key string, value []byte) error {
	return nil
}
func (f *fakeTasks) Checkpoints(ctx context.Context, id string) (map[string][]byte, error) {
	return nil, nil
}

// fetchDownloader is the server's downloader: fetch through netguard.
type fetchDownloader struct{ f *fetch.Fetcher }

func (d fetchDownloader) Download(ctx context.Context, rawURL string, w io.Writer) (int64, error) {
	n, _, err := d.f.Fetch(ctx, rawURL, w)
	return n, err
}
func (fetchDownloader) Temporary(err error) bool { return fetch.IsTemporary(err) }

// leakyDownloader fails with the URL in its message, as a downloader that
// wraps net/http's errors naively would.
type leakyDownloader struct{ temporary bool }

func (d leakyDownloader) Download(ctx context.Context, rawURL string, w io.Writer) (int64, error) {
	return 0, fmt.Errorf("fetching %s failed: %w", rawURL,
		&url.Error{Op: "Get", URL: rawURL, Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}})
}
func (d leakyDownloader) Temporary(err error) bool { return d.temporary }

type noEngine struct{}

func (noEngine) Name() string { return "none" }
func (noEngine) Analyze(ctx context.Context, in engine.Input) (*engine.Output, error) {
	return nil, errors.New("not expected")
}

const secretQuery = "?X-Amz-Credential=AKIA-secret&X-Amz-Signature=sig-secret#frag-secret"

// A download that fails must leave neither the presigned query nor the
// fragment in the log, in the error handed back to the queue (which
// stores it with the job) or in the task's error message.
func TestFailedDownloadLeaksNoQuery(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/busy"):
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case strings.HasPrefix(r.URL.Path, "/hop"):
			http.Redirect(w, r, "/busy.mp4?token=hop-secret", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	real := fetchDownloader{&fetch.Fetcher{Client: netguard.Guard{AllowPrivate: true}.HTTPClient(0)}}

	tests := []struct {
		name       string
		url        string
		dl         Downloader
		attempt    int
		wantRetry  bool   // Run returns an error for the queue to retry
		wantFailed string // else the task fails with a message containing this
	}{
		{"503 retried", srv.URL + "/busy.mp4" + secretQuery, real, 1, true, ""},
		{"redirect to 503 retried", srv.URL + "/hop.mp4" + secretQuery, real, 1, true, ""},
		{"refused retried", dead + "/v.mp4" + secretQuery, real, 1, true, ""},
		{"refused on the last attempt", dead + "/v.mp4" + secretQuery, real, 3, false, "The analysis failed after 3 attempts"},
		{"404 is final", srv.URL + "/gone.mp4" + secretQuery, real, 1, false, "404 Not Found"},
		{"leaky downloader, temporary", "https://bucket.example/v.mp4" + secretQuery, leakyDownloader{true}, 1, true, ""},
		{"leaky downloader, final", "https://u:pass-secret@bucket.example/v.mp4" + secretQuery, leakyDownloader{false}, 1, false,
			"The video URL could not be fetched: fetching https://REDACTED@bucket.example/v.mp4?REDACTED failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			tasks := &fakeTasks{t: task.Task{ID: "t1", Status: task.Processing,
				Spec: task.Spec{Model: "m", Source: task.Source{Type: task.SourceURL, URL: tt.url}}}}
			blobs, err := blob.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			p := &Pipeline{Tasks: tasks, Blobs: blobs, Downloader: tt.dl, Engines: map[string]engine.Engine{"m": noEngine{}},
				Log: slog.New(slog.NewJSONHandler(&logs, nil))}
			err = p.Run(context.Background(), "t1", tt.attempt, 3)
			if tt.wantRetry != (err != nil) {
				t.Fatalf("Run = %v; want a retry: %v", err, tt.wantRetry)
			}
			var texts []string
			if err != nil {
				texts = append(texts, err.Error(), fmt.Sprintf("%+v", err))
				if !strings.Contains(err.Error(), "?REDACTED") && tt.dl == Downloader(real) {
					t.Errorf("Run = %q; want the URL with its query redacted", err)
				}
			}
			if tt.wantFailed != "" {
				if len(tasks.failed) != 1 || !strings.Contains(tasks.failed[0], tt.wantFailed) {
					t.Fatalf("task failed with %q; want %q", tasks.failed, tt.wantFailed)
				}
				texts = append(texts, tasks.failed...)
			}
			if tt.wantRetry || tt.attempt == 3 {
				if !strings.Contains(logs.String(), `"err":`) {
					t.Errorf("no error logged:\n%s", logs.String())
				}
			}
			texts = append(texts, logs.String())
			for _, s := range texts {
				if strings.Contains(s, "secret") || strings.Contains(s, "AKIA") {
					t.Errorf("a credential leaked: %s", s)
				}
			}
		})
	}
}

func TestReferenceImageErrorsLeakNoQuery(t *testing.T) {
	t.Parallel()
	spec := task.Spec{PromptV2: &task.PromptV2{MediaSources: []task.MediaSource{
		{Name: "logo", MediaType: "image", URL: "https://img.example/logo.png" + secretQuery}}}}
	for _, temporary := range []bool{true, false} {
		p := &Pipeline{Downloader: leakyDownloader{temporary}}
		_, err := p.references(context.Background(), spec)
		var final *finalError
		if err == nil || errors.As(err, &final) == temporary {
			t.Fatalf("temporary %v: err = %v", temporary, err)
		}
		if s := err.Error(); strings.Contains(s, "secret") || strings.Contains(s, "AKIA") || !strings.Contains(s, "logo.png?REDACTED") {
			t.Errorf("temporary %v: err = %q", temporary, s)
		}
	}
}

// tooBig writes more than a reference image may hold.
type tooBig struct{}

func (tooBig) Download(ctx context.Context, rawURL string, w io.Writer) (int64, error) {
	_, err := w.Write(make([]byte, maxReferenceBytes+1))
	return 0, err
}
func (tooBig) Temporary(err error) bool { return true } // as fetch reports a write failure

func TestReferenceImageTooLargeIsFinal(t *testing.T) {
	t.Parallel()
	spec := task.Spec{PromptV2: &task.PromptV2{MediaSources: []task.MediaSource{{Name: "logo", MediaType: "image", URL: "https://img.example/big.png"}}}}
	_, err := (&Pipeline{Downloader: tooBig{}}).references(context.Background(), spec)
	var final *finalError
	if !errors.As(err, &final) || !strings.Contains(final.message, `Reference image "logo" is larger than 32 MB`) {
		t.Fatalf("err = %v; want a final error naming the limit", err)
	}
}

// An HLS playlist behind an ID3v2 tag, sent inline or downloaded, is
// refused before ffprobe runs: FFmpeg would skip the tag and open the
// files the playlist names.
func TestID3PlaylistRefusedBeforeProbe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	marker := filepath.Join(dir, "ffprobe-ran")
	fake := filepath.Join(dir, "ffprobe")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\ntouch '"+marker+"'\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tool, err := media.New(media.Config{FFprobePath: fake})
	if err != nil {
		t.Skipf("media tools: %v", err)
	}
	video := filepath.Join(dir, "source")
	tag := []byte{'I', 'D', '3', 3, 0, 0, 0, 0, 0x10, 0x00} // a 2 KiB tag
	os.WriteFile(video, append(append(tag, make([]byte, 2048)...), "#EXTM3U\n#EXT-X-TARGETDURATION:5\n#EXTINF:5,\n/etc/other.ts\n"...), 0o600)
	_, err = Checker{Media: tool}.Check(context.Background(), video)
	var ve *task.VideoError
	if !errors.As(err, &ve) || !strings.Contains(ve.Message, "playlist") {
		t.Fatalf("Check = %v; want a VideoError naming the playlist", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("ffprobe ran on the playlist")
	}
}
