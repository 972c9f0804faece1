package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/internal/inference/inferencetest"
)

// TestMetrics: after a task on the VLM engine, /metrics (no key needed)
// shows the request by its route, the task by status, the job, the model
// calls with their tokens and the FFmpeg runs — and no task id or key.
func TestMetrics(t *testing.T) {
	t.Parallel()
	double := inferencetest.New(t)
	srv := startVLM(t, t.TempDir(), double, 16, 2)
	c := srv.client()
	done := createP15(t, c, colourVideo(t), func(r *api.CreateTaskRequest) { r.Prompt = api.String("Which colours appear?") })
	if done.Status != api.StatusReady {
		t.Fatalf("task: %+v", done.Error)
	}

	resp, err := http.Get("http://" + srv.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	body := string(raw)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []struct{ series, min string }{
		{`framewise_http_request_duration_seconds_count{method="POST",route="POST /v1.3/analyze/tasks",status="2xx"}`, "1"},
		{`framewise_http_request_duration_seconds_count{method="GET",route="GET /v1.3/analyze/tasks/{task_id}",status="2xx"}`, "1"},
		{`framewise_tasks{status="ready"}`, "1"},
		{`framewise_job_duration_seconds_count{kind="framewise.analyze_task",outcome="done"}`, "1"},
		{`framewise_model_call_duration_seconds_count{backend="double",outcome="ok"}`, "1"},
		{`framewise_model_tokens_total{backend="double",direction="output"}`, "1"},
		{`framewise_ffmpeg_run_duration_seconds_count{run="sample"}`, "1"},
		{`framewise_queue_jobs_waiting`, "0"},
	} {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want.series) + ` (\S+)$`).FindStringSubmatch(body)
		if m == nil {
			t.Errorf("no series %s", want.series)
			continue
		}
		got, _ := strconv.ParseFloat(m[1], 64)
		min, _ := strconv.ParseFloat(want.min, 64)
		if got < min {
			t.Errorf("%s = %v, want at least %v", want.series, got, min)
		}
	}
	for _, secret := range []string{done.TaskID, testKey} {
		if strings.Contains(body, secret) {
			t.Errorf("/metrics shows %q", secret)
		}
	}
}
