// Command double runs the model double of the tests
// (internal/inference/inferencetest) as a process of its own, for
// benchmarks that start framewise as separate processes (bench/fanout.sh).
// It prints its base URL (ending in /v1) on the first line of stdout and
// serves until killed.
//
//	go run ./bench/fanout/double -latency 2s
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/inference/inferencetest"
)

// tb stands in for the test that inferencetest.New expects: the server
// lives as long as the process.
type tb struct{ testing.TB }

func (tb) Helper()        {}
func (tb) Cleanup(func()) {}

func main() {
	latency := flag.Duration("latency", 2*time.Second, "delay added to every model call")
	flag.Parse()
	s := inferencetest.New(tb{}, inferencetest.WithLatency(*latency))
	fmt.Println(s.URL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	st := s.Stats()
	fmt.Fprintf(os.Stderr, "double: %d calls, at most %d at once\n", st.Calls, st.MaxConcurrent)
	s.Close()
}
