package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeBlock returns the first ```sh block after the README heading.
func readmeBlock(t *testing.T, heading string) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no heading %q", heading)
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	if !ok {
		t.Fatalf("README: no ```sh block after %q", heading)
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("README: the block after %q is not closed", heading)
	}
	return block
}

// TestReadmeTour runs the README's one-minute tour as written — its
// shell block, from the repository's root, with a clean data dir — and
// checks what each step printed. Only the address changes (a free port
// instead of 8700) and the data, CLI state and temporary dirs are the
// test's.
func TestReadmeTour(t *testing.T) {
	t.Parallel()
	block := readmeBlock(t, "## One-minute tour")
	addr := freePort(t)
	block = strings.ReplaceAll(block, "127.0.0.1:8700", addr)
	tmp := t.TempDir()
	// Every command is echoed (set -x) with a marker, so each step's output
	// can be found; the server the tour leaves running is stopped.
	script := "set -euo pipefail\nPS4='+step: '\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\nset -x\n" + block
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(),
		"FRAMEWISE_ADDR="+addr, "FRAMEWISE_URL=http://"+addr, "FRAMEWISE_DATA_DIR="+filepath.Join(tmp, "data"),
		"TMPDIR="+tmp, "FRAMEWISE_STATE_DIR="+filepath.Join(tmp, "state"))
	// On a timeout, stop the whole group (the server the tour started too)
	// and do not wait for pipes it may hold.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	log := out.String()
	// The server's log is mixed with the tour's trace (which shows the
	// key, "secret", as typed) and the commands' output: scan all but
	// the trace.
	collectLog(t, "README tour", func() string {
		var b strings.Builder
		for _, line := range strings.Split(log, "\n") {
			if !strings.HasPrefix(line, "+step: ") && !strings.HasPrefix(line, "++step: ") {
				b.WriteString(line + "\n")
			}
		}
		return b.String()
	}, "secret")
	if err != nil {
		t.Fatalf("the tour failed: %v\n%s", err, log)
	}
	steps := splitSteps(log)
	expect := []struct {
		cmd, arg string // the step's command starts with cmd and contains arg
		want     *regexp.Regexp
	}{
		// curl … | tee: the two commands of the pipeline are traced in
		// either order, so the answer is read from the file tee wrote.
		{"curl -s http", "", regexp.MustCompile(`"task_id":"[0-9a-f]{24}".*"status":"(queued|pending|processing|ready)"`)},
		{"bin/framewise analyze", "demo.mp4", regexp.MustCompile(`(?s)task [0-9a-f]{24}.*built-in engine`)},
		{"bin/framewise tasks wait", "", regexp.MustCompile(`built-in engine`)},
		{"bin/framewise tasks list", "", regexp.MustCompile(`ready`)},
		{"bin/framewise tasks get", "", regexp.MustCompile(`"status":\s*"ready"`)},
		{"bin/framewise assets upload", "big.mp4", regexp.MustCompile(`[0-9a-f]{24}`)},
		// The large file goes through the asset uploaded just before.
		{"bin/framewise analyze", "big.mp4", regexp.MustCompile(`(?s)reusing asset.*built-in engine`)},
	}
	// The tour's own dir is the one mktemp -d made under TMPDIR.
	dirs, _ := filepath.Glob(filepath.Join(tmp, "tmp.*", "created.json"))
	if len(dirs) != 1 {
		t.Fatalf("the tour's created.json: found %v\n%s", dirs, log)
	}
	created, err := os.ReadFile(dirs[0])
	if err != nil || !regexp.MustCompile(`^\{"task_id":"[0-9a-f]{24}","status":"queued"\}$`).Match(bytes.TrimSpace(created)) {
		t.Errorf("created.json: %q %v\n%s", created, err, log)
	}
	for _, e := range expect {
		got, ok := steps.lookup(e.cmd, e.arg)
		if !ok {
			t.Errorf("step %q (%s) did not run:\n%s", e.cmd, e.arg, log)
			continue
		}
		if !e.want.MatchString(got) {
			t.Errorf("step %q (%s) printed:\n%s\nwant %s", e.cmd, e.arg, got, e.want)
		}
	}
}

// splitSteps maps each traced command (by its text) to what it printed,
// the last run of a command winning; lookups match by prefix.
type stepLog map[string]string

func splitSteps(log string) stepLog {
	out := stepLog{}
	var cmd string
	var buf strings.Builder
	flush := func() {
		if cmd != "" {
			out[cmd] = buf.String()
		}
		buf.Reset()
	}
	for _, line := range strings.Split(log, "\n") {
		if rest, ok := strings.CutPrefix(line, "+step: "); ok {
			flush()
			cmd = rest
			continue
		}
		if strings.HasPrefix(line, "++step: ") { // command substitutions
			continue
		}
		buf.WriteString(line + "\n")
	}
	flush()
	return out
}

// lookup finds the output of the command that starts with prefix and
// contains arg.
func (s stepLog) lookup(prefix, arg string) (string, bool) {
	for cmd, got := range s {
		if strings.HasPrefix(cmd, prefix) && strings.Contains(cmd, arg) {
			return got, true
		}
	}
	return "", false
}
