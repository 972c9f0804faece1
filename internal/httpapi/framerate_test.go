package httpapi_test

import (
	"encoding/base64"
	"os"
	"strings"
	"testing"
)

// A base64 video above the frame-rate cap is refused at create with 400
// video_invalid naming the rate and the cap (issue 10).
func TestCreateRefusesHighFrameRate(t *testing.T) {
	t.Parallel()
	srv, jobs := newServer(t)
	path := gen(t, "rate1000.mp4", "-f", "lavfi", "-i", "color=c=blue:size=360x360:rate=1000:duration=5",
		"-c:v", "libx264", "-preset", "ultrafast", "-crf", "40", "-pix_fmt", "yuv420p")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	resp, m := do(t, "POST", srv.URL+"/v1.3/analyze/tasks", b64Body(base64.StdEncoding.EncodeToString(data)))
	c, shape := code(m)
	e, _ := m["error"].(map[string]any)
	msg, _ := e["message"].(string)
	if resp.StatusCode != 400 || c != "video_invalid" || shape != "nested" ||
		!strings.Contains(msg, "video frame rate 1000 fps exceeds the maximum of 240 fps") {
		t.Fatalf("create = %d %s (%s) %q, want 400 video_invalid naming the frame rate", resp.StatusCode, c, shape, msg)
	}
	if *jobs != 0 {
		t.Errorf("%d jobs enqueued for a refused create", *jobs)
	}
}
