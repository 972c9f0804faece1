package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
	"github.com/framewise/framewise/client/webhook"
)

// receiver is a webhook endpoint on loopback that verifies every
// signature with its secret. answer decides the status of the n-th request
// (from 1); 0 means hang until the sender gives up.
type receiver struct {
	t      *testing.T
	url    string
	mu     sync.Mutex
	secret string
	answer func(n int) int
	n      int
	acked  int // requests answered 2xx whose sender read the answer
	events []webhook.Event
	bad    []string // verification failures
}

func startReceiver(t *testing.T, answer func(n int) int) *receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{t: t, url: "http://" + ln.Addr().String() + "/hook", answer: answer}
	srv := &http.Server{Handler: http.HandlerFunc(rc.serve)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.n++
	n, secret, answer := rc.n, rc.secret, rc.answer
	var ev webhook.Event
	if err := webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, webhook.DefaultTolerance); err != nil {
		rc.bad = append(rc.bad, err.Error())
	} else if err := json.Unmarshal(body, &ev); err != nil {
		rc.bad = append(rc.bad, "body: "+err.Error())
	} else {
		rc.events = append(rc.events, ev)
	}
	rc.mu.Unlock()
	status := answer(n)
	if status == 0 {
		<-r.Context().Done()
		return
	}
	w.WriteHeader(status)
	if status/100 == 2 {
		rc.mu.Lock()
		rc.acked++
		rc.mu.Unlock()
	}
}

func (rc *receiver) setAnswer(f func(n int) int) {
	rc.mu.Lock()
	rc.answer = f
	rc.mu.Unlock()
}

func (rc *receiver) snapshot() (requests, acked int, events []webhook.Event, bad []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.n, rc.acked, append([]webhook.Event(nil), rc.events...), append([]string(nil), rc.bad...)
}

const webhookBackoff = "100ms"

// addWebhook registers rc with the CLI, keeps the printed secret in rc
// and returns the endpoint's id.
func addWebhook(t *testing.T, srv *server, rc *receiver) string {
	t.Helper()
	out, err := runBinary(t, "webhooks", "add", "--server", "http://"+srv.addr, "--admin-key", adminKey, "--json",
		"--description", "e2e", rc.url)
	if err != nil {
		t.Fatalf("webhooks add: %v\n%s", err, out)
	}
	var e struct{ ID, Secret string }
	if err := json.Unmarshal([]byte(out), &e); err != nil || e.ID == "" || !strings.HasPrefix(e.Secret, "whsec_") {
		t.Fatalf("webhooks add --json printed %q (%v)", out, err)
	}
	rc.mu.Lock()
	rc.secret = e.Secret
	rc.mu.Unlock()
	return e.ID
}

func createTask(t *testing.T, ctx context.Context, c *client.Client, video *api.VideoContext) string {
	t.Helper()
	r, err := c.CreateTask(ctx, &api.CreateTaskRequest{Video: video, Prompt: api.String("describe")})
	if err != nil {
		t.Fatal(err)
	}
	return r.TaskID
}

