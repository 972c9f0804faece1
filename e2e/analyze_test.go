package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
	"github.com/framewise/framewise/internal/engine/builtin"
)

// TestAnalyzeSyncBuiltin: POST /v1.3/analyze with the built-in engine, by
// URL and by base64, in one body and as a stream: the stream starts with
// stream_start, its text (the probe facts first, the measurements once the
// pass is done) put together is the non-streamed answer, and stream_end
// carries the finish reason and usage. Nothing of a request is left in the
// data dir.
func TestAnalyzeSyncBuiltin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir)
	c := s.client()
	video := makeVideo(t, "sync", 6, 640, 360)
	media := startMediaServer(t, map[string]string{"v.mp4": video})
	ctx := waitCtx(t, 2*time.Minute)

	byURL := &api.AnalyzeRequest{Video: &api.VideoContext{Type: api.SourceURL, URL: media.url + "/v.mp4"}, Prompt: api.String("What happens?")}
	whole, err := c.Analyze(ctx, byURL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(whole.Data, builtin.Header) || whole.FinishReason != "stop" || whole.ID == "" || whole.Error != nil {
		t.Fatalf("non-streamed answer: %+v", whole)
	}
	if !strings.Contains(whole.Data, "Shots (") || !strings.Contains(whole.Data, `Prompt (not interpreted): "What happens?"`) {
		t.Fatalf("the answer lacks the measurements:\n%s", whole.Data)
	}

	for _, req := range []*api.AnalyzeRequest{byURL,
		{Video: &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, video)}, Prompt: api.String("What happens?")}} {
		var types []string
		var text strings.Builder
		var start, end api.StreamEvent
		for ev, err := range c.AnalyzeStream(ctx, req) {
			if err != nil {
				t.Fatal(err)
			}
			types = append(types, ev.EventType)
			switch ev.EventType {
			case api.EventStreamStart:
				start = ev
			case api.EventTextGeneration:
				text.WriteString(ev.Text)
			case api.EventStreamEnd:
				end = ev
			}
		}
		if len(types) < 4 || types[0] != api.EventStreamStart || types[len(types)-1] != api.EventStreamEnd {
			t.Fatalf("%s: events %v: want stream_start, at least two text_generation, stream_end", req.Video.Type, types)
		}
		for _, typ := range types[1 : len(types)-1] {
			if typ != api.EventTextGeneration {
				t.Fatalf("%s: events %v", req.Video.Type, types)
			}
		}
		if text.String() != whole.Data {
			t.Fatalf("%s: streamed text differs from the non-streamed answer:\n%s\n---\n%s", req.Video.Type, text.String(), whole.Data)
		}
		if start.Metadata == nil || end.Metadata == nil || start.Metadata.GenerationID == "" || start.Metadata.GenerationID != end.Metadata.GenerationID {
			t.Fatalf("%s: generation ids: start %+v end %+v", req.Video.Type, start.Metadata, end.Metadata)
		}
		if end.FinishReason != "stop" || end.Error != nil || end.Metadata.Usage == nil || end.Metadata.Usage.OutputTokens == 0 {
			t.Fatalf("%s: stream_end %+v (usage %+v)", req.Video.Type, end, end.Metadata.Usage)
		}
	}
	// The CLI prints the same text as it arrives.
	cmd := exec.CommandContext(ctx, binary, "analyze", media.url+"/v.mp4", "--prompt", "What happens?", "--sync", "--server", "http://"+s.addr)
	cmd.Env = append(os.Environ(), "FRAMEWISE_API_KEY="+testKey, "FRAMEWISE_STATE_DIR="+t.TempDir())
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("analyze --sync: %v\n%s", err, stderr.String())
	}
	if stdout.String() != whole.Data {
		t.Fatalf("analyze --sync printed:\n%s\nwant:\n%s", stdout.String(), whole.Data)
	}
	if n := countFiles(t, dir+"/blobs/tasks"); n != 0 {
		t.Fatalf("%d files of synchronous requests left in the data dir", n)
	}
}

