package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"

	"github.com/framewise/framewise/client"
)

// defaultServer is where client commands look for a server when neither
// --server nor FRAMEWISE_URL says otherwise.
const defaultServer = "http://127.0.0.1:8700"

// clientFlags are the flags shared by every command that calls the API.
type clientFlags struct {
	server string
	apiKey string
	json   bool
}

// register adds --server and --api-key, and --json when withJSON is set.
// The API key is read from the environment after parsing, so that -h does
// not print it as a default.
func (cf *clientFlags) register(fs *flag.FlagSet, env Env, withJSON bool) {
	server := getenv(env, "FRAMEWISE_URL")
	if server == "" {
		server = defaultServer
	}
	fs.StringVar(&cf.server, "server", server, "URL of the framewise server (env FRAMEWISE_URL)")
	fs.StringVar(&cf.apiKey, "api-key", "", "API key, sent as x-api-key (env FRAMEWISE_API_KEY)")
	if withJSON {
		fs.BoolVar(&cf.json, "json", false, "print the raw JSON of the API response")
	}
}

// client returns an API client for the parsed flags.
func (cf *clientFlags) client(env Env) *client.Client {
	key := cf.apiKey
	if key == "" {
		key = getenv(env, "FRAMEWISE_API_KEY")
	}
	return client.New(cf.server, client.WithAPIKey(key), client.WithUserAgent("framewise-cli/"+userAgentVersion()))
}

// explain adds to an API call's error what the user can do about it.
func (cf *clientFlags) explain(err error) error {
	var opErr *net.OpError
	var urlErr *url.Error
	switch {
	case errors.Is(err, client.ErrUnauthorized):
		return fmt.Errorf("%w (check --api-key or FRAMEWISE_API_KEY)", err)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Errorf("cannot reach the framewise server at %s: %w (is \"framewise serve\" running? set --server or FRAMEWISE_URL)", cf.server, err)
	case errors.As(err, &urlErr) && strings.Contains(urlErr.Err.Error(), "unsupported protocol scheme"):
		return fmt.Errorf("bad --server %q: want a URL such as %s", cf.server, defaultServer)
	}
	return err
}

func getenv(env Env, key string) string {
	if env.Getenv == nil {
		return ""
	}
	return env.Getenv(key)
}

// newFlagSet returns a flag set that reports problems through the error of
// parseFlags instead of printing them, so that Run prints each problem once.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args, which may mix flags and positional arguments in
// any order ("analyze video.mp4 --prompt x --wait"), and returns the
// positional ones. On -h it prints usage and the flags to env.Stderr and
// returns flag.ErrHelp; a bad flag is a usageError.
func parseFlags(fs *flag.FlagSet, usage string, args []string, env Env) ([]string, error) {
	err := fs.Parse(flagsFirst(fs, args))
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(env.Stderr, "Usage: %s\n\nFlags:\n", usage)
		fs.SetOutput(env.Stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		return nil, err
	}
	if err != nil {
		return nil, usageError{fmt.Sprintf("%v (see \"framewise %s -h\")", err, fs.Name())}
	}
	return fs.Args(), nil
}

// flagsFirst moves the flags of args, with their values, before the
// positional arguments, and ends the flags with "--" so that a positional
// argument is never read as a flag. Everything after a "--" in args stays
// positional. Unknown flags are kept for fs.Parse to report.
func flagsFirst(fs *flag.FlagSet, args []string) []string {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 == len(args) {
			return flags // value missing: let fs.Parse say so
		}
		flags = append(flags, args[i+1])
		i++
	}
	return append(append(flags, "--"), positional...)
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// writeRaw prints a raw JSON response on its own line.
func writeRaw(w io.Writer, raw []byte) {
	w.Write(raw)
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		io.WriteString(w, "\n")
	}
}