// waitWebhooks polls the task until done accepts its webhooks array.
func waitWebhooks(t *testing.T, ctx context.Context, c *client.Client, id string, done func([]api.WebhookInfo) bool) *api.Task {
	t.Helper()
	for {
		tk, err := c.GetTask(ctx, id)
		if err == nil && done(tk.Webhooks) {
			return tk
		}
		if ctx.Err() != nil {
			t.Fatalf("task %s: webhooks never settled: %+v (%v)", id, tk, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func byURL(ws []api.WebhookInfo, url string) api.WebhookInfo {
	for _, w := range ws {
		if w.URL == url {
			return w
		}
	}
	return api.WebhookInfo{URL: url, Attempts: -1}
}

func TestWebhooksSignedRetriedAndReported(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir(), "--admin-key", adminKey, "--webhook-backoff", webhookBackoff)
	c := srv.client()
	ctx := waitCtx(t, 3*time.Minute)

	// A failed task notifies the first endpoint, the only one so far.
	good := startReceiver(t, func(int) int { return 204 })
	addWebhook(t, srv, good)
	media := startMediaServer(t, map[string]string{})
	failedID := createTask(t, ctx, c, &api.VideoContext{Type: api.SourceURL, URL: media.url + "/missing.mp4"})
	waitWebhooks(t, ctx, c, failedID, func(ws []api.WebhookInfo) bool { return len(ws) == 1 && ws[0].Delivered })

	flaky := startReceiver(t, func(n int) int { return map[bool]int{true: 503, false: 200}[n <= 4] })
	dead := startReceiver(t, func(int) int { return 500 })
	addWebhook(t, srv, flaky)
	addWebhook(t, srv, dead)
	out, err := runBinary(t, "webhooks", "list", "--server", "http://"+srv.addr, "--admin-key", adminKey)
	if err != nil || strings.Count(out, "http://127.0.0.1:") != 3 || strings.Contains(out, "whsec_") {
		t.Fatalf("webhooks list: %v\n%s", err, out)
	}

	video := makeVideo(t, "ok", 6, 640, 360)
	id := createTask(t, ctx, c, &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, video)})
	if tk, err := c.GetTask(ctx, id); err == nil && tk.Status != api.StatusReady && tk.Status != api.StatusFailed &&
		(len(tk.Webhooks) != 3 || tk.Webhooks[0].Attempts != 0 || tk.Webhooks[0].Delivered) {
		t.Errorf("unfinished task: webhooks = %+v, want 3 endpoints with no attempt", tk.Webhooks)
	}

	tk := waitWebhooks(t, ctx, c, id, func(ws []api.WebhookInfo) bool {
		return byURL(ws, good.url).Delivered && byURL(ws, flaky.url).Delivered && byURL(ws, dead.url).Attempts == 8
	})
	if tk.Status != api.StatusReady {
		t.Fatalf("task = %+v", tk)
	}
	if w := byURL(tk.Webhooks, good.url); w.Attempts != 1 || w.LastError != "" {
		t.Errorf("good receiver: %+v", w)
	}
	if w := byURL(tk.Webhooks, flaky.url); w.Attempts != 5 || w.LastError != "" {
		t.Errorf("receiver failing 4 times: %+v, want delivered after 5 attempts", w)
	}
	if w := byURL(tk.Webhooks, dead.url); w.Delivered || w.LastError != "HTTP 500" {
		t.Errorf("receiver always failing: %+v, want not delivered, last_error HTTP 500", w)
	}

	// Nothing more arrives once acknowledged.
	time.Sleep(time.Second)
	for _, rc := range []*receiver{good, flaky, dead} {
		_, _, _, bad := rc.snapshot()
		if len(bad) > 0 {
			t.Errorf("%s: signatures refused: %v", rc.url, bad)
		}
	}
	if n, acked, events, _ := flaky.snapshot(); n != 5 || acked != 1 || len(events) != 5 || events[0].ID != events[4].ID ||
		events[0].Type != webhook.EventTaskReady || events[0].Data.ID != id {
		t.Errorf("flaky receiver: %d requests, %d acknowledged, events %+v", n, acked, events)
	}
	if n, _, _, _ := dead.snapshot(); n != 8 {
		t.Errorf("dead receiver got %d requests, want 8", n)
	}
	_, acked, events, _ := good.snapshot()
	types := map[string]string{}
	for _, ev := range events {
		types[ev.Data.ID] = ev.Type
	}
	if acked != 2 || types[id] != webhook.EventTaskReady || types[failedID] != webhook.EventTaskFailed {
		t.Errorf("good receiver: %d acknowledged, events %v", acked, types)
	}

	// The test event is signed too; a removed endpoint is gone from the list.
	list := func() []api.WebhookEndpoint {
		out, err := runBinary(t, "webhooks", "list", "--server", "http://"+srv.addr, "--admin-key", adminKey, "--json")
		var l api.WebhookEndpointList
		if err != nil || json.Unmarshal([]byte(out), &l) != nil {
			t.Fatalf("webhooks list --json: %v\n%s", err, out)
		}
		return l.Data
	}
	eps := list()
	if out, err := runBinary(t, "webhooks", "test", "--server", "http://"+srv.addr, "--admin-key", adminKey, eps[0].ID); err != nil {
		t.Fatalf("webhooks test: %v\n%s", err, out)
	}
	if _, _, events, bad := good.snapshot(); len(bad) > 0 || events[len(events)-1].Type != webhook.EventTest {
		t.Errorf("test event: %+v %v", events, bad)
	}
	if out, err := runBinary(t, "webhooks", "test", "--server", "http://"+srv.addr, "--admin-key", adminKey, eps[2].ID); err == nil ||
		!strings.Contains(out, "HTTP 500") {
		t.Errorf("webhooks test of a failing endpoint: %v\n%s", err, out)
	}
	if out, err := runBinary(t, "webhooks", "remove", "--server", "http://"+srv.addr, "--admin-key", adminKey, eps[2].ID); err != nil {
		t.Fatalf("webhooks remove: %v\n%s", err, out)
	}
	if l := list(); len(l) != 2 {
		t.Errorf("after remove: %+v", l)
	}
	// Redelivery sends the same event again to the chosen endpoint.
	if out, err := runBinary(t, "webhooks", "redeliver", "--server", "http://"+srv.addr, "--admin-key", adminKey,
		"--webhook", eps[0].ID, id); err != nil || !strings.Contains(out, "1 endpoint") {
		t.Fatalf("webhooks redeliver: %v\n%s", err, out)
	}
	waitWebhooks(t, ctx, c, id, func(ws []api.WebhookInfo) bool { w := byURL(ws, good.url); return w.Delivered && w.Attempts == 2 })
}

// A task that ends just before a SIGKILL, while its notification is being
// sent, still notifies after the restart.
func TestWebhookSurvivesKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServer(t, dir, "--admin-key", adminKey, "--webhook-backoff", webhookBackoff)
	c := srv.client()
	ctx := waitCtx(t, 2*time.Minute)
	rc := startReceiver(t, func(int) int { return 0 }) // hang: the attempt is in flight at the kill
	addWebhook(t, srv, rc)
	video := makeVideo(t, "ok", 6, 640, 360)
	id := createTask(t, ctx, c, &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, video)})
	for {
		if n, _, _, _ := rc.snapshot(); n > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("no webhook request arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.kill()
	rc.setAnswer(func(int) int { return 200 })

	srv2 := startServer(t, dir, "--admin-key", adminKey, "--webhook-backoff", webhookBackoff)
	tk := waitWebhooks(t, ctx, srv2.client(), id, func(ws []api.WebhookInfo) bool { return len(ws) == 1 && ws[0].Delivered })
	if tk.Status != api.StatusReady {
		t.Fatalf("task = %+v", tk)
	}
	time.Sleep(500 * time.Millisecond)
	if _, acked, events, bad := rc.snapshot(); acked != 1 || len(bad) > 0 || events[0].Data.ID != id {
		t.Fatalf("after restart: %d acknowledged, events %+v, refused %v", acked, events, bad)
	}
}

// Without --allow-private-urls a loopback or private webhook URL is
// refused when it is added.
func TestWebhookPrivateURLRefused(t *testing.T) {
	t.Parallel()
	addr := freePort(t)
	cmd := exec.Command(binary, "serve", "--addr", addr, "--data-dir", t.TempDir(), "--api-key", testKey, "--admin-key", adminKey)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", logs.String())
		}
	}
	for _, u := range []string{"http://127.0.0.1:9/hook", "http://10.0.0.1/hook", "http://localhost/hook"} {
		out, err := runBinary(t, "webhooks", "add", "--server", "http://"+addr, "--admin-key", adminKey, u)
		if err == nil || !strings.Contains(out, "--allow-private-urls") {
			t.Errorf("webhooks add %s: %v\n%s", u, err, out)
		}
	}
}

