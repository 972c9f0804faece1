package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
)

const batchesUsage = `framewise batches create|list|get|wait|cancel|results|delete ...

  framewise batches create FILE.jsonl [--model M] [--mode M] [--prompt TEXT] [--temperature F] [--max-tokens N] [--wait] [--json]
      FILE.jsonl (or - for stdin) holds one request item per line, e.g.
      {"video":{"type":"asset_id","asset_id":"…"},"custom_id":"clip-1"}
      with optional overrides of the defaults (prompt, temperature, …).
  framewise batches list [--status S]... [--mode M]... [--page N] [--page-limit N] [--json]
  framewise batches get ID [--json]
  framewise batches wait ID [--json]
  framewise batches cancel ID [--json]
  framewise batches results ID [--json]   (--json: the JSON Lines as served)
  framewise batches delete ID

Run "framewise batches COMMAND -h" for the flags of a command.
`

// runBatches implements "framewise batches".
func runBatches(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return usageError{"missing command: create, list, get, wait, cancel, results or delete"}
	}
	switch args[0] {
	case "create":
		return runBatchesCreate(ctx, args[1:], env)
	case "list", "ls":
		return runBatchesList(ctx, args[1:], env)
	case "get", "show", "wait", "cancel":
		return runBatchCall(ctx, args[0], args[1:], env)
	case "results":
		return runBatchResults(ctx, args[1:], env)
	case "delete", "rm":
		return runBatchDelete(ctx, args[1:], env)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(env.Stderr, "Usage: "+batchesUsage)
		return flag.ErrHelp
	}
	return usageError{fmt.Sprintf("unknown command %q: want create, list, get, wait, cancel, results or delete", args[0])}
}

// multiFlag is a flag that may be given several times, or once with
// comma-separated values.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }

func (m *multiFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*m = append(*m, s)
		}
	}
	return nil
}

// readBatchItems reads one request item per non-blank line of r.
func readBatchItems(r io.Reader, name string) ([]api.BatchItemRequest, error) {
	var items []api.BatchItemRequest
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		var it api.BatchItemRequest
		if err := dec.Decode(&it); err != nil {
			return nil, fmt.Errorf("%s:%d: not a batch request item: %v", name, n, err)
		}
		if it.Video.Type == "" {
			it.Video.Type = api.SourceAssetID
		}
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%s: no request items (one JSON object per line)", name)
	}
	return items, nil
}

func runBatchesCreate(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("batches create")
	var cf clientFlags
	cf.register(fs, env, true)
	model := fs.String("model", "pegasus1.5", "model_name of every item")
	mode := fs.String("mode", api.ModeGeneral, "analysis_mode of every item: general or time_based_metadata")
	prompt := fs.String("prompt", "", "default prompt of the items")
	temperature := fs.Float64("temperature", -1, "default temperature of the items (0 to 1; unset: the server's default)")
	maxTokens := fs.Int("max-tokens", 0, "default max_tokens of the items (unset: the server's default)")
	wait := fs.Bool("wait", false, "wait until the batch is completed, canceled or expired, then print it")
	pos, err := parseFlags(fs, "framewise batches create FILE.jsonl [flags]", args, env)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"batches create takes one FILE.jsonl (or - for stdin)"}
	}
	var in io.Reader = os.Stdin
	if pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	items, err := readBatchItems(in, pos[0])
	if err != nil {
		return err
	}
	req := &api.CreateBatchRequest{ModelName: *model, AnalysisMode: *mode, Requests: items, Defaults: &api.BatchDefaults{}}
	if *prompt != "" {
		req.Defaults.Prompt = &api.BatchPrompt{InputText: *prompt}
	}
	if *temperature >= 0 {
		req.Defaults.Temperature = temperature
	}
	if *maxTokens > 0 {
		req.Defaults.MaxTokens = maxTokens
	}
	c := cf.client(env)
	var raw json.RawMessage
	created, err := c.CreateBatch(ctx, req, client.WithRawResponse(&raw))
	if err != nil {
		return cf.explain(err)
	}
	if !*wait {
		if cf.json {
			writeRaw(env.Stdout, raw)
			return nil
		}
		fmt.Fprintf(env.Stdout, "batch %s: %d %s queued, expires %s\n", created.BatchID, created.TotalItems, plural(created.TotalItems, "item"), formatTime(created.ExpiresAt))
		return nil
	}
	fmt.Fprintf(env.Stderr, "batch %s: %d %s queued; waiting\n", created.BatchID, created.TotalItems, plural(created.TotalItems, "item"))
	return batchCall(ctx, c, &cf, "wait", created.BatchID, env)
}

// runBatchCall runs get, wait and cancel: each prints the batch.
func runBatchCall(ctx context.Context, cmd string, args []string, env Env) error {
	fs := newFlagSet("batches " + cmd)
	var cf clientFlags
	cf.register(fs, env, true)
	id, err := oneArg(fs, "framewise batches "+cmd+" ID [flags]", "batch ID", args, env)
	if err != nil {
		return err
	}
	return batchCall(ctx, cf.client(env), &cf, cmd, id, env)
}

