// Command upload measures the memory of a framewise server while it takes
// a large multipart upload (see README.md next to this file).
//
// It builds framewise (or uses $FRAMEWISE_BIN), generates a file larger
// than 200 MB (a noise video by default, random bytes with -random), starts
// `framewise serve` on a free loopback port with a fresh data dir, uploads
// the file with the Go client's multipart upload (parallel chunk PUTs to
// presigned URLs, each reported with its ETag), waits until the asset is
// processed (assembly of the chunks, probe, decode check), and reports the
// server's peak resident memory: VmHWM from /proc/PID/status, which covers
// the whole life of the process, next to its VmRSS before the upload.
//
// Usage:
//
//	go run ./bench/upload                  # ~230 MB noise video, 4 parallel chunks
//	go run ./bench/upload -mb 500 -random  # 500 MB of random bytes (the asset then fails processing)
//	go run ./bench/upload -concurrency 8
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/framewise/framewise/client"
)

var (
	sizeMB      = flag.Int("mb", 220, "size of the generated file in MB (at least 201)")
	random      = flag.Bool("random", false, "upload random bytes instead of a video")
	concurrency = flag.Int("concurrency", 4, "chunks sent at once")
	cacheDir    = flag.String("cache", filepath.Join(os.TempDir(), "framewise-bench-upload"), "where generated files are kept")
	limitMB     = flag.Int("limit", 150, "peak RSS target in MB (reported, exit 1 when exceeded)")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "upload bench:", err)
		os.Exit(1)
	}
}

func run() error {
	if *sizeMB <= 200 {
		return errors.New("-mb must be above 200: the point is a file larger than the direct upload limit")
	}
	work, err := os.MkdirTemp("", "framewise-bench-upload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := os.Getenv("FRAMEWISE_BIN")
	if bin == "" {
		bin = filepath.Join(work, "framewise")
		fmt.Println("building framewise…")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/framewise").CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	file, err := input()
	if err != nil {
		return err
	}
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(work, "framewise.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	srv := exec.Command(bin, "serve", "--addr", addr, "--data-dir", filepath.Join(work, "data"), "--api-key", "bench")
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	}()
	if err := waitHealthy("http://"+addr, 30*time.Second); err != nil {
		return err
	}
	pid := srv.Process.Pid
	rssBefore, _ := procStatus(pid, "VmRSS")

	ctx := context.Background()
	c := client.New("http://"+addr, client.WithAPIKey("bench"))
	fmt.Printf("uploading %s (%.1f MB) with %d parallel chunks…\n", filepath.Base(file), float64(fi.Size())/1e6, *concurrency)
	var sampled int64
	stop := make(chan struct{})
	go func() { // sample VmRSS too, to show the shape over time
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if v, err := procStatus(pid, "VmRSS"); err == nil && v > sampled {
					sampled = v
				}
			}
		}
	}()
	start := time.Now()
	res, err := c.UploadFile(ctx, file, client.UploadOptions{Concurrency: *concurrency})
	if err != nil {
		close(stop)
		return err
	}
	uploaded := time.Since(start)
	a, err := c.WaitAsset(ctx, res.AssetID)
	processed := time.Since(start)
	close(stop)
	status := "ready"
	if err != nil {
		var fe *client.AssetFailedError
		if !errors.As(err, &fe) {
			return err
		}
		status = "failed (" + fe.Message + ")"
	}
	hwm, err := procStatus(pid, "VmHWM")
	if err != nil {
		return err
	}
	if a != nil && a.Size != nil && *a.Size != fi.Size() {
		return fmt.Errorf("asset size %d, file size %d", *a.Size, fi.Size())
	}

	fmt.Printf("\nfile            %s, %d bytes (%.1f MB), %d chunks\n", filepath.Base(file), fi.Size(), float64(fi.Size())/1e6, (fi.Size()+8<<20-1)/(8<<20))
	fmt.Printf("upload          %.1f s (%.0f MB/s), asset %s after %.1f s\n", uploaded.Seconds(), float64(fi.Size())/1e6/uploaded.Seconds(), status, processed.Seconds())
	fmt.Printf("server RSS      %.1f MB before the upload, %.1f MB highest sample during it\n", mb(rssBefore), mb(sampled))
	fmt.Printf("server peak RSS %.1f MB (VmHWM, whole process life); target < %d MB\n", mb(hwm), *limitMB)
	if mb(hwm) >= float64(*limitMB) {
		return fmt.Errorf("peak RSS %.1f MB is not below %d MB", mb(hwm), *limitMB)
	}
	return nil
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

// input returns the file to upload, generating it once in the cache.
func input() (string, error) {
	if err := os.MkdirAll(*cacheDir, 0o755); err != nil {
		return "", err
	}
	if *random {
		path := filepath.Join(*cacheDir, fmt.Sprintf("random-%dMB.bin", *sizeMB))
		if fi, err := os.Stat(path); err == nil && fi.Size() == int64(*sizeMB)*1e6 {
			return path, nil
		}
		fmt.Printf("writing %d MB of random bytes…\n", *sizeMB)
		f, err := os.Create(path + ".tmp")
		if err != nil {
			return "", err
		}
		if _, err := io.CopyN(f, rand.Reader, int64(*sizeMB)*1e6); err != nil {
			f.Close()
			return "", err
		}
		if err := f.Close(); err != nil {
			return "", err
		}
		return path, os.Rename(path+".tmp", path)
	}
	// Noise at a low quantizer makes about 11 MB per second of 640x360.
	seconds := *sizeMB/10 + 1
	path := filepath.Join(*cacheDir, fmt.Sprintf("noise-%ds.mp4", seconds))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	fmt.Printf("generating a %d s noise video with ffmpeg…\n", seconds)
	cmd := exec.Command("ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=640x360:rate=25:duration=%d", seconds),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=duration=%d", seconds),
		"-vf", "noise=alls=80:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "5", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-shortest", path+".tmp.mp4")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("ffmpeg: %v\n%s", err, out)
	}
	return path, os.Rename(path+".tmp.mp4", path)
}

// procStatus reads a "kB" line such as VmHWM from /proc/PID/status.
func procStatus(pid int, key string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", key, pid)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitHealthy(base string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("the server did not become healthy")
}
