package app

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/inference"
	"github.com/framewise/framewise/internal/inference/inferencetest"
	"github.com/framewise/framewise/internal/inference/openai"
)

// TestBackendFacts: the probe at start logs its findings with their fixes
// and feeds the engine's limits; later tasks reuse it without probing
// again; a server that was down is probed again once it may be up.
func TestBackendFacts(t *testing.T) {
	t.Parallel()
	srv := inferencetest.New(t, inferencetest.WithPersonality(inferencetest.Ollama()), inferencetest.WithModels("qwen2.5vl:7b"))
	prober, err := openai.NewProber(openai.Config{BaseURL: srv.URL(), Model: "qwen2.5vl:7b", Name: "ollama"})
	if err != nil {
		t.Fatal(err)
	}
	b := &backendFacts{prober: prober, opts: openai.ProbeOptions{FramesPerCall: 16, FrameWidth: 512}, modelNames: []string{"pegasus1.2", "pegasus1.5"}}
	var logs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b.probeAndLog(ctx, slog.New(slog.NewTextHandler(&logs, nil)))
	out := logs.String()
	for _, want := range []string{`level=WARN msg="model check: `, "num_ctx", `check="frames fit"`,
		`level=WARN msg="model check: works with warnings" model_name=pegasus1.2,pegasus1.5 backend=ollama server=Ollama`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	calls := srv.Stats().Calls
	want := inference.Limits{Server: inference.ServerOllama, ContextTokens: 4096, ImageTokens: 768, DropsOldest: true}
	if l := b.Limits(ctx); l.Server != want.Server || l.ContextTokens != want.ContextTokens || l.ImageTokens != want.ImageTokens || !l.DropsOldest {
		t.Errorf("limits %+v, want %+v", l, want)
	}
	if n := srv.Stats().Calls; n != calls {
		t.Errorf("Limits probed again: %d calls after the start-up probe's %d", n, calls)
	}

	// A server that is down: no limits, and no new probe before reprobeAfter.
	down := inferencetest.New(t)
	down.Close()
	p2, _ := openai.NewProber(openai.Config{BaseURL: down.URL(), Model: "m"})
	b2 := &backendFacts{prober: p2, opts: openai.ProbeOptions{Timeout: time.Second}}
	if l := b2.Limits(ctx); l != (inference.Limits{}) {
		t.Errorf("limits of a server that is down: %+v", l)
	}
	first := b2.tried
	b2.Limits(ctx)
	if b2.tried != first {
		t.Error("probed again at once after a failed probe")
	}
	b2.tried = time.Now().Add(-reprobeAfter - time.Second)
	b2.Limits(ctx)
	if !b2.tried.After(first) {
		t.Error("not probed again after reprobeAfter")
	}
}
