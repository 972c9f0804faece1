package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
)

// maxInlineVideoBytes is the largest local file analyze sends inline as
// base64_string: the API's 30 MB limit on decoded bytes. Larger files are
// uploaded as assets first.
const maxInlineVideoBytes = 30 << 20

const analyzeUsage = `framewise analyze VIDEO_FILE_OR_URL --prompt TEXT [flags]

Creates an analysis task and prints its id. An http(s) argument is sent as a
URL for the server to download; a local file of at most 30 MB is sent inline,
a larger one is uploaded as an asset first (resumable, with a progress bar).
With --wait, shows progress and prints the result.`

// runAnalyze implements "framewise analyze".
func runAnalyze(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("analyze")
	var cf clientFlags
	cf.register(fs, env, true)
	prompt := fs.String("prompt", "", "what to ask about the video (required except in time_based_metadata mode)")
	model := fs.String("model", "", "model: pegasus1.2 or pegasus1.5 (default: the server's)")
	mode := fs.String("mode", "", "analysis mode: general or time_based_metadata (default general)")
	rfPath := fs.String("response-format", "", "JSON `file` holding the response_format object")
	temperature := fs.Float64("temperature", 0, "sampling temperature, 0 to 1 (default: the server's, 0.2)")
	maxTokens := fs.Int("max-tokens", 0, "most tokens to generate (default: the server's)")
	customID := fs.String("custom-id", "", "your own identifier for the task")
	start := fs.Float64("start", 0, "analyze from this second of the video (pegasus1.5)")
	end := fs.Float64("end", 0, "analyze up to this second of the video (pegasus1.5)")
	wait := fs.Bool("wait", false, "wait for the task, show progress and print the result")
	idemKey := fs.String("idempotency-key", "", "Idempotency-Key of the create request: the server creates one task per key within 24 h (default: a new random key, so that retries never create a second task)")
	pos, err := parseFlags(fs, analyzeUsage, args, env)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usageError{"missing VIDEO_FILE_OR_URL"}
	case len(pos) > 1:
		return usageError{fmt.Sprintf("one video at a time, got %d arguments: %s", len(pos), strings.Join(pos, " "))}
	case *prompt == "" && *mode != api.ModeTimeBasedMetadata:
		return usageError{"--prompt is required (except with --mode time_based_metadata)"}
	}

	req := &api.CreateTaskRequest{}
	set := setFlags(fs)
	optString := func(name, v string) *string {
		if set[name] {
			return api.String(v)
		}
		return nil
	}
	optFloat := func(name string, v float64) *float64 {
		if set[name] {
			return api.Float(v)
		}
		return nil
	}
	req.Prompt = optString("prompt", *prompt)
	req.ModelName = optString("model", *model)
	req.AnalysisMode = optString("mode", *mode)
	req.CustomID = optString("custom-id", *customID)
	req.Temperature = optFloat("temperature", *temperature)
	req.StartTime = optFloat("start", *start)
	req.EndTime = optFloat("end", *end)
	if set["max-tokens"] {
		req.MaxTokens = api.Int(*maxTokens)
	}
	if *rfPath != "" {
		if req.ResponseFormat, err = readResponseFormat(*rfPath); err != nil {
			return err
		}
	}
	var upload bool
	if req.Video, upload, err = videoSource(pos[0]); err != nil {
		return err
	}

	c := cf.client(env)
	if upload {
		a, err := uploadAsset(ctx, c, &cf, pos[0], uploadOpts{typ: api.AssetTypeVideo}, env)
		if err != nil {
			return err
		}
		if _, err := waitAsset(ctx, c, &cf, a.ID, env); err != nil {
			return err
		}
		req.Video = &api.VideoContext{Type: api.SourceAssetID, AssetID: a.ID}
	}
	if *idemKey == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		*idemKey = "framewise-cli-" + hex.EncodeToString(b[:])
	}
	var raw json.RawMessage
	created, err := c.CreateTask(ctx, req, client.WithRawResponse(&raw), client.WithIdempotencyKey(*idemKey))
	if err != nil {
		return cf.explain(err)
	}
	if !*wait {
		if cf.json {
			writeRaw(env.Stdout, raw)
		} else {
			fmt.Fprintln(env.Stdout, created.TaskID)
		}
		return nil
	}
	fmt.Fprintf(env.Stderr, "task %s %s\n", created.TaskID, created.Status)
	return waitAndPrint(ctx, c, &cf, created.TaskID, env)
}

// videoSource turns the command's argument into a video: an http(s) URL as
// is, a local file of at most 30 MB inline. For a larger local file it
// returns upload = true: the caller uploads it as an asset.
func videoSource(arg string) (v *api.VideoContext, upload bool, err error) {
	if lower := strings.ToLower(arg); strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
		return &api.VideoContext{Type: api.SourceURL, URL: arg}, false, nil
	}
	fi, err := os.Stat(arg)
	if err != nil {
		return nil, false, fmt.Errorf("video: %w (give a local file or an http(s) URL)", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, false, fmt.Errorf("video: %s is not a regular file", arg)
	}
	if fi.Size() > maxInlineVideoBytes {
		return nil, true, nil
	}
	data, err := os.ReadFile(arg)
	if err != nil {
		return nil, false, fmt.Errorf("video: %w", err)
	}
	return &api.VideoContext{Type: api.SourceBase64, Base64String: base64.StdEncoding.EncodeToString(data)}, false, nil
}

// readResponseFormat reads the response_format object from a JSON file.
// Unknown keys are refused so that a misspelt key is not silently dropped.
func readResponseFormat(path string) (*api.ResponseFormat, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--response-format: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var rf api.ResponseFormat
	if err := dec.Decode(&rf); err != nil {
		return nil, fmt.Errorf("--response-format %s: %w (want an object like {\"type\": \"json_schema\", \"json_schema\": {...}})", path, err)
	}
	return &rf, nil
}
