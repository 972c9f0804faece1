package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/framewise/framewise/client"
)

const accountsUsage = `framewise accounts create|list|delete ...   (operators: needs an admin key)

  framewise accounts create NAME [--json]   create an account; prints its first API key (shown once)
  framewise accounts list [--json]
  framewise accounts delete NAME            refused while the account owns tasks, assets or uploads

Every command takes --server (env FRAMEWISE_URL) and --admin-key (env FRAMEWISE_ADMIN_KEY).
`

const keysUsage = `framewise keys create|list|revoke ...   (operators: needs an admin key)

  framewise keys create --account NAME [--json]   a new API key of the account (shown once)
  framewise keys list --account NAME [--json]     key ids and dates, never the keys
  framewise keys revoke ID [--json]               refused from the next request on

Every command takes --server (env FRAMEWISE_URL) and --admin-key (env FRAMEWISE_ADMIN_KEY).
`

// adminFlags are clientFlags whose key is an admin key.
type adminFlags struct {
	clientFlags
	adminKey string
}

func (af *adminFlags) register(fs *flag.FlagSet, env Env) {
	af.clientFlags.register(fs, env, true)
	fs.StringVar(&af.adminKey, "admin-key", "", "an admin key of the server (its --admin-key), sent as x-api-key (env FRAMEWISE_ADMIN_KEY)")
}

// client returns a client that sends the admin key, or a usageError
// when there is none.
func (af *adminFlags) client(env Env) (*client.Client, error) {
	if af.adminKey == "" {
		af.adminKey = getenv(env, "FRAMEWISE_ADMIN_KEY")
	}
	if af.adminKey == "" {
		return nil, usageError{"missing admin key: set --admin-key or FRAMEWISE_ADMIN_KEY to one of the server's admin keys"}
	}
	af.apiKey = af.adminKey
	return af.clientFlags.client(env), nil
}

// explain adds what to do to an admin call's error.
func (af *adminFlags) explain(err error) error {
	if errors.Is(err, client.ErrUnauthorized) {
		return fmt.Errorf("%w (check --admin-key or FRAMEWISE_ADMIN_KEY: it must be one of the server's admin keys)", err)
	}
	return af.clientFlags.explain(err)
}

// output prints raw with --json, else runs text.
func (af *adminFlags) output(env Env, raw json.RawMessage, text func()) {
	if af.json {
		writeRaw(env.Stdout, raw)
		return
	}
	text()
}

func runAccounts(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return usageError{"missing command: create, list or delete"}
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.Stdout, accountsUsage)
		return nil
	}
	fs := newFlagSet("accounts " + args[0])
	var af adminFlags
	af.register(fs, env)
	pos, err := parseFlags(fs, "framewise accounts "+args[0]+" [NAME] [flags]", args[1:], env)
	if err != nil {
		return err
	}
	var name string
	switch args[0] {
	case "create", "delete":
		if len(pos) != 1 || pos[0] == "" {
			return usageError{fmt.Sprintf("framewise accounts %s NAME: want one account name", args[0])}
		}
		name = pos[0]
	case "list":
		if len(pos) > 0 {
			return usageError{"framewise accounts list takes no arguments"}
		}
	default:
		return usageError{fmt.Sprintf("unknown command %q: want create, list or delete", args[0])}
	}
	c, err := af.client(env)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	switch args[0] {
	case "create":
		a, err := c.CreateAccount(ctx, name, client.WithRawResponse(&raw))
		if err != nil {
			return af.explain(err)
		}
		af.output(env, raw, func() {
			fmt.Fprintf(env.Stdout, "created account %s; its API key (shown once, store it now):\n%s\n", a.Name, a.APIKey)
		})
	case "list":
		list, err := c.ListAccounts(ctx, client.WithRawResponse(&raw))
		if err != nil {
			return af.explain(err)
		}
		af.output(env, raw, func() {
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tACTIVE KEYS\tCREATED")
			for _, a := range list.Data {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", a.Name, a.ActiveKeys, a.CreatedAt.Format(time.RFC3339))
			}
			tw.Flush()
		})
	case "delete":
		if err := c.DeleteAccount(ctx, name); err != nil {
			return af.explain(err)
		}
		if af.json {
			writeRaw(env.Stdout, []byte(fmt.Sprintf(`{"deleted":%q}`, name)))
			return nil
		}
		fmt.Fprintln(env.Stdout, "deleted account", name)
	}
	return nil
}

func runKeys(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return usageError{"missing command: create, list or revoke"}
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.Stdout, keysUsage)
		return nil
	}
	fs := newFlagSet("keys " + args[0])
	var af adminFlags
	af.register(fs, env)
	var acct string
	if args[0] == "create" || args[0] == "list" {
		fs.StringVar(&acct, "account", "", "the account's name")
	}
	pos, err := parseFlags(fs, "framewise keys "+args[0]+" [--account NAME | ID] [flags]", args[1:], env)
	if err != nil {
		return err
	}
	switch args[0] {
	case "create", "list":
		if acct == "" || len(pos) > 0 {
			return usageError{fmt.Sprintf("framewise keys %s --account NAME: want the account's name in --account", args[0])}
		}
	case "revoke":
		if len(pos) != 1 || pos[0] == "" {
			return usageError{"framewise keys revoke ID: want one key id (see \"framewise keys list --account NAME\")"}
		}
	default:
		return usageError{fmt.Sprintf("unknown command %q: want create, list or revoke", args[0])}
	}
	c, err := af.client(env)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	switch args[0] {
	case "create":
		k, err := c.CreateKey(ctx, acct, client.WithRawResponse(&raw))
		if err != nil {
			return af.explain(err)
		}
		af.output(env, raw, func() {
			fmt.Fprintf(env.Stdout, "created key %s of account %s (shown once, store it now):\n%s\n", k.ID, k.Account, k.Key)
		})
	case "list":
		list, err := c.ListKeys(ctx, acct, client.WithRawResponse(&raw))
		if err != nil {
			return af.explain(err)
		}
		af.output(env, raw, func() {
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCREATED\tREVOKED")
			for _, k := range list.Data {
				revoked := "-"
				if k.RevokedAt != nil {
					revoked = k.RevokedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", k.ID, k.CreatedAt.Format(time.RFC3339), revoked)
			}
			tw.Flush()
		})
	case "revoke":
		k, err := c.RevokeKey(ctx, pos[0], client.WithRawResponse(&raw))
		if err != nil {
			return af.explain(err)
		}
		af.output(env, raw, func() { fmt.Fprintf(env.Stdout, "revoked key %s of account %s\n", k.ID, k.Account) })
	}
	return nil
}
