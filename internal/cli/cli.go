// Package cli implements the framewise command line: the serve command that
// runs the server, and client commands that talk to a running server only
// through the public Go client (package client).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// Env is what a command may use from its process: environment, standard
// streams. Tests pass their own.
type Env struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

const usage = `framewise — self-hosted video analysis (TwelveLabs v1.3 Analyze API)

Usage:
  framewise serve [flags]                  run the server
  framewise migrate --database-url URL     apply database migrations (PostgreSQL; before starting many processes)
  framewise analyze VIDEO_FILE_OR_URL ...  create an analysis task
  framewise tasks COMMAND ...              list, get, delete, wait or cancel tasks
  framewise batches COMMAND ...            create (from JSON Lines), list, get, wait, cancel, results, delete batches
  framewise assets upload|list|get|delete  upload files once, analyze them many times
  framewise webhooks COMMAND ...           add, list, remove or test webhook endpoints (operators)
  framewise models check [--json]          probe the model servers of the configuration
  framewise accounts create|list|delete    manage accounts (operators: --admin-key)
  framewise keys create|list|revoke        manage API keys of accounts (operators: --admin-key)
  framewise version

Run "framewise COMMAND -h" for the flags of a command.
`

// Run executes the command line args and returns the process exit code.
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], env)
	case "migrate":
		err = runMigrate(ctx, args[1:], env)
	case "analyze":
		err = runAnalyze(ctx, args[1:], env)
	case "tasks":
		err = runTasks(ctx, args[1:], env)
	case "batches":
		err = runBatches(ctx, args[1:], env)
	case "assets":
		err = runAssets(ctx, args[1:], env)
	case "webhooks":
		err = runWebhooks(ctx, args[1:], env)
	case "models":
		err = runModels(ctx, args[1:], env)
	case "accounts":
		err = runAccounts(ctx, args[1:], env)
	case "keys":
		err = runKeys(ctx, args[1:], env)
	case "version":
		fmt.Fprintln(env.Stdout, "framewise", version())
	case "-h", "-help", "--help", "help":
		fmt.Fprint(env.Stdout, usage)
	default:
		fmt.Fprintf(env.Stderr, "framewise: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(env.Stderr, "framewise %s: %v\n", args[0], err)
			return 2
		}
		fmt.Fprintf(env.Stderr, "framewise %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// usageError is a command line the user must correct (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }
