package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
)

// directUploadMax is the largest file "assets upload" sends in one request;
// larger files go as resumable multipart uploads.
const directUploadMax = 30 << 20

const assetsUsage = `framewise assets upload|list|get|delete|wait|uploads|abort ...

  framewise assets upload FILE [--filename N] [--type video|audio|image] [--metadata JSON] [--wait] [--json]
  framewise assets list [--type T] [--filename F] [--page N] [--page-limit N] [--all] [--json]
  framewise assets get ID [--json]
  framewise assets delete ID
  framewise assets wait ID [--json]
  framewise assets uploads [--json]        incomplete multipart uploads
  framewise assets abort UPLOAD_ID         abort a multipart upload and delete its chunks now

Files up to 30 MB are sent in one request; larger ones (up to 10 GiB) as a
multipart upload in parallel chunks with a progress bar. An interrupted
multipart upload resumes when the same command runs again: the chunks the
server already has are not sent again. Uploaded files are remembered by
content (SHA-256) in assets.json of $FRAMEWISE_STATE_DIR (default: framewise
in the user cache directory), so that "framewise analyze" of a large file
with the same content reuses its asset instead of uploading it again.

Run "framewise assets COMMAND -h" for the flags of a command.
`

// runAssets implements "framewise assets".
func runAssets(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return usageError{"missing command: upload, list, get, delete, wait, uploads or abort"}
	}
	switch args[0] {
	case "upload", "up":
		return runAssetsUpload(ctx, args[1:], env)
	case "list", "ls":
		return runAssetsList(ctx, args[1:], env)
	case "get", "show":
		return runAssetsGet(ctx, args[1:], env)
	case "delete", "rm":
		return runAssetsDelete(ctx, args[1:], env)
	case "wait":
		return runAssetsWait(ctx, args[1:], env)
	case "uploads":
		return runAssetsUploads(ctx, args[1:], env)
	case "abort":
		return runAssetsAbort(ctx, args[1:], env)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(env.Stderr, "Usage: "+assetsUsage)
		return flag.ErrHelp
	}
	return usageError{fmt.Sprintf("unknown command %q: want upload, list, get, delete, wait, uploads or abort", args[0])}
}

func runAssetsUpload(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("assets upload")
	var cf clientFlags
	cf.register(fs, env, true)
	var o uploadOpts
	fs.StringVar(&o.filename, "filename", "", "name of the asset (default: the file's name)")
	fs.StringVar(&o.typ, "type", "", "video, audio or image (default: from the extension)")
	metadata := fs.String("metadata", "", `user metadata as a JSON object, e.g. '{"camera":"front"}'`)
	fs.IntVar(&o.concurrency, "concurrency", 4, "chunks sent at once in a multipart upload")
	fs.BoolVar(&o.multipart, "multipart", false, "use a multipart upload even for a small file")
	wait := fs.Bool("wait", false, "wait until the asset is ready (or failed)")
	pos, err := parseFlags(fs, "framewise assets upload FILE [flags]", args, env)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"assets upload takes one FILE"}
	}
	if *metadata != "" {
		if err := json.Unmarshal([]byte(*metadata), &o.metadata); err != nil || o.metadata == nil {
			return usageError{fmt.Sprintf("--metadata %q: want a JSON object", *metadata)}
		}
	}
	c := cf.client(env)
	a, err := uploadAsset(ctx, c, &cf, pos[0], o, env)
	if err != nil {
		return err
	}
	if *wait {
		if a, err = waitAsset(ctx, c, &cf, a.ID, env); err != nil {
			return err
		}
	}
	if cf.json {
		return cf.explain(printAssetJSON(ctx, c, a.ID, env))
	}
	fmt.Fprintln(env.Stdout, a.ID)
	return nil
}

// uploadOpts are the choices of an upload.
type uploadOpts struct {
	filename, typ string
	metadata      map[string]any
	concurrency   int
	multipart     bool
	// sha256 is the file's hash when the caller computed it already.
	sha256 string
}