// batchCall gets, waits for or cancels batch id with c, and prints it.
func batchCall(ctx context.Context, c *client.Client, cf *clientFlags, cmd, id string, env Env) error {
	var raw json.RawMessage
	var b *api.Batch
	var err error
	switch cmd {
	case "cancel":
		b, err = c.CancelBatch(ctx, id, client.WithRawResponse(&raw))
	case "wait":
		if b, err = c.WaitBatch(ctx, id); err == nil && cf.json {
			b, err = c.GetBatch(ctx, id, client.WithRawResponse(&raw)) // the batch as the server sends it
		}
	default:
		b, err = c.GetBatch(ctx, id, client.WithRawResponse(&raw))
	}
	if err != nil {
		return cf.explain(err)
	}
	if cf.json {
		writeRaw(env.Stdout, raw)
		return nil
	}
	return printBatch(env.Stdout, b)
}

// printBatch prints a readable summary of a batch.
func printBatch(w io.Writer, b *api.Batch) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	field := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s:\t%s\n", name, fmt.Sprintf(format, args...))
	}
	field("Batch", "%s", b.BatchID)
	field("Status", "%s", b.Status)
	field("Model", "%s, %s", b.ModelName, b.AnalysisMode)
	field("Items", "%d: %d queued, %d processing, %d ready, %d failed, %d canceled", b.TotalItems,
		b.QueuedItems, b.ProcessingItems, b.ReadyItems, b.FailedItems, b.CanceledItems)
	field("Created", "%s", formatTime(b.CreatedAt))
	field("Expires", "%s", formatTime(b.ExpiresAt))
	switch {
	case b.CompletedAt != nil:
		field("Completed", "%s", formatTime(*b.CompletedAt))
	case b.CanceledAt != nil:
		field("Canceled", "%s", formatTime(*b.CanceledAt))
	case b.ExpiredAt != nil:
		field("Expired", "%s", formatTime(*b.ExpiredAt))
	}
	return tw.Flush()
}

func runBatchesList(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("batches list")
	var cf clientFlags
	cf.register(fs, env, true)
	var opts client.BatchListOptions
	var statuses, modes multiFlag
	fs.Var(&statuses, "status", "only batches in this status (repeatable or comma-separated): pending, processing, canceling, canceled, completed, expired")
	fs.Var(&modes, "mode", "only batches in this analysis mode (repeatable): general, time_based_metadata")
	fs.IntVar(&opts.Page, "page", 0, "page to show, from 1 (default 1)")
	fs.IntVar(&opts.PageLimit, "page-limit", 0, "batches per page, at most 50 (default 10)")
	pos, err := parseFlags(fs, "framewise batches list [flags]", args, env)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("batches list takes no arguments, got %q", strings.Join(pos, " "))}
	}
	opts.Statuses, opts.Modes = statuses, modes
	var raw json.RawMessage
	list, err := cf.client(env).ListBatches(ctx, opts, client.WithRawResponse(&raw))
	if err != nil {
		return cf.explain(err)
	}
	if cf.json {
		writeRaw(env.Stdout, raw)
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tMODE\tCREATED\tITEMS\tREADY\tFAILED\tCANCELED")
	for _, b := range list.Data {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", b.BatchID, b.Status, b.AnalysisMode, formatTime(b.CreatedAt),
			b.TotalItems, b.ReadyItems, b.FailedItems, b.CanceledItems)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	pi := list.PageInfo
	fmt.Fprintf(env.Stderr, "page %d of %d, %d %s\n", pi.Page, pi.TotalPage, pi.TotalResults, plural(pi.TotalResults, "batch"))
	return nil
}

func runBatchResults(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("batches results")
	var cf clientFlags
	cf.register(fs, env, true)
	id, err := oneArg(fs, "framewise batches results ID [flags]", "batch ID", args, env)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	results, err := cf.client(env).BatchResults(ctx, id, client.WithRawResponse(&raw))
	if err != nil {
		return cf.explain(err)
	}
	if cf.json {
		_, err := env.Stdout.Write(raw)
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK_ID\tCUSTOM_ID\tSTATUS\tRESULT")
	for _, r := range results {
		text := "-"
		switch {
		case r.Data != nil:
			text = clip(oneLine(r.Data.Data), maxListError)
		case r.Error != nil:
			text = clip(oneLine(r.Error.Message), maxListError)
		}
		cid := r.CustomID
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.TaskID, orDash(&cid), r.Status, text)
	}
	return tw.Flush()
}

func runBatchDelete(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("batches delete")
	var cf clientFlags
	cf.register(fs, env, false)
	id, err := oneArg(fs, "framewise batches delete ID [flags]", "batch ID", args, env)
	if err != nil {
		return err
	}
	err = cf.client(env).DeleteBatch(ctx, id)
	if errors.Is(err, client.ErrConflict) {
		return fmt.Errorf("%w (cancel it with \"framewise batches cancel %s\" or wait for it with \"framewise batches wait %s\", then delete it)", err, id, id)
	}
	if err != nil {
		return cf.explain(err)
	}
	fmt.Fprintln(env.Stdout, "deleted", id)
	return nil
}
