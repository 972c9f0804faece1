package e2e

// What the servers of the e2e run logged, and what they told clients, is
// checked for leaks when the package's tests are done (TestMain calls
// checkLeaks): no log line may hold the query of a presigned URL
// (framewise's own sig=/expires=/nonce=, S3's X-Amz-Signature), a URL's
// user:password, or an API key the tests use; no response body a client
// received may name a server's data dir or the temporary dir. Each leak
// fails the run with the offending line.

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
)

// Secrets the tests hand the servers: API keys (the README tour's is
// "secret", the model-server double's "sk-test") and the parts of
// secretURL that must be redacted.
var leakSecrets = []string{testKey, "sk-test", "SECRETSIG", "SECRETTOKEN", "SECRETPASS", "SECRETFRAG"}

// leakPattern matches the query of a presigned URL in a log line. Redacted
// URLs end in "?REDACTED".
var leakPattern = regexp.MustCompile(`(?i)x-amz-(signature|credential|security-token)|[?&](sig|nonce|expires|token|signature)=`)

// generatedSecret matches the secrets a server makes: account API keys
// ("fw_" and 43 base64url characters) and webhook signing secrets
// ("whsec_" and 32). A server's log must name neither; the CLI prints
// them once, on purpose, so its output is not held to this.
var generatedSecret = regexp.MustCompile(`\b(fw_[A-Za-z0-9_-]{40,}|whsec_[A-Za-z0-9_-]{30,})`)

// collectedLog is the output of one server process.
type collectedLog struct {
	test, source string
	text         func() string
	secrets      []string // besides leakSecrets
}

var collected struct {
	mu    sync.Mutex
	logs  []collectedLog
	dirs  []string // data dirs of the servers, never to be named to a client
	leaks []string // found in response bodies as they were received
}

// collectLog keeps a server's output (text is read at the end of the run)
// for the scan; secrets are checked in it besides leakSecrets.
func collectLog(t *testing.T, source string, text func() string, secrets ...string) {
	collected.mu.Lock()
	defer collected.mu.Unlock()
	collected.logs = append(collected.logs, collectedLog{test: t.Name(), source: source, text: text, secrets: secrets})
}

// privateDir records a server's data dir: no response may name it.
func privateDir(dir string) {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	collected.mu.Lock()
	defer collected.mu.Unlock()
	collected.dirs = append(collected.dirs, dir)
}

// scanResponse looks for a private dir in a response body a client
// received.
func scanResponse(test string, req *http.Request, status int, body []byte) {
	if len(body) == 0 {
		return
	}
	collected.mu.Lock()
	dirs := append([]string{filepath.Clean(os.TempDir()) + "/", filepath.Dir(binary)}, collected.dirs...)
	collected.mu.Unlock()
	for _, d := range dirs {
		if i := strings.Index(string(body), d); i >= 0 {
			collected.mu.Lock()
			collected.leaks = append(collected.leaks, fmt.Sprintf("%s: %s %s → %d names the internal path %s:\n  %s",
				test, req.Method, req.URL.Path, status, d, around(string(body), i, len(d))))
			collected.mu.Unlock()
			return
		}
	}
}

func around(s string, i, n int) string {
	from, to := max(0, i-160), min(len(s), i+n+160)
	return strings.ToValidUTF8(s[from:to], "?")
}

// scanLog returns the leaking lines of one log, at most a few.
func scanLog(l collectedLog) []string {
	var words []*regexp.Regexp
	for _, s := range append(append([]string{}, leakSecrets...), l.secrets...) {
		words = append(words, regexp.MustCompile(`(^|[^A-Za-z0-9_-])`+regexp.QuoteMeta(s)+`($|[^A-Za-z0-9_-])`))
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(l.text()))
	sc.Buffer(nil, 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		var what []string
		if m := leakPattern.FindString(line); m != "" {
			what = append(what, "the query of a presigned URL ("+m+")")
		}
		if m := generatedSecret.FindString(line); m != "" && strings.HasPrefix(l.source, "server ") {
			what = append(what, "a key or signing secret the server generated ("+m[:min(len(m), 10)]+"…)")
		}
		for _, w := range words {
			if m := w.FindString(line); m != "" {
				what = append(what, "a secret the test gave the server ("+strings.Trim(m, " =:\"'/@?&#,")+")")
			}
		}
		if len(what) > 0 {
			out = append(out, fmt.Sprintf("%s (%s), line %d, holds %s:\n  %s", l.test, l.source, n, strings.Join(what, " and "), line))
			if len(out) == 5 {
				break
			}
		}
	}
	return out
}