// uploadAsset uploads a local file: in one request when it is small,
// else as a resumable multipart upload with a progress display. It
// records the new asset in the asset cache under the file's SHA-256,
// computed while the file is uploaded. It returns the asset, still
// processing.
func uploadAsset(ctx context.Context, c *client.Client, cf *clientFlags, path string, o uploadOpts, env Env) (*api.Asset, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	var hash contentHash
	remember := func(a *api.Asset, sum string) {
		if sum == "" {
			return
		}
		if err := newAssetCache(env).put(c.BaseURL(), sum, fi.Size(), a.ID, path); err != nil {
			fmt.Fprintf(env.Stderr, "warning: cannot remember the asset for reuse: %v\n", err)
		}
	}
	if fi.Size() <= directUploadMax && !o.multipart {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r := io.Reader(f)
		if o.sha256 == "" {
			r = hash.tee(f)
		}
		a, err := c.CreateAsset(ctx, r, filepath.Base(path), &client.AssetOptions{Filename: o.filename, UserMetadata: o.metadata})
		if err != nil {
			return nil, cf.explain(err)
		}
		fmt.Fprintf(env.Stderr, "uploaded %s (%s) as asset %s\n", filepath.Base(path), mib(fi.Size()), a.ID)
		remember(a, cmp.Or(o.sha256, hash.teeSum(fi.Size())))
		return a, nil
	}
	hashCtx, stopHash := context.WithCancel(ctx)
	defer stopHash()
	if o.sha256 == "" {
		hash.background(hashCtx, path)
	}

	states := newUploadStates(env)
	key := states.key(cf.server, path, fi)
	prev := states.get(key)
	bar := newByteProgress(env.Stderr, env)
	opts := client.UploadOptions{
		Filename: o.filename, Type: o.typ, UserMetadata: o.metadata, Concurrency: o.concurrency,
		UploadID: prev,
		OnSession: func(s client.UploadSession) {
			if s.Resumed {
				fmt.Fprintf(env.Stderr, "resuming upload %s: %d of %d chunks already on the server\n", s.UploadID, s.CompletedChunks, s.TotalChunks)
			} else {
				fmt.Fprintf(env.Stderr, "uploading %s (%s) in %d chunks of %s, upload %s\n",
					filepath.Base(path), mib(fi.Size()), s.TotalChunks, mib(s.ChunkSize), s.UploadID)
			}
			if err := states.put(key, s.UploadID); err != nil {
				fmt.Fprintf(env.Stderr, "warning: cannot remember the upload for resuming: %v\n", err)
			}
			bar.start(s.CompletedChunks, s.TotalChunks, fi.Size())
		},
		OnProgress: func(p client.UploadProgress) { bar.update(p) },
	}
	res, err := c.UploadFile(ctx, path, opts)
	bar.done()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("upload interrupted (%v); run the same command again to resume it", ctx.Err())
		}
		return nil, cf.explain(err)
	}
	states.remove(key)
	fmt.Fprintf(env.Stderr, "uploaded %s as asset %s (%d chunks sent)\n", filepath.Base(path), res.AssetID, res.ChunksSent)
	a, err := c.GetAsset(ctx, res.AssetID)
	if err != nil {
		return nil, cf.explain(err)
	}
	sum := o.sha256
	if sum == "" {
		if sum, err = hash.wait(); err != nil {
			fmt.Fprintf(env.Stderr, "warning: cannot hash %s to remember the asset for reuse: %v\n", path, err)
		}
	}
	remember(a, sum)
	return a, nil
}

