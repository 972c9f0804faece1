package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/framewise/framewise/internal/config"
	"github.com/framewise/framewise/internal/engine/vlm"
	"github.com/framewise/framewise/internal/inference/openai"
)

const modelsUsage = `Usage:
  framewise models check [--json] [model flags of serve]

Probes the model server of each model profile, as "framewise serve" would
use it (same --config, --vlm-url, --vlm-model, --vlm-api-key, --vlm-name,
--vlm-context-tokens flags and FRAMEWISE_* variables), and says whether the
configuration can work and what to change. Exit code 1 when a profile will
not work.

  --json   print the reports as JSON
`

// probeTimeout bounds each request of a probe: enough for a model server
// that loads its model on the first call, short enough for a dead one.
const probeTimeout = 30 * time.Second

// runModels runs "framewise models …".
func runModels(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, modelsUsage)
		return usageError{"missing subcommand: check"}
	}
	switch args[0] {
	case "check":
		return runModelsCheck(ctx, args[1:], env)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(env.Stdout, modelsUsage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown subcommand %q: use check", args[0])}
}

// profileCheck is what "models check" found for the model names that share
// one profile.
type profileCheck struct {
	ModelNames []string       `json:"model_names"`
	Backend    string         `json:"backend"` // builtin or openai
	Note       string         `json:"note,omitempty"`
	Error      string         `json:"error,omitempty"` // the profile cannot be probed as written
	Verdict    string         `json:"verdict"`
	Report     *openai.Report `json:"report,omitempty"`
}

func runModelsCheck(ctx context.Context, args []string, env Env) error {
	var asJSON bool
	rest := make([]string, 0, len(args))
	for _, a := range args {
		switch a {
		case "-json", "--json", "-json=true", "--json=true":
			asJSON = true
		case "-json=false", "--json=false":
			asJSON = false
		case "-h", "-help", "--help":
			fmt.Fprint(env.Stderr, modelsUsage+"\nModel flags (the flags of serve):\n")
			rest = append(rest, a)
		default:
			rest = append(rest, a)
		}
	}
	// The same configuration as serve: flags over FRAMEWISE_* over the file.
	cfg, err := config.ParseServe(rest, env.Getenv, env.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	checks := checkProfiles(ctx, cfg, func(names []string, p config.ModelProfile) {
		fmt.Fprintf(env.Stderr, "checking %s: %s at %s, model %s…\n", strings.Join(names, ", "), p.Name, p.BaseURL, p.Model)
	})
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(checks); err != nil {
			return err
		}
	} else {
		for i, c := range checks {
			if i > 0 {
				fmt.Fprintln(env.Stdout)
			}
			printCheck(env.Stdout, c)
		}
	}
	var broken []string
	for _, c := range checks {
		if c.Verdict == openai.VerdictBroken {
			broken = append(broken, c.ModelNames...)
		}
	}
	if len(broken) > 0 {
		return fmt.Errorf("%s will not work as configured", strings.Join(broken, ", "))
	}
	return nil
}

// checkProfiles probes the server of every profile of cfg, once for the
// model names that share a profile, in the order of the names. started, if
// not nil, is called before each probe.
func checkProfiles(ctx context.Context, cfg config.Config, started func(names []string, p config.ModelProfile)) []profileCheck {
	names := make([]string, 0, len(cfg.Models))
	for n := range cfg.Models {
		names = append(names, n)
	}
	slices.Sort(names)
	var (
		checks []profileCheck
		seen   = map[config.ModelProfile]int{}
	)
	for _, n := range names {
		p := cfg.Models[n]
		if i, ok := seen[p]; ok {
			checks[i].ModelNames = append(checks[i].ModelNames, n)
			continue
		}
		seen[p] = len(checks)
		checks = append(checks, profileCheck{ModelNames: []string{n}, Backend: p.Backend})
	}
	for i := range checks {
		c := &checks[i]
		p := cfg.Models[c.ModelNames[0]]
		if p.Backend != "openai" {
			c.Note, c.Verdict = "built-in engine, nothing to check", openai.VerdictReady
			continue
		}
		if started != nil {
			started(c.ModelNames, p)
		}
		prober, err := openai.NewProber(openai.Config{BaseURL: p.BaseURL, Model: p.Model, APIKey: p.APIKey, Name: p.Name})
		if err != nil {
			c.Error, c.Verdict = err.Error(), openai.VerdictBroken
			continue
		}
		c.Report = prober.Probe(ctx, openai.ProbeOptions{
			FramesPerCall: p.FramesPerCall,
			FrameWidth:    p.FrameWidth,
			ContextTokens: p.ContextTokens,
			FrameTokens:   vlm.FrameTokens(p.FrameWidth),
			Timeout:       min(probeTimeout, p.Timeout),
		})
		c.Verdict = c.Report.Verdict()
	}
	return checks
}

// printCheck writes one profile's table, its warnings and errors with their
// fixes, and its verdict.
func printCheck(w io.Writer, c profileCheck) {
	names := strings.Join(c.ModelNames, ", ")
	r := c.Report
	switch {
	case r == nil && c.Error != "":
		fmt.Fprintf(w, "%s: %s\nverdict: %s\n", names, c.Error, c.Verdict)
		return
	case r == nil:
		fmt.Fprintf(w, "%s: %s\nverdict: %s\n", names, c.Note, c.Verdict)
		return
	}
	fmt.Fprintf(w, "%s — %s at %s, model %s\n", names, r.Name, r.BaseURL, r.Model)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  CHECK\tRESULT")
	for _, ch := range r.Checks {
		fmt.Fprintf(tw, "  %s\t%s\n", ch.Check, ch.Result)
	}
	tw.Flush()
	for _, f := range r.Findings {
		if f.Level == openai.LevelOK {
			continue
		}
		fmt.Fprintf(w, "  %-5s  %s: %s\n", f.Level, f.Check, f.Message)
		if f.Fix != "" {
			fmt.Fprintf(w, "         fix: %s\n", f.Fix)
		}
	}
	fmt.Fprintf(w, "verdict: %s\n", c.Verdict)
}
