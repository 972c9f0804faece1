// Command baseline is the reference point of the retrieve-task benchmark
// (bench/retrieve.sh): a minimal Go HTTP server that answers every request,
// on any path and method, with the same fixed bytes and Content-Type
// application/json. It does no routing, authentication, storage lookup or
// JSON encoding, so its throughput is an upper bound for what a Go net/http
// server can do on this machine with that response body.
//
// Usage:
//
//	baseline -addr 127.0.0.1:8701 -body task.json
package main

import (
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8701", "listen address (keep it on loopback)")
	bodyFile := flag.String("body", "", "file whose bytes are the response body (required)")
	flag.Parse()
	if *bodyFile == "" {
		log.Fatal("baseline: -body is required")
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		log.Fatalf("baseline: %v", err)
	}
	length := strconv.Itoa(len(body))

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{length}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("baseline: %v", err)
	}
	srv := &http.Server{Handler: handler}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-stop
		_ = srv.Close()
	}()

	log.Printf("baseline: serving %d bytes from %s on http://%s", len(body), *bodyFile, ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("baseline: %v", err)
	}
}
