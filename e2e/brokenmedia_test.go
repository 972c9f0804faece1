package e2e

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
)

// brokenFiles writes the damaged inputs of TestBrokenMedia into dir: a
// faststart MP4 cut to a quarter (its index still declares 6 s), an
// MPEG-TS with garbage over its middle fifth, and an HLS playlist behind
// an ID3v2 tag.
func brokenFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	whole := filepath.Join(dir, "whole.mp4")
	cmd := exec.Command("ffmpeg", "-y", "-v", "error",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=6",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=6",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "250", "-c:a", "aac",
		"-movflags", "+faststart", "-shortest", whole)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	ts := filepath.Join(dir, "whole.ts")
	if out, err := exec.Command("ffmpeg", "-y", "-v", "error", "-i", whole, "-c", "copy", ts).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mp4, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	tsData, err := os.ReadFile(ts)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := len(tsData) * 4 / 10; i < len(tsData)*6/10; i++ {
		tsData[i] = byte(r.UintN(256))
	}
	id3 := []byte{'I', 'D', '3', 4, 0, 0, 0, 0, 0, 20}
	id3 = append(id3, make([]byte, 20)...)
	playlist := append(id3, []byte("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\n"+whole+"\n#EXT-X-ENDLIST\n")...)
	return map[string]string{
		"truncated.mp4": write("truncated.mp4", mp4[:len(mp4)/4]),
		"corrupt.ts":    write("corrupt.ts", tsData),
		"playlist.mp4":  write("playlist.mp4", playlist),
	}
}

// TestBrokenMedia: damaged files never end ready with measurements of
// video that is not there. Each is refused when a task is created with it
// as base64 (400 video_invalid), fails as a URL task, and fails as an
// asset (or is refused at upload), with a message that says what is wrong:
// both durations for a truncated file, the seconds that do not decode for
// a corrupt one, "playlist" for a playlist.
func TestBrokenMedia(t *testing.T) {
	t.Parallel()
	files := brokenFiles(t, t.TempDir())
	srv := startServer(t, t.TempDir())
	c := srv.client()
	media := startMediaServer(t, files)
	ctx := waitCtx(t, 3*time.Minute)
	want := map[string][]string{
		"truncated.mp4": {"declares 6.0 s but only 1.", "could be decoded", "truncated"},
		"corrupt.ts":    {"s of the video", "could not be decoded", "corrupt"},
		"playlist.mp4":  {"playlist"},
	}
	check := func(what, name, msg string) {
		t.Helper()
		for _, w := range want[name] {
			if !strings.Contains(msg, w) {
				t.Errorf("%s %s: message %q lacks %q", what, name, msg, w)
			}
		}
		t.Logf("%s %s: %s", what, name, msg)
	}
	for name, path := range files {
		// base64: refused at create.
		_, err := c.CreateTask(ctx, &api.CreateTaskRequest{
			Video:  &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, path)},
			Prompt: api.String("x"),
		})
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Code != api.CodeVideoInvalid {
			t.Errorf("base64 %s: %v, want 400 %s", name, err, api.CodeVideoInvalid)
		} else {
			check("base64", name, ae.Message)
		}

		// URL: fails when it runs, without a result.
		r, err := c.CreateTask(ctx, &api.CreateTaskRequest{
			Video:  &api.VideoContext{Type: api.SourceURL, URL: media.url + "/" + name},
			Prompt: api.String("x"),
		})
		if err != nil {
			t.Fatalf("url %s: %v", name, err)
		}
		done, err := c.Wait(ctx, r.TaskID, fastWait()...)
		var fe *client.TaskFailedError
		if !errors.As(err, &fe) || fe.Status != "failed" {
			t.Errorf("url %s: %+v, %v, want failed", name, done, err)
		} else {
			check("url", name, fe.Message)
		}
		if done != nil && done.Result != nil && done.Result.Data != "" {
			t.Errorf("url %s: a failed task has a result: %s", name, done.Result.Data)
		}

		// Asset: refused at upload or failed when processed, never ready.
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		a, err := c.CreateAsset(ctx, bytes.NewReader(data), name, nil)
		if errors.As(err, &ae) && ae.StatusCode == 400 {
			check("asset upload", name, ae.Message)
			continue
		}
		if err != nil {
			t.Fatalf("asset %s: %v", name, err)
		}
		got, err := c.WaitAsset(ctx, a.ID, fastWait()...)
		var afe *client.AssetFailedError
		if !errors.As(err, &afe) {
			t.Errorf("asset %s: %+v, %v, want failed", name, got, err)
			continue
		}
		check("asset", name, afe.Message)
	}
}