// waitAsset waits until an asset is ready; a failed asset is an error.
func waitAsset(ctx context.Context, c *client.Client, cf *clientFlags, id string, env Env) (*api.Asset, error) {
	fmt.Fprintf(env.Stderr, "asset %s processing…\n", id)
	a, err := c.WaitAsset(ctx, id)
	if err != nil {
		var fe *client.AssetFailedError
		if errors.As(err, &fe) {
			return a, err
		}
		return a, cf.explain(err)
	}
	fmt.Fprintf(env.Stderr, "asset %s ready\n", id)
	return a, nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func printAssetJSON(ctx context.Context, c *client.Client, id string, env Env) error {
	var raw json.RawMessage
	if _, err := c.GetAsset(ctx, id, client.WithRawResponse(&raw)); err != nil {
		return err
	}
	writeRaw(env.Stdout, raw)
	return nil
}

func runAssetsList(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("assets list")
	var cf clientFlags
	cf.register(fs, env, true)
	var opts client.AssetListOptions
	fs.IntVar(&opts.Page, "page", 0, "page to show, from 1 (default 1)")
	fs.IntVar(&opts.PageLimit, "page-limit", 0, "assets per page, at most 50 (default 10)")
	fs.StringVar(&opts.Filename, "filename", "", "only assets whose name contains this (any case)")
	fs.Func("type", "only assets of this type: video, audio or image (repeatable)", func(v string) error {
		opts.Types = append(opts.Types, v)
		return nil
	})
	all := fs.Bool("all", false, "list every page, from --page on")
	pos, err := parseFlags(fs, "framewise assets list [flags]", args, env)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("assets list takes no arguments, got %q", strings.Join(pos, " "))}
	}
	c := cf.client(env)
	if !*all {
		var raw json.RawMessage
		list, err := c.ListAssets(ctx, opts, client.WithRawResponse(&raw))
		if err != nil {
			return cf.explain(err)
		}
		if cf.json {
			writeRaw(env.Stdout, raw)
			return nil
		}
		tw := newAssetTable(env.Stdout)
		for _, a := range list.Data {
			assetRow(tw, a)
		}
		tw.Flush()
		pi := list.PageInfo
		fmt.Fprintf(env.Stderr, "page %d of %d, %d assets\n", pi.Page, pi.TotalPage, pi.TotalResults)
		return nil
	}
	tw := newAssetTable(env.Stdout)
	enc := json.NewEncoder(env.Stdout)
	for a, err := range c.Assets(ctx, opts) {
		if err != nil {
			tw.Flush()
			return cf.explain(err)
		}
		if cf.json {
			enc.Encode(a)
			continue
		}
		assetRow(tw, a)
	}
	if !cf.json {
		tw.Flush()
	}
	return nil
}

func newAssetTable(w io.Writer) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tTYPE\tSIZE\tDURATION\tCREATED\tFILENAME")
	return tw
}

func assetRow(tw io.Writer, a api.Asset) {
	size, dur := "-", "-"
	if a.Size != nil {
		size = mib(*a.Size)
	}
	if a.Duration != nil {
		dur = fmt.Sprintf("%.1fs", *a.Duration)
	}
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Status, a.FileType, size, dur,
		formatTime(a.CreatedAt), a.Filename)
}

func runAssetsGet(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("assets get")
	var cf clientFlags
	cf.register(fs, env, true)
	pos, err := parseFlags(fs, "framewise assets get ID [--json]", args, env)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"assets get takes one asset ID"}
	}
	c := cf.client(env)
	if cf.json {
		return cf.explain(printAssetJSON(ctx, c, pos[0], env))
	}
	a, err := c.GetAsset(ctx, pos[0])
	if err != nil {
		return cf.explain(err)
	}
	printAsset(env.Stdout, a)
	return nil
}

