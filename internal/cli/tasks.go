package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
)

const tasksUsage = `framewise tasks list|get|delete|wait|cancel ...

  framewise tasks list [--status S] [--page N] [--page-limit N] [--all] [--video-url U] [--asset-id A] [--mode M] [--json]
  framewise tasks get ID [--json]
  framewise tasks delete ID
  framewise tasks wait ID [--json]
  framewise tasks cancel ID [--admin-key K] [--json]   (operators: needs an admin key)

Run "framewise tasks COMMAND -h" for the flags of a command.
`

// runTasks implements "framewise tasks".
func runTasks(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return usageError{"missing command: list, get, delete, wait or cancel"}
	}
	switch args[0] {
	case "list", "ls":
		return runTasksList(ctx, args[1:], env)
	case "get", "show":
		return runTasksGet(ctx, args[1:], env)
	case "delete", "rm":
		return runTasksDelete(ctx, args[1:], env)
	case "wait":
		return runTasksWait(ctx, args[1:], env)
	case "cancel":
		return runTasksCancel(ctx, args[1:], env)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(env.Stderr, "Usage: "+tasksUsage)
		return flag.ErrHelp
	}
	return usageError{fmt.Sprintf("unknown command %q: want list, get, delete, wait or cancel", args[0])}
}

func runTasksList(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("tasks list")
	var cf clientFlags
	cf.register(fs, env, true)
	var opts client.ListOptions
	fs.StringVar(&opts.Status, "status", "", "only tasks in this status: queued, pending, processing, ready or failed")
	fs.IntVar(&opts.Page, "page", 0, "page to show, from 1 (default 1)")
	fs.IntVar(&opts.PageLimit, "page-limit", 0, "tasks per page, at most 50 (default 10)")
	fs.StringVar(&opts.VideoURL, "video-url", "", "only tasks of this video URL")
	fs.StringVar(&opts.AssetID, "asset-id", "", "only tasks of this asset")
	fs.StringVar(&opts.AnalysisMode, "mode", "", "only tasks in this analysis mode: general or time_based_metadata")
	all := fs.Bool("all", false, "list every page, from --page on")
	pos, err := parseFlags(fs, "framewise tasks list [flags]", args, env)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("tasks list takes no arguments, got %q", strings.Join(pos, " "))}
	}
	c := cf.client(env)

	if !*all {
		var raw json.RawMessage
		list, err := c.ListTasks(ctx, opts, client.WithRawResponse(&raw))
		if err != nil {
			return cf.explain(err)
		}
		if cf.json {
			writeRaw(env.Stdout, raw)
			return nil
		}
		tw := &taskTable{}
		for i := range list.Data {
			tw.add(&list.Data[i])
		}
		if err := tw.write(env.Stdout); err != nil {
			return err
		}
		pi := list.PageInfo
		fmt.Fprintf(env.Stderr, "page %d of %d, %d %s\n", pi.Page, pi.TotalPage, pi.TotalResults, plural(pi.TotalResults, "task"))
		return nil
	}

	if cf.json {
		return cf.explain(listAllJSON(ctx, c, opts, env.Stdout))
	}
	tw := &taskTable{}
	for t, err := range c.Tasks(ctx, opts) {
		if err != nil {
			tw.write(env.Stdout)
			return cf.explain(err)
		}
		tw.add(&t)
	}
	if err := tw.write(env.Stdout); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "%d %s\n", len(tw.tasks), plural(len(tw.tasks), "task"))
	return nil
}

