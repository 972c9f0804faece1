package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
)

const webhooksUsage = `framewise webhooks add|list|remove|test|redeliver ...   (operators: needs an admin key)

  framewise webhooks add [--account NAME] [--description D] [--json] URL   prints the signing secret
  framewise webhooks list [--account NAME] [--json]
  framewise webhooks remove ID
  framewise webhooks test ID [--json]                  sends a signed test event now
  framewise webhooks redeliver TASK_ID [--webhook ID]  queues a finished task's event again

Every command takes --admin-key (env FRAMEWISE_ADMIN_KEY), --server and --json.
`

// runWebhooks implements "framewise webhooks": webhook endpoints through
// the admin routes.
func runWebhooks(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return usageError{"missing command: add, list, remove, test or redeliver"}
	}
	cmds := map[string]func(context.Context, []string, Env) error{
		"add": runWebhooksAdd, "list": runWebhooksList, "ls": runWebhooksList, "remove": runWebhooksRemove, "rm": runWebhooksRemove,
		"test": runWebhooksTest, "redeliver": runWebhooksRedeliver,
	}
	if run, ok := cmds[args[0]]; ok {
		return run(ctx, args[1:], env)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(env.Stderr, "Usage: "+webhooksUsage)
		return flag.ErrHelp
	}
	return usageError{fmt.Sprintf("unknown command %q: want add, list, remove, test or redeliver", args[0])}
}

// oneArg parses flags and the one positional argument of a command.
func oneArg(fs *flag.FlagSet, usage, what string, args []string, env Env) (string, error) {
	pos, err := parseFlags(fs, usage, args, env)
	if err != nil {
		return "", err
	}
	switch {
	case len(pos) == 0 || pos[0] == "":
		return "", usageError{"missing " + what}
	case len(pos) > 1:
		return "", usageError{fmt.Sprintf("one %s at a time, got %d: %s", what, len(pos), strings.Join(pos, " "))}
	}
	return pos[0], nil
}

func runWebhooksAdd(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("webhooks add")
	var af adminFlags
	af.register(fs, env)
	var req api.CreateWebhookRequest
	fs.StringVar(&req.Account, "account", "default", "the account whose tasks notify this URL")
	fs.StringVar(&req.Description, "description", "", "a note for operators")
	u, err := oneArg(fs, "framewise webhooks add [flags] URL", "URL", args, env)
	if err != nil {
		return err
	}
	req.URL = u
	c, err := af.client(env)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	e, err := c.CreateWebhook(ctx, &req, client.WithRawResponse(&raw))
	if err != nil {
		return af.explain(err)
	}
	if af.json {
		writeRaw(env.Stdout, raw)
		return nil
	}
	fmt.Fprintf(env.Stdout, "added webhook %s for account %s: %s\nsigning secret: %s\n", e.ID, e.Account, e.URL, e.Secret)
	fmt.Fprintln(env.Stderr, "Keep the secret: receivers verify the TL-Signature header with it (see client/webhook.Verify).")
	return nil
}

func runWebhooksList(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("webhooks list")
	var af adminFlags
	af.register(fs, env)
	account := fs.String("account", "default", "the account whose endpoints are listed")
	pos, err := parseFlags(fs, "framewise webhooks list [flags]", args, env)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("webhooks list takes no arguments, got %q", strings.Join(pos, " "))}
	}
	c, err := af.client(env)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	list, err := c.ListWebhooks(ctx, *account, client.WithRawResponse(&raw))
	if err != nil {
		return af.explain(err)
	}
	if af.json {
		writeRaw(env.Stdout, raw)
		return nil
	}
	if len(list) == 0 {
		fmt.Fprintf(env.Stdout, "no webhook endpoints for account %s\n", *account)
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tURL\tENABLED\tDESCRIPTION")
	for _, e := range list {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", e.ID, e.URL, e.Enabled, oneLine(e.Description))
	}
	return tw.Flush()
}

func runWebhooksRemove(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("webhooks remove")
	var af adminFlags
	af.register(fs, env)
	id, err := oneArg(fs, "framewise webhooks remove ID [flags]", "webhook ID", args, env)
	if err != nil {
		return err
	}
	c, err := af.client(env)
	if err != nil {
		return err
	}
	if err := c.DeleteWebhook(ctx, id); err != nil {
		return af.explain(err)
	}
	fmt.Fprintf(env.Stdout, "removed webhook %s\n", id)
	return nil
}

func runWebhooksTest(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("webhooks test")
	var af adminFlags
	af.register(fs, env)
	id, err := oneArg(fs, "framewise webhooks test ID [flags]", "webhook ID", args, env)
	if err != nil {
		return err
	}
	c, err := af.client(env)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	res, err := c.TestWebhook(ctx, id, client.WithRawResponse(&raw))
	if err != nil {
		return af.explain(err)
	}
	if af.json {
		writeRaw(env.Stdout, raw)
	} else if res.Delivered {
		fmt.Fprintf(env.Stdout, "delivered: the endpoint answered HTTP %d\n", res.StatusCode)
	}
	if !res.Delivered {
		return fmt.Errorf("test event not acknowledged: %s", res.Error)
	}
	return nil
}

func runWebhooksRedeliver(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("webhooks redeliver")
	var af adminFlags
	af.register(fs, env)
	only := fs.String("webhook", "", "only this webhook endpoint")
	id, err := oneArg(fs, "framewise webhooks redeliver TASK_ID [flags]", "task ID", args, env)
	if err != nil {
		return err
	}
	c, err := af.client(env)
	if err != nil {
		return err
	}
	n, err := c.RedeliverWebhooks(ctx, id, *only)
	if err != nil {
		return af.explain(err)
	}
	fmt.Fprintf(env.Stdout, "queued the event of task %s for %d %s\n", id, n, plural(n, "endpoint"))
	return nil
}
