package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
	"github.com/framewise/framewise/internal/blob/blobtest"
	"github.com/framewise/framewise/internal/store/storetest"
)

// migrateDatabase migrates the PostgreSQL database at url once (framewise
// migrate), as an operator does before starting many processes.
func migrateDatabase(t *testing.T, url string) {
	t.Helper()
	out, err := exec.Command(binary, "migrate", "--database-url", url).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "migrated") {
		t.Fatalf("framewise migrate: %v\n%s", err, out)
	}
}

// Two API processes and three workers on one PostgreSQL take 50 tasks
// through both APIs while a worker is killed (SIGKILL) and an API process
// restarted: all 50 end ready, each completed once (one "task ready" in
// all the workers' logs), and the killed worker's jobs are run again by
// the others within the rescue bound (queue.DefaultDeadAfter plus a
// heartbeat), measured here.
func TestScaleOutSurvivesKilledWorker(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	migrateDatabase(t, url)
	video := makeVideo(t, "scale", 4, 640, 360)
	inline := base64File(t, video)
	media := startMediaServer(t, map[string]string{"v.mp4": video})

	common := []string{"--database-url", url, "--blob-url", blobtest.S3URL(t).String(), "--log-level", "info"}
	apis := []*server{
		startServer(t, t.TempDir(), append(common, "--role", "api")...),
		startServer(t, t.TempDir(), append(common, "--role", "api")...),
	}
	var workers []*server
	for range 3 {
		workers = append(workers, startServer(t, t.TempDir(), append(common, "--role", "worker", "--workers", "2")...))
	}
	// A worker answers nothing but health, readiness and metrics (not
	// part of the API: a plain client, not the recording one).
	req, _ := http.NewRequest(http.MethodGet, "http://"+workers[0].addr+"/v1.3/analyze/tasks", nil)
	req.Header.Set("x-api-key", testKey)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("a worker answered the API: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	ctx := waitCtx(t, 4*time.Minute)
	const n = 50
	ids := make([]string, 0, n)
	// One task in five sends its video inline: the API process stores
	// it in the object store, a worker reads it there.
	create := func(s *server, i int) {
		t.Helper()
		video := &api.VideoContext{Type: api.SourceURL, URL: fmt.Sprintf("%s/v.mp4?i=%d", media.url, i)}
		if i%5 == 0 {
			video = &api.VideoContext{Type: api.SourceBase64, Base64String: inline}
		}
		r, err := s.client().CreateTask(ctx, &api.CreateTaskRequest{
			Video:    video,
			Prompt:   api.String("describe"),
			CustomID: api.String(fmt.Sprintf("scale-%02d", i)),
		})
		if err != nil {
			t.Fatalf("create %d through %s: %v", i, s.addr, err)
		}
		ids = append(ids, r.TaskID)
	}
	for i := range 20 {
		create(apis[i%2], i)
	}

	// Kill a worker in the middle of its work: once it has finished a
	// task and has another running.
	victim := workers[0]
	for deadline := time.Now().Add(time.Minute); !strings.Contains(victim.logs.String(), "task ready") ||
		len(startedNotFinished(victim.logs.String())) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("worker 0 finished no task in a minute:\n%s", victim.logs.String())
		}
	}
	victim.kill()
	killedAt := time.Now()
	inFlight := startedNotFinished(victim.logs.String())
	t.Logf("worker 0 killed with %d tasks in flight: %v", len(inFlight), inFlight)

	// Restart an API process while tasks run; the other keeps answering.
	apis[0].stop()
	for i := 20; i < 30; i++ {
		create(apis[1], i)
	}
	apis[0] = startServer(t, t.TempDir(), append(common, "--role", "api")...)
	for i := 30; i < n; i++ {
		create(apis[i%2], i)
	}

	// The rescue: another worker says so, and runs the killed one's tasks.
	var rescuedAfter time.Duration
	for deadline := time.Now().Add(time.Minute); rescuedAfter == 0; time.Sleep(100 * time.Millisecond) {
		for _, w := range workers[1:] {
			if strings.Contains(w.logs.String(), "job rescued") {
				rescuedAfter = time.Since(killedAt)
			}
		}
		if rescuedAfter == 0 && time.Now().After(deadline) {
			if len(inFlight) == 0 {
				break // nothing was running on it: nothing to rescue
			}
			t.Fatalf("no worker rescued the killed worker's jobs within a minute")
		}
	}
	t.Logf("the killed worker's jobs were rescued %v after SIGKILL (bound: dead after 15 s + a 2 s heartbeat)", rescuedAfter.Round(100*time.Millisecond))
	if len(inFlight) > 0 && rescuedAfter > 20*time.Second {
		t.Errorf("rescue took %v, over the 17 s bound and 3 s of slack", rescuedAfter)
	}

	// All 50 ready, through either API.
	for i, id := range ids {
		tk, err := apis[i%2].client().Wait(ctx, id, fastWait()...)
		if err != nil || tk.Status != api.StatusReady {
			t.Fatalf("task %d (%s): %v %+v", i, id, err, tk)
		}
	}
	// No task lost or duplicated: the list has exactly the 50 custom ids.
	seen := map[string]int{}
	for page := 1; ; page++ {
		l, err := apis[1].client().ListTasks(ctx, client.ListOptions{Page: page, PageLimit: 50})
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range l.Data {
			if tk.CustomID != nil {
				seen[*tk.CustomID]++
			}
		}
		if page >= l.PageInfo.TotalPage {
			break
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct tasks listed, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("task %s listed %d times", id, c)
		}
	}
	// Each result produced once: one "task ready" per task over all the
	// workers' logs (the killed worker's included).
	ready := map[string]int{}
	for _, w := range workers {
		for _, m := range readyLine.FindAllStringSubmatch(w.logs.String(), -1) {
			ready[m[1]]++
		}
	}
	for _, id := range ids {
		if ready[id] != 1 {
			t.Errorf("task %s completed %d times", id, ready[id])
		}
	}
	var perWorker []string
	for i, w := range workers {
		perWorker = append(perWorker, fmt.Sprintf("worker %d: %d", i, strings.Count(w.logs.String(), "task ready")))
	}
	t.Logf("tasks completed per worker: %s", strings.Join(perWorker, ", "))
}