// listAllJSON prints every task of every page as one JSON array, each
// element as the server sent it.
func listAllJSON(ctx context.Context, c *client.Client, opts client.ListOptions, w io.Writer) error {
	items := []json.RawMessage{}
	for page := max(opts.Page, 1); ; page++ {
		opts.Page = page
		var raw json.RawMessage
		list, err := c.ListTasks(ctx, opts, client.WithRawResponse(&raw))
		if err != nil {
			return err
		}
		var rawList struct {
			Data []json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(raw, &rawList); err != nil {
			return err
		}
		items = append(items, rawList.Data...)
		if len(list.Data) == 0 || (list.PageInfo.TotalPage > 0 && page >= list.PageInfo.TotalPage) {
			break
		}
	}
	out, err := json.Marshal(items)
	if err != nil {
		return err
	}
	writeRaw(w, out)
	return nil
}

// maxListError is the widest an error message gets in a task list.
const maxListError = 60

// taskTable prints tasks as aligned columns. An ERROR column is added when
// a failed task has an error message to show.
type taskTable struct{ tasks []*api.Task }

func (tt *taskTable) add(t *api.Task) { tt.tasks = append(tt.tasks, t) }

func (tt *taskTable) write(w io.Writer) error {
	withErr := false
	for _, t := range tt.tasks {
		withErr = withErr || failedMessage(t) != ""
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "ID\tSTATUS\tMODE\tCREATED\tCUSTOM_ID"
	if withErr {
		header += "\tERROR"
	}
	fmt.Fprintln(tw, header)
	for _, t := range tt.tasks {
		// Tasks without request_params are pegasus1.2 tasks, always general.
		mode := api.ModeGeneral
		if t.RequestParams != nil && t.RequestParams.AnalysisMode != "" {
			mode = t.RequestParams.AnalysisMode
		}
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s", t.TaskID, t.Status, mode, formatTime(t.CreatedAt), orDash(t.CustomID))
		if withErr {
			msg := "-"
			if m := failedMessage(t); m != "" {
				msg = clip(oneLine(m), maxListError)
			}
			row += "\t" + msg
		}
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}

// failedMessage is the error message of a failed task, else "".
func failedMessage(t *api.Task) string {
	if t.Status != api.StatusFailed || t.Error == nil {
		return ""
	}
	return t.Error.Message
}

func runTasksGet(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("tasks get")
	var cf clientFlags
	cf.register(fs, env, true)
	id, err := parseTaskID(fs, "framewise tasks get ID [flags]", args, env)
	if err != nil {
		return err
	}
	c := cf.client(env)
	var raw json.RawMessage
	t, err := c.GetTask(ctx, id, client.WithRawResponse(&raw))
	if err != nil {
		return cf.explain(err)
	}
	if cf.json {
		writeRaw(env.Stdout, raw)
		return nil
	}
	return printTask(env.Stdout, t)
}

// printTask prints a readable summary of a task, its result last.
func printTask(w io.Writer, t *api.Task) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	field := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s:\t%s\n", name, fmt.Sprintf(format, args...))
	}
	field("Task", "%s", t.TaskID)
	status := t.Status
	if pr := t.Progress; pr != nil && t.Status != api.StatusReady && t.Status != api.StatusFailed {
		status = strings.TrimPrefix(statusLine(t), "status: ")
	}
	field("Status", "%s", status)
	if t.CustomID != nil {
		field("Custom ID", "%s", *t.CustomID)
	}
	field("Created", "%s", formatTime(t.CreatedAt))
	if t.CompletedAt != nil {
		field("Completed", "%s (took %s)", formatTime(*t.CompletedAt), t.CompletedAt.Sub(t.CreatedAt).Round(time.Second))
	}
	if vs := t.VideoSource; vs != nil {
		switch vs.Type {
		case api.SourceURL:
			field("Video", "%s", vs.URL)
		case api.SourceAssetID:
			field("Video", "asset %s", vs.AssetID)
		case api.SourceBase64:
			field("Video", "inline upload")
		case api.SourceVideoID:
			field("Video", "video %s in index %s", vs.VideoID, vs.IndexID)
		default:
			field("Video", "%s", vs.Type)
		}
		if vs.SystemMetadata != nil && vs.SystemMetadata.Duration != nil {
			field("Duration", "%.1f s", *vs.SystemMetadata.Duration)
		}
	}
	if rp := t.RequestParams; rp != nil {
		field("Mode", "%s", rp.AnalysisMode)
		switch {
		case rp.Prompt != nil:
			field("Prompt", "%s", oneLine(*rp.Prompt))
		case rp.PromptV2 != nil:
			field("Prompt", "%s (%d reference images)", oneLine(rp.PromptV2.InputText), len(rp.PromptV2.MediaSources))
		}
		if rp.ResponseFormat != nil {
			field("Response format", "%s", rp.ResponseFormat.Type)
		}
		field("Temperature", "%g", rp.Temperature)
		field("Max tokens", "%d", rp.MaxTokens)
	}
	for _, wh := range t.Webhooks {
		state := "delivered"
		if !wh.Delivered {
			state = "not delivered"
			if wh.LastError != "" {
				state += " (" + wh.LastError + ")"
			}
		}
		field("Webhook", "%s %s after %d %s", wh.URL, state, wh.Attempts, plural(wh.Attempts, "attempt"))
	}
	if t.Error != nil && t.Error.Message != "" {
		label := "Error"
		if t.Status == api.StatusReady {
			label = "Warning"
		}
		field(label, "%s", t.Error.Message)
	}
	if r := t.Result; r != nil {
		tokens := fmt.Sprintf("%d output tokens", r.Usage.OutputTokens)
		if r.Usage.InputTokens != nil {
			tokens = fmt.Sprintf("%d input, %s", *r.Usage.InputTokens, tokens)
		}
		field("Result", "finish reason %s, %s", r.FinishReason, tokens)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if t.Result != nil {
		if _, err := io.WriteString(w, "\n"); err != nil {
			return err
		}
		return writeResult(w, t)
	}
	return nil
}

func runTasksDelete(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("tasks delete")
	var cf clientFlags
	cf.register(fs, env, false)
	id, err := parseTaskID(fs, "framewise tasks delete ID [flags]", args, env)
	if err != nil {
		return err
	}
	err = cf.client(env).DeleteTask(ctx, id)
	if errors.Is(err, client.ErrConflict) {
		return fmt.Errorf("%w (the task is being processed; wait for it with \"framewise tasks wait %s\", then delete it)", err, id)
	}
	if err != nil {
		return cf.explain(err)
	}
	fmt.Fprintln(env.Stdout, "deleted", id)
	return nil
}

// runTasksCancel cancels a task through the admin route: the task ends
// failed and its job stops. The admin key replaces the API key.
func runTasksCancel(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("tasks cancel")
	var af adminFlags
	af.register(fs, env)
	id, err := parseTaskID(fs, "framewise tasks cancel ID [flags]", args, env)
	if err != nil {
		return err
	}
	c, err := af.client(env)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	t, err := c.CancelTask(ctx, id, client.WithRawResponse(&raw))
	switch {
	case errors.Is(err, client.ErrConflict):
		return fmt.Errorf("%w (nothing to cancel)", err)
	case err != nil:
		return af.explain(err)
	}
	af.output(env, raw, func() { fmt.Fprintf(env.Stdout, "canceled %s: %s\n", t.TaskID, failedMessage(t)) })
	return nil
}

func runTasksWait(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("tasks wait")
	var cf clientFlags
	cf.register(fs, env, true)
	id, err := parseTaskID(fs, "framewise tasks wait ID [flags]", args, env)
	if err != nil {
		return err
	}
	return waitAndPrint(ctx, cf.client(env), &cf, id, env)
}

// parseTaskID parses flags and the one task id of get, delete and wait.
func parseTaskID(fs *flag.FlagSet, usage string, args []string, env Env) (string, error) {
	return oneArg(fs, usage, "task ID", args, env)
}

func orDash(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