// checkLeaks scans every collected log and the leaks found in responses,
// and returns the exit code of the package run: code, or 1 on a leak.
func checkLeaks(code int) int {
	collected.mu.Lock()
	logs, leaks := collected.logs, collected.leaks
	collected.mu.Unlock()
	var lines int
	for _, l := range logs {
		found := scanLog(l)
		leaks = append(leaks, found...)
		lines++
	}
	if testing.Verbose() || len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "leaks: %d server logs scanned for presigned-URL queries, URL passwords and API keys; response bodies for internal paths\n", lines)
	}
	if len(leaks) == 0 {
		return code
	}
	fmt.Fprintf(os.Stderr, "FAIL leaks: %d found:\n", len(leaks))
	for i, l := range leaks {
		if i == 20 {
			fmt.Fprintf(os.Stderr, "… and %d more\n", len(leaks)-20)
			break
		}
		fmt.Fprintln(os.Stderr, l)
	}
	return 1
}

// TestSecretURLsNotLogged creates tasks and assets from URLs with a
// presigned query, a fragment, and a user:password, whose download fails
// (404) or which are refused: the server logs the failures with the URLs
// redacted (the scan at the end of the run holds every log to that) and
// tells the client without the secrets.
func TestSecretURLsNotLogged(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	media := startMediaServer(t, map[string]string{})
	presigned := media.url + "/gone.mp4?X-Amz-Signature=SECRETSIG&X-Amz-Credential=AKIA&token=SECRETTOKEN#SECRETFRAG"
	withPassword := strings.Replace(presigned, "://", "://user:SECRETPASS@", 1)
	c := srv.client()
	ctx := waitCtx(t, 2*time.Minute)
	var msgs []string
	for _, u := range []string{presigned, withPassword} {
		created, err := c.CreateTask(ctx, &api.CreateTaskRequest{
			Video:  &api.VideoContext{Type: api.SourceURL, URL: u},
			Prompt: api.String("What happens?"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if tk := waitStatus(t, c, created.TaskID, api.StatusFailed, time.Minute); tk.Error != nil {
			msgs = append(msgs, tk.Error.Message)
		}
		a, err := c.CreateAssetFromURL(ctx, u, nil)
		if err != nil { // refused at once (a URL with a password)
			msgs = append(msgs, err.Error())
			continue
		}
		for a.Status != api.AssetFailed && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			if a, err = c.GetAsset(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
		}
		if a.Error != nil {
			msgs = append(msgs, a.Error.Message)
		}
	}
	if len(msgs) < 4 {
		t.Errorf("want 4 failures told to the client, got %q", msgs)
	}
	for _, m := range msgs {
		for _, s := range leakSecrets {
			if strings.Contains(m, s) {
				t.Errorf("the client is told %s: %s", s, m)
			}
		}
	}
	// The asset's download was logged with its URL redacted.
	if want := media.url + "/gone.mp4?REDACTED"; !strings.Contains(srv.logs.String(), want) {
		t.Errorf("no log line names the URL as %s:\n%s", want, srv.logs.String())
	}
	for _, l := range scanLog(collectedLog{test: t.Name(), source: "server", text: srv.logs.String}) {
		t.Error(l)
	}
}

// The scan finds what it looks for: a generated key in a server's log is a
// leak; the same line in the CLI's output, which prints keys on purpose,
// is not.
func TestLogScanFindsGeneratedSecrets(t *testing.T) {
	line := func() string {
		return `level=INFO msg="key created" key=fw_` + strings.Repeat("ab", 32) + ` secret=whsec_` + strings.Repeat("Q", 32) + "\n"
	}
	if got := scanLog(collectedLog{test: t.Name(), source: "server 127.0.0.1:1", text: line}); len(got) != 1 ||
		!strings.Contains(got[0], "generated") {
		t.Errorf("server log with a key: %v", got)
	}
	if got := scanLog(collectedLog{test: t.Name(), source: "framewise keys", text: line}); len(got) != 0 {
		t.Errorf("CLI output with a key: %v", got)
	}
	if got := scanLog(collectedLog{test: t.Name(), source: "server 127.0.0.1:1", text: func() string {
		return "GET /uploads/x/1?expires=1&sig=00 " + testKey + "\n"
	}}); len(got) != 1 || !strings.Contains(got[0], "presigned") || !strings.Contains(got[0], "a secret the test gave") {
		t.Errorf("server log with a presigned query and the API key: %v", got)
	}
}