// readmeCode returns the first ```lang block after the README heading.
func readmeCode(t *testing.T, heading, lang string) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no heading %q", heading)
	}
	_, rest, ok = strings.Cut(rest, "```"+lang+"\n")
	if !ok {
		t.Fatalf("README: no ```%s block after %q", lang, heading)
	}
	block, _, _ := strings.Cut(rest, "```")
	return block
}

// TestReadmeWebhookReceivers runs the README's Go and Node receivers as
// written (only the port changes) against a real server: both verify and
// acknowledge a task's event, and refuse a forged one.
func TestReadmeWebhookReceivers(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	srv := startServer(t, t.TempDir(), "--admin-key", adminKey, "--webhook-backoff", webhookBackoff)
	c := srv.client()
	ctx := waitCtx(t, 3*time.Minute)
	dir := t.TempDir()

	type recv struct {
		name, url string
		ep        *receiver // only to register the URL and hold the secret
		logs      *syncBuffer
	}
	var recvs []*recv
	for _, lang := range []string{"go", "js"} {
		port := strings.TrimPrefix(freePort(t), "127.0.0.1:")
		code := strings.Replace(readmeCode(t, "## Webhooks", lang), "8080", port, 1) // the port of both receivers
		file := filepath.Join(dir, "receiver."+lang)
		if err := os.WriteFile(file, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		r := &recv{name: lang, url: "http://127.0.0.1:" + port + "/hook", logs: &syncBuffer{}}
		r.ep = &receiver{url: r.url}
		addWebhook(t, srv, r.ep)
		var cmd *exec.Cmd
		if lang == "go" {
			bin := filepath.Join(dir, "goreceiver")
			build := exec.Command("go", "build", "-o", bin, file)
			build.Dir = ".."
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("build the README's Go receiver: %v\n%s", err, out)
			}
			cmd = exec.Command(bin)
		} else {
			cmd = exec.Command("node", file)
		}
		cmd.Env = append(os.Environ(), "FRAMEWISE_WEBHOOK_SECRET="+r.ep.secret)
		cmd.Stdout, cmd.Stderr = r.logs, r.logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		recvs = append(recvs, r)
	}
	// Wait until both listen, then check that a forged event is refused.
	for _, r := range recvs {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			body := `{"id":"whe_x","type":"analyze.task.ready","data":{"id":"x","status":"ready"}}`
			req, _ := http.NewRequest(http.MethodPost, r.url, strings.NewReader(body))
			req.Header.Set(webhook.SignatureHeader, webhook.Sign("not-the-secret", time.Now(), []byte(body)))
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("%s receiver answered a forged event with %d", r.name, resp.StatusCode)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s receiver did not start: %v\n%s", r.name, err, r.logs.String())
			}
		}
	}
	video := makeVideo(t, "ok", 6, 640, 360)
	id := createTask(t, ctx, c, &api.VideoContext{Type: api.SourceBase64, Base64String: base64File(t, video)})
	tk := waitWebhooks(t, ctx, c, id, func(ws []api.WebhookInfo) bool {
		return len(ws) == 2 && (ws[0].Delivered || ws[0].Attempts > 1) && (ws[1].Delivered || ws[1].Attempts > 1)
	})
	for i, r := range recvs {
		if w := tk.Webhooks[i]; !w.Delivered || w.Attempts != 1 {
			t.Errorf("%s receiver: %+v\n%s", r.name, w, r.logs.String())
		}
		if want := "analyze.task.ready: task " + id + " is ready"; !strings.Contains(r.logs.String(), want) {
			t.Errorf("%s receiver printed %q, want %q", r.name, r.logs.String(), want)
		}
	}
}
