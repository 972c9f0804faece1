package app

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/framewise/framewise/internal/inference"
	"github.com/framewise/framewise/internal/inference/openai"
)

// reprobeAfter is how long a probe that did not reach its server is
// remembered before the next task probes again.
const reprobeAfter = 30 * time.Second

// backendFacts tells an engine what its backend enforces (context length,
// image limits, how it counts images): it probes the server once, at the
// first task (or at start), and remembers the answer; a probe that did not
// reach the server (it may start after framewise) is tried again later.
type backendFacts struct {
	prober     *openai.Prober
	opts       openai.ProbeOptions
	modelNames []string

	mu     sync.Mutex
	report *openai.Report
	tried  time.Time
}

// Limits implements vlm.Config.Limits. Concurrent first tasks wait for the
// one probe.
func (b *backendFacts) Limits(ctx context.Context) inference.Limits {
	if r := b.Report(ctx); r != nil && r.Reachable {
		return r.Limits
	}
	return inference.Limits{}
}

// Report returns the probe's report, probing when there is none yet (or
// the last one did not reach the server and is older than reprobeAfter).
func (b *backendFacts) Report(ctx context.Context) *openai.Report {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.report != nil && (b.report.Reachable || time.Since(b.tried) < reprobeAfter) {
		return b.report
	}
	b.tried = time.Now()
	b.report = b.prober.Probe(ctx, b.opts)
	return b.report
}

// startupProbeTimeout bounds the probe serve runs at start.
const startupProbeTimeout = 2 * time.Minute

// probeAndLog probes the server (unless a task already did) and logs each
// finding at its level, then the verdict. Nothing is logged when the probe
// is cut short by shutdown: what failed then says nothing about the server.
func (b *backendFacts) probeAndLog(ctx context.Context, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, startupProbeTimeout)
	defer cancel()
	r := b.Report(ctx)
	if ctx.Err() != nil {
		return
	}
	r.Log(ctx, log, strings.Join(b.modelNames, ","))
}