func printAsset(w io.Writer, a *api.Asset) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id:\t%s\nstatus:\t%s\nmethod:\t%s\nfilename:\t%s\nfile type:\t%s\ncreated:\t%s\n",
		a.ID, a.Status, a.Method, a.Filename, a.FileType, formatTime(a.CreatedAt))
	if a.Size != nil {
		fmt.Fprintf(tw, "size:\t%d bytes (%s)\n", *a.Size, mib(*a.Size))
	}
	if a.Duration != nil {
		fmt.Fprintf(tw, "duration:\t%.3f s\n", *a.Duration)
	}
	if tm := a.TechnicalMetadata; tm != nil {
		if tm.VideoCodec != "" {
			fmt.Fprintf(tw, "video:\t%s %dx%d %.3g fps\n", tm.VideoCodec, tm.VideoWidth, tm.VideoHeight, tm.VideoFPS)
		}
		if tm.AudioCodec != "" {
			fmt.Fprintf(tw, "audio:\t%s %d Hz %d ch\n", tm.AudioCodec, tm.AudioSampleRate, tm.AudioChannels)
		}
		if tm.ImageWidth > 0 {
			fmt.Fprintf(tw, "image:\t%s %dx%d\n", tm.ImageFormat, tm.ImageWidth, tm.ImageHeight)
		}
	}
	if len(a.UserMetadata) > 0 {
		b, _ := json.Marshal(a.UserMetadata)
		fmt.Fprintf(tw, "metadata:\t%s\n", b)
	}
	if a.Error != nil {
		fmt.Fprintf(tw, "error:\t%s\n", a.Error.Message)
	}
	tw.Flush()
}

func runAssetsDelete(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("assets delete")
	var cf clientFlags
	cf.register(fs, env, false)
	pos, err := parseFlags(fs, "framewise assets delete ID", args, env)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"assets delete takes one asset ID"}
	}
	c := cf.client(env)
	if err := c.DeleteAsset(ctx, pos[0]); err != nil {
		return cf.explain(err)
	}
	newAssetCache(env).forget(c.BaseURL(), pos[0])
	fmt.Fprintf(env.Stderr, "asset %s deleted\n", pos[0])
	return nil
}

func runAssetsAbort(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("assets abort")
	var cf clientFlags
	cf.register(fs, env, false)
	pos, err := parseFlags(fs, "framewise assets abort UPLOAD_ID", args, env)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"assets abort takes one upload ID (list them with: framewise assets uploads)"}
	}
	if err := cf.client(env).AbortUpload(ctx, pos[0]); err != nil {
		return cf.explain(err)
	}
	fmt.Fprintf(env.Stderr, "upload %s aborted; its chunks are deleted\n", pos[0])
	return nil
}

func runAssetsWait(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("assets wait")
	var cf clientFlags
	cf.register(fs, env, true)
	pos, err := parseFlags(fs, "framewise assets wait ID [--json]", args, env)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"assets wait takes one asset ID"}
	}
	c := cf.client(env)
	a, err := waitAsset(ctx, c, &cf, pos[0], env)
	if err != nil && a == nil {
		return err
	}
	if cf.json {
		if perr := printAssetJSON(ctx, c, pos[0], env); perr != nil {
			return cf.explain(perr)
		}
	} else if a != nil {
		printAsset(env.Stdout, a)
	}
	return err
}

func runAssetsUploads(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("assets uploads")
	var cf clientFlags
	cf.register(fs, env, true)
	pos, err := parseFlags(fs, "framewise assets uploads [--json]", args, env)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{"assets uploads takes no arguments"}
	}
	c := cf.client(env)
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	if !cf.json {
		fmt.Fprintln(tw, "UPLOAD ID\tASSET ID\tSIZE\tCHUNKS\tEXPIRES")
	}
	enc := json.NewEncoder(env.Stdout)
	for page := 1; ; page++ {
		list, err := c.ListUploads(ctx, page, 50)
		if err != nil {
			tw.Flush()
			return cf.explain(err)
		}
		for _, u := range list.Data {
			if cf.json {
				enc.Encode(u)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", u.UploadID, u.AssetID, mib(u.TotalSize), u.TotalChunks, formatTime(u.ExpiresAt))
		}
		if len(list.Data) == 0 || page >= list.PageInfo.TotalPage {
			break
		}
	}
	return tw.Flush()
}
