package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
)

// privatePostgres is a PostgreSQL server of the test's own (initdb in a
// temporary folder, on a free port), so that the test can stop and start
// it without disturbing the machine's server that other tests use.
type privatePostgres struct {
	t         *testing.T
	bin, data string
	port      string
	asUser    []string // runuser -u postgres -- (PostgreSQL refuses to run as root)
}

func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin): scripts/postgres.sh installs them")
		}
		t.Skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
	}
	sort.Strings(bins)
	pg := &privatePostgres{t: t, bin: filepath.Dir(bins[len(bins)-1])}
	dir, err := os.MkdirTemp("", "fw-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pg.data = filepath.Join(dir, "data")
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres user to run PostgreSQL: %v", err)
		}
		var uid, gid int
		fmt.Sscan(u.Uid, &uid)
		fmt.Sscan(u.Gid, &gid)
		os.Chmod(dir, 0o755)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		pg.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	_, port, _ := strings.Cut(freePort(t), ":")
	pg.port = port
	pg.run("initdb", "-D", pg.data, "-A", "trust", "-U", "postgres", "--no-sync")
	pg.start()
	t.Cleanup(func() { pg.run("pg_ctl", "-D", pg.data, "-m", "immediate", "-w", "stop") })
	return pg
}

func (pg *privatePostgres) run(tool string, args ...string) {
	pg.t.Helper()
	argv := append(append(append([]string{}, pg.asUser...), filepath.Join(pg.bin, tool)), args...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		pg.t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
}

func (pg *privatePostgres) start() {
	pg.t.Helper()
	pg.run("pg_ctl", "-D", pg.data, "-l", filepath.Join(filepath.Dir(pg.data), "log"), "-w", "-o",
		fmt.Sprintf("-p %s -c listen_addresses=127.0.0.1 -k %s -c fsync=off", pg.port, filepath.Dir(pg.data)), "start")
}

func (pg *privatePostgres) stop() {
	pg.t.Helper()
	pg.run("pg_ctl", "-D", pg.data, "-m", "fast", "-w", "stop")
}

func (pg *privatePostgres) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable", pg.port)
}

// PostgreSQL restarting while tasks run loses nothing: during the outage
// requests get 503 with Retry-After (and /readyz says so), nothing is
// written; once it is back, the tasks that were running finish ready, and
// new ones are taken.
func TestPostgresRestartLosesNothing(t *testing.T) {
	t.Parallel()
	pg := startPrivatePostgres(t)
	video := makeVideo(t, "ok", 6, 640, 360)
	media := startMediaServer(t, map[string]string{"v.mp4": video})
	media.setSlow(true) // tasks are downloading when the database goes
	srv := startServer(t, t.TempDir(), "--database-url", pg.url(), "--migrate", "--log-level", "info")
	c := srv.client()
	ctx := waitCtx(t, 3*time.Minute)
	var ids []string
	for i := range 4 {
		r, err := c.CreateTask(ctx, &api.CreateTaskRequest{
			Video:  &api.VideoContext{Type: api.SourceURL, URL: fmt.Sprintf("%s/v.mp4?i=%d", media.url, i)},
			Prompt: api.String("describe"),
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.TaskID)
	}
	waitStatus(t, c, ids[0], api.StatusProcessing, 30*time.Second)

	pg.stop()
	// Not the recording client: the outage's answers are checked here.
	plain := client.New("http://"+srv.addr, client.WithAPIKey(testKey), client.WithMaxRetries(0))
	_, err := plain.GetTask(ctx, ids[0])
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable || apiErr.Code != api.CodeServiceUnavailable {
		t.Errorf("retrieve during the outage: %v, want 503 %s", err, api.CodeServiceUnavailable)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+srv.addr+"/v1.3/analyze/tasks", nil)
	req.Header.Set("x-api-key", testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("list during the outage: %v %v, want 503 with Retry-After", resp, err)
	} else {
		resp.Body.Close()
	}
	if resp, err := http.Get("http://" + srv.addr + "/readyz"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage: %v %v, want 503", resp, err)
	} else {
		resp.Body.Close()
	}
	_, err = plain.CreateTask(ctx, &api.CreateTaskRequest{
		Video:  &api.VideoContext{Type: api.SourceURL, URL: media.url + "/v.mp4?during"},
		Prompt: api.String("describe"),
	})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("create during the outage: %v, want 503", err)
	}
	time.Sleep(2 * time.Second)
	pg.start()
	media.setSlow(false)

	r, err := c.CreateTask(ctx, &api.CreateTaskRequest{
		Video:  &api.VideoContext{Type: api.SourceURL, URL: media.url + "/v.mp4?after"},
		Prompt: api.String("describe"),
	})
	if err != nil {
		t.Fatalf("create after the database returned: %v", err)
	}
	ids = append(ids, r.TaskID)
	for _, id := range ids {
		tk, err := c.Wait(ctx, id, fastWait()...)
		if err != nil || tk.Status != api.StatusReady {
			t.Fatalf("task %s after the restart: %v %+v", id, err, tk)
		}
	}
	l, err := c.ListTasks(ctx, client.ListOptions{PageLimit: 50})
	if err != nil || l.PageInfo.TotalResults != len(ids) {
		t.Fatalf("list after the restart: %v, %+v; want the %d tasks created outside the outage", err, l, len(ids))
	}
	logs := srv.logs.String()
	if n := strings.Count(logs, `msg="task ready"`); n != len(ids) {
		t.Errorf("%d completions logged for %d tasks", n, len(ids))
	}
	t.Logf("during the outage: %d requests answered 503; %d task attempts failed and were retried",
		strings.Count(logs, "database unreachable: answered 503"), strings.Count(logs, "it will be retried"))
}