// TestAnalyzeSyncRefusals: what POST /v1.3/analyze refuses, before any
// event, with a flat error body: parameters of tasks only, segments, a
// stream that is not a boolean, a video over 1 hour, a URL that fails.
func TestAnalyzeSyncRefusals(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	c := s.client()
	long := makeLongStill(t, 3605)
	media := startMediaServer(t, map[string]string{"long.mp4": long})
	ctx := waitCtx(t, 2*time.Minute)
	video := `{"type":"url","url":"` + media.url + `/long.mp4"}`
	for _, tc := range []struct {
		name, body string
		status     int
		code, want string
	}{
		{"mode", `{"video":` + video + `,"prompt":"x","analysis_mode":"time_based_metadata"}`, 400, "parameter_unknown", "POST /analyze/tasks"},
		{"segments", `{"model_name":"pegasus1.5","video":` + video + `,"prompt":"x","response_format":{"type":"segment_definitions","segment_definitions":[]}}`, 400, "parameter_invalid", "segment_definitions is not accepted"},
		{"stream", `{"video":` + video + `,"prompt":"x","stream":"yes"}`, 400, "parameter_invalid", "stream parameter must be true or false"},
		{"no video", `{"prompt":"x"}`, 400, "parameter_not_provided", "video parameter is required"},
		{"too long", `{"video":` + video + `,"prompt":"x","stream":false}`, 400, "video_invalid", "exceeds the maximum of 1 h"},
		{"missing", `{"video":{"type":"url","url":"` + media.url + `/nope.mp4"},"prompt":"x"}`, 400, "video_invalid", "could not be fetched"},
		{"unknown asset", `{"video":{"type":"asset_id","asset_id":"0123456789abcdef01234567"},"prompt":"x"}`, 400, "", "asset"},
	} {
		status, body := postAnalyze(t, s, tc.body)
		if status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, status, tc.status, body)
			continue
		}
		var flatErr api.FlatError
		if err := json.Unmarshal([]byte(body), &flatErr); err != nil || flatErr.Message == "" || (tc.code != "" && flatErr.Code != tc.code) ||
			!strings.Contains(flatErr.Message, tc.want) {
			t.Errorf("%s: body %s: want flat code %q mentioning %q", tc.name, body, tc.code, tc.want)
		}
	}
	// The SDK's error for a refused stream: before any event.
	for _, err := range c.AnalyzeStream(ctx, &api.AnalyzeRequest{Prompt: api.String("x")}) {
		if !errors.Is(err, client.ErrBadRequest) {
			t.Fatalf("stream without a video: %v, want a bad request", err)
		}
	}
}

// postAnalyze posts body to POST /v1.3/analyze and returns the status and
// the whole response body.
func postAnalyze(t *testing.T, s *server, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/v1.3/analyze", strings.NewReader(body))
	req.Header.Set("x-api-key", testKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := recordingClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// countFiles counts the regular files under dir (0 when it does not exist).
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return n
}

// makeLongStill makes a video of the given seconds that is cheap to make
// and to probe: 1 frame per second of a still picture, 360x360.
func makeLongStill(t *testing.T, seconds int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("still-%d.mp4", seconds))
	cmd := exec.Command("ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", fmt.Sprintf("color=c=gray:size=360x360:rate=1:duration=%d", seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return path
}

// TestAnalyzeSyncQuota: the video of a synchronous analysis counts against
// the account's video hours per day like a task's: past the quota, both
// are 429 quota_exceeded with Retry-After.
func TestAnalyzeSyncQuota(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "--quota-video-hours", "0.003") // 10.8 s
	c := s.client()
	ctx := waitCtx(t, 2*time.Minute)
	video := makeVideo(t, "sync", 6, 640, 360)
	req := &api.AnalyzeRequest{Video: &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, video)}, Prompt: api.String("x")}
	strict := client.New("http://"+s.addr, client.WithAPIKey(testKey), client.WithMaxRetries(0))
	if _, err := strict.Analyze(ctx, req); err != nil {
		t.Fatalf("first 6 s: %v", err)
	}
	_, err := strict.Analyze(ctx, req)
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "quota_exceeded" {
		t.Fatalf("second 6 s (12 s of 10.8 s): %v, want 429 quota_exceeded", err)
	}
	_, err = c.CreateTask(ctx, &api.CreateTaskRequest{Video: req.Video, Prompt: req.Prompt})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "quota_exceeded" {
		t.Fatalf("a task after the synchronous analysis: %v, want 429 quota_exceeded", err)
	}
}
