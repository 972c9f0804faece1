package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/framewise/framewise/client"
)

// uploadStates remembers unfinished multipart uploads so that running the
// same upload again resumes it. They live in one JSON file, uploads.json in
// stateDir, keyed by server and absolute path; an entry only matches while
// the file keeps its size and modification time.
type uploadStates struct {
	path string
}

type uploadState struct {
	UploadID string    `json:"upload_id"`
	Saved    time.Time `json:"saved"`
}

func newUploadStates(env Env) *uploadStates {
	return &uploadStates{path: filepath.Join(stateDir(env), "uploads.json")}
}

// key identifies a file on a server as it is now.
func (s *uploadStates) key(server, path string, fi os.FileInfo) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return fmt.Sprintf("%s|%s|%d|%d", strings.TrimRight(server, "/"), abs, fi.Size(), fi.ModTime().UnixNano())
}

func (s *uploadStates) load() map[string]uploadState {
	m := map[string]uploadState{}
	b, err := os.ReadFile(s.path)
	if err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

// get returns the upload id remembered for key, or "".
func (s *uploadStates) get(key string) string { return s.load()[key].UploadID }

func (s *uploadStates) put(key, uploadID string) error {
	m := s.load()
	m[key] = uploadState{UploadID: uploadID, Saved: time.Now().UTC()}
	// Sessions last a day upstream and here: older entries are useless.
	for k, v := range m {
		if time.Since(v.Saved) > 48*time.Hour {
			delete(m, k)
		}
	}
	return s.save(m)
}

func (s *uploadStates) remove(key string) {
	m := s.load()
	if _, ok := m[key]; ok {
		delete(m, key)
		_ = s.save(m)
	}
}

// save writes the file atomically.
func (s *uploadStates) save(m map[string]uploadState) error { return writeFileAtomic(s.path, m) }

// byteProgress shows an upload: a bar redrawn in place on a terminal,
// otherwise a line at every 10 %.
type byteProgress struct {
	w       io.Writer
	tty     bool
	began   time.Time
	base    int64 // bytes already on the server when this run started
	total   int64
	chunks  int
	lastLen int
	lastTen int
}

func newByteProgress(w io.Writer, env Env) *byteProgress {
	return &byteProgress{w: w, tty: isTerminal(w, env), lastTen: -1}
}

func (p *byteProgress) start(completed, chunks int, total int64) {
	p.began, p.chunks, p.total = time.Now(), chunks, total
	if chunks > 0 {
		p.base = total * int64(completed) / int64(chunks)
	}
	p.update(client.UploadProgress{CompletedChunks: completed, TotalChunks: chunks, UploadedBytes: p.base, TotalBytes: total})
}

func (p *byteProgress) update(u client.UploadProgress) {
	pct := 0.0
	if u.TotalBytes > 0 {
		pct = clampPercent(float64(u.UploadedBytes) / float64(u.TotalBytes) * 100)
	}
	if !p.tty {
		if ten := int(pct / 10); ten != p.lastTen {
			p.lastTen = ten
			fmt.Fprintf(p.w, "uploaded %3.0f%% (%d/%d chunks)\n", pct, u.CompletedChunks, u.TotalChunks)
		}
		return
	}
	rate := ""
	if el := time.Since(p.began).Seconds(); el > 0.5 {
		rate = fmt.Sprintf(" %.1f MiB/s", float64(u.UploadedBytes-p.base)/el/(1<<20))
	}
	filled := int(pct / 100 * barWidth)
	line := fmt.Sprintf("[%s%s] %3.0f%% %s/%s chunk %d/%d%s", strings.Repeat("#", filled), strings.Repeat("-", barWidth-filled),
		pct, mibShort(u.UploadedBytes), mib(u.TotalBytes), u.CompletedChunks, u.TotalChunks, rate)
	pad := ""
	if n := len(line); n < p.lastLen {
		pad = strings.Repeat(" ", p.lastLen-n)
	}
	p.lastLen = len(line)
	fmt.Fprint(p.w, "\r"+line+pad)
}

func (p *byteProgress) done() {
	if p.tty && p.lastLen > 0 {
		fmt.Fprintln(p.w)
		p.lastLen = 0
	}
}

func mibShort(n int64) string { return fmt.Sprintf("%.1f", float64(n)/(1<<20)) }