var (
	readyLine   = regexp.MustCompile(`msg="task ready" task_id=(\S+)`)
	startedLine = regexp.MustCompile(`msg="task started" task_id=(\S+)`)
)

// startedNotFinished lists the tasks a worker's log shows started and not
// ready.
func startedNotFinished(logs string) []string {
	ready := map[string]bool{}
	for _, m := range readyLine.FindAllStringSubmatch(logs, -1) {
		ready[m[1]] = true
	}
	var out []string
	for _, m := range startedLine.FindAllStringSubmatch(logs, -1) {
		if !ready[m[1]] {
			out = append(out, m[1])
		}
	}
	return out
}

// scripts/cluster.sh, the deployment guide's runnable example, starts
// API and worker processes that work together: a task created through
// one API process is run by a worker and read through the other.
func TestClusterScript(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	blobURL := blobtest.S3URL(t).String()
	dir := t.TempDir()
	base := freeBasePort(t)
	video := makeVideo(t, "ok", 4, 640, 360)
	media := startMediaServer(t, map[string]string{"v.mp4": video})
	script := func(verb string) string {
		t.Helper()
		cmd := exec.Command("../scripts/cluster.sh", verb)
		cmd.Env = append(os.Environ(), "FRAMEWISE_DATABASE_URL="+url, "FRAMEWISE_BLOB_URL="+blobURL, "FRAMEWISE_BIN="+binary, "CLUSTER_DIR="+dir,
			"APIS=2", "WORKERS=2", fmt.Sprintf("BASE_PORT=%d", base), "FRAMEWISE_API_KEYS="+testKey,
			"FRAMEWISE_ALLOW_PRIVATE_URLS=true")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cluster.sh %s: %v\n%s", verb, err, out)
		}
		return string(out)
	}
	out := script("start")
	t.Cleanup(func() { script("stop") })
	t.Logf("cluster.sh start:\n%s", out)
	if n := strings.Count(out, " worker http://"); n != 2 {
		t.Fatalf("%d workers started, want 2", n)
	}
	api1 := client.New(fmt.Sprintf("http://127.0.0.1:%d", base+1), client.WithAPIKey(testKey))
	api2 := client.New(fmt.Sprintf("http://127.0.0.1:%d", base+2), client.WithAPIKey(testKey))
	ctx := waitCtx(t, 2*time.Minute)
	r, err := api1.CreateTask(ctx, &api.CreateTaskRequest{
		Video:  &api.VideoContext{Type: api.SourceURL, URL: media.url + "/v.mp4"},
		Prompt: api.String("describe"),
	})
	if err != nil {
		t.Fatal(err)
	}
	tk, err := api2.Wait(ctx, r.TaskID, fastWait()...)
	if err != nil || tk.Status != api.StatusReady {
		t.Fatalf("task through the cluster: %v %+v", err, tk)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "worker*.log"))
	ran := 0
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		ran += strings.Count(string(b), `msg="task ready" task_id=`+r.TaskID)
	}
	if ran != 1 {
		t.Errorf("the task was completed %d times by the workers, want 1", ran)
	}
	if out := script("stop"); !strings.Contains(out, "stopped") {
		t.Errorf("cluster.sh stop: %s", out)
	}
}

// freeBasePort finds a BASE_PORT for cluster.sh whose API (base+1…) and
// worker (base+101…) ports are free now.
func freeBasePort(t *testing.T) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		base := 20000 + rand.IntN(20000)
		free := true
		for _, p := range []int{base + 1, base + 2, base + 101, base + 102} {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free ports for the cluster")
	return 0
}
