package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
       framewise analyze VIDEO_FILE_OR_URL --segments FILE.json [flags]
       framewise analyze VIDEO_FILE_OR_URL --prompt TEXT --sync [flags]

Creates an analysis task and prints its id. An http(s) argument is sent as a
URL for the server to download; a local file of at most 30 MB is sent inline,
a larger one is uploaded as an asset first (resumable, with a progress bar)
unless the same content was uploaded to the server from this machine before.
With --wait, shows progress and prints the result: segments as tables, JSON
indented, text as is (with --json, the task as the server sends it).

--segments FILE.json asks for timestamped segments (analysis mode
time_based_metadata): the file holds an array of segment definitions, e.g.
  [{"id": "scenes", "description": "each scene",
    "fields": [{"name": "summary", "type": "string"}]}]
or an object {"segment_definitions": [...], "segment_time_format": "hh:mm:ss"}.
Without --model, options that need pegasus1.5 (--segments, --mode
time_based_metadata, --start, --end, --min/max-segment-duration) select it.

With --sync, the video is analyzed while the command waits (POST /analyze,
videos of at most 1 hour, general mode only) and the answer is printed as
the server produces it; with --json, the whole answer as the server sends it.`

// runAnalyze implements "framewise analyze".
func runAnalyze(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("analyze")
	var cf clientFlags
	cf.register(fs, env, true)
	prompt := fs.String("prompt", "", "what to ask about the video (required except in time_based_metadata mode)")
	model := fs.String("model", "", "model: pegasus1.2 or pegasus1.5 (default: pegasus1.5 when an option needs it, else the server's)")
	mode := fs.String("mode", "", "analysis mode: general or time_based_metadata (default general, time_based_metadata with --segments)")
	rfPath := fs.String("response-format", "", "JSON `file` holding the response_format object")
	segPath := fs.String("segments", "", "JSON `file` of segment definitions: an array, or {\"segment_definitions\": [...], \"segment_time_format\": ...}; implies --mode time_based_metadata")
	segTimeFormat := fs.String("segment-time-format", "", "how segment times are written: seconds, hh:mm:ss or hh:mm:ss.fff (default seconds)")
	minSeg := fs.Float64("min-segment-duration", 0, "shortest segment, in `seconds` (time_based_metadata)")
	maxSeg := fs.Float64("max-segment-duration", 0, "longest segment, in `seconds` (time_based_metadata)")
	temperature := fs.Float64("temperature", 0, "sampling temperature, 0 to 1 (default: the server's, 0.2)")
	maxTokens := fs.Int("max-tokens", 0, "most tokens to generate (default: the server's)")
	customID := fs.String("custom-id", "", "your own identifier for the task")
	start := fs.Float64("start", 0, "analyze from this second of the video (pegasus1.5)")
	end := fs.Float64("end", 0, "analyze up to this second of the video (pegasus1.5)")
	wait := fs.Bool("wait", false, "wait for the task, show progress and print the result")
	syncRun := fs.Bool("sync", false, "analyze while the command waits (POST /analyze) and print the answer as it is produced; no task is created")
	idemKey := fs.String("idempotency-key", "", "Idempotency-Key of the create request: the server creates one task per key within 24 h (default: a new random key, so that retries never create a second task)")
	pos, err := parseFlags(fs, analyzeUsage, args, env)
	if err != nil {
		return err
	}
	set := setFlags(fs)
	switch {
	case len(pos) == 0:
		return usageError{"missing VIDEO_FILE_OR_URL"}
	case len(pos) > 1:
		return usageError{fmt.Sprintf("one video at a time, got %d arguments: %s", len(pos), strings.Join(pos, " "))}
	case set["segments"] && set["response-format"]:
		return usageError{"--segments and --response-format both set the response format: use one"}
	case set["segments"] && set["mode"] && *mode != api.ModeTimeBasedMetadata:
		return usageError{fmt.Sprintf("--segments needs --mode %s, not %q (or leave --mode out)", api.ModeTimeBasedMetadata, *mode)}
	case *syncRun:
		for _, name := range []string{"segments", "mode", "segment-time-format", "min-segment-duration", "max-segment-duration", "custom-id", "wait", "idempotency-key"} {
			if set[name] {
				return usageError{fmt.Sprintf("--%s does not go with --sync: a synchronous analysis answers a prompt in general mode (create a task for segments)", name)}
			}
		}
	}

	req := &api.CreateTaskRequest{}
	switch {
	case set["segments"]:
		req.ResponseFormat, err = readSegments(*segPath)
	case set["response-format"]:
		req.ResponseFormat, err = readResponseFormat(*rfPath)
	}
	if err != nil {
		return err
	}
	segmentFormat := req.ResponseFormat != nil && req.ResponseFormat.Type == "segment_definitions"
	if set["segment-time-format"] {
		if !segmentFormat {
			return usageError{"--segment-time-format needs --segments (or a --response-format of type segment_definitions)"}
		}
		req.ResponseFormat.SegmentTimeFormat = api.String(*segTimeFormat)
	}
	if segmentFormat && !set["mode"] {
		*mode, set["mode"] = api.ModeTimeBasedMetadata, true
	}
	if *prompt == "" && *mode != api.ModeTimeBasedMetadata {
		return usageError{"--prompt is required (except with --segments or --mode time_based_metadata)"}
	}

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
	req.MinSegmentDuration = optFloat("min-segment-duration", *minSeg)
	req.MaxSegmentDuration = optFloat("max-segment-duration", *maxSeg)
	if set["max-tokens"] {
		req.MaxTokens = api.Int(*maxTokens)
	}
	if req.ModelName == nil {
		// With an explicit --model the server judges the combination; its
		// message says what to change.
		if why := needsPegasus15(set, *mode, segmentFormat); len(why) > 0 {
			req.ModelName = api.String(api.ModelPegasus15)
			fmt.Fprintf(env.Stderr, "model %s (needed for %s)\n", api.ModelPegasus15, strings.Join(why, ", "))
		}
	}
	var upload bool
	if req.Video, upload, err = videoSource(pos[0]); err != nil {
		return err
	}

	c := cf.client(env)
	if upload {
		id, err := uploadVideo(ctx, c, &cf, pos[0], env)
		if err != nil {
			return err
		}
		req.Video = &api.VideoContext{Type: api.SourceAssetID, AssetID: id}
	}
	if *syncRun {
		return analyzeSync(ctx, c, &cf, req, env)
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

// analyzeSync runs "framewise analyze --sync": the answer's text is
// printed as it arrives; --json prints the non-streamed answer as sent.
func analyzeSync(ctx context.Context, c *client.Client, cf *clientFlags, t *api.CreateTaskRequest, env Env) error {
	req := &api.AnalyzeRequest{ModelName: t.ModelName, Video: t.Video, Prompt: t.Prompt, PromptV2: t.PromptV2,
		Temperature: t.Temperature, MaxTokens: t.MaxTokens, ResponseFormat: t.ResponseFormat, StartTime: t.StartTime, EndTime: t.EndTime}
	if cf.json {
		var raw json.RawMessage
		if _, err := c.Analyze(ctx, req, client.WithRawResponse(&raw)); err != nil {
			return cf.explain(err)
		}
		writeRaw(env.Stdout, raw)
		return nil
	}
	last := ""
	end, err := c.AnalyzeText(ctx, req, func(text string) {
		fmt.Fprint(env.Stdout, text)
		last = text
	})
	if last != "" && !strings.HasSuffix(last, "\n") {
		fmt.Fprintln(env.Stdout)
	}
	if err != nil {
		return cf.explain(err)
	}
	if end.Error != nil {
		fmt.Fprintf(env.Stderr, "warning: %s\n", end.Error.Message)
	}
	return nil
}

// needsPegasus15 lists the options given that only pegasus1.5 accepts.
func needsPegasus15(set map[string]bool, mode string, segmentFormat bool) []string {
	var why []string
	switch {
	case set["segments"]:
		why = append(why, "--segments")
	case segmentFormat:
		why = append(why, "--response-format of type segment_definitions")
	case mode == api.ModeTimeBasedMetadata:
		why = append(why, "--mode "+api.ModeTimeBasedMetadata)
	}
	for _, name := range []string{"start", "end", "min-segment-duration", "max-segment-duration"} {
		if set[name] {
			why = append(why, "--"+name)
		}
	}
	return why
}

// uploadVideo makes a local file an asset of the server and returns its
// id once the asset is ready: an asset uploaded before with the same
// content (see assetCache) when it is still there, else a new upload.
func uploadVideo(ctx context.Context, c *client.Client, cf *clientFlags, path string, env Env) (string, error) {
	o := uploadOpts{typ: api.AssetTypeVideo}
	a, err := reuseAsset(ctx, c, cf, path, &o, env)
	if err != nil {
		return "", err
	}
	if a == nil {
		if a, err = uploadAsset(ctx, c, cf, path, o, env); err != nil {
			return "", err
		}
	}
	if a.Status != api.AssetReady {
		if _, err := waitAsset(ctx, c, cf, a.ID, env); err != nil {
			return "", err
		}
	}
	return a.ID, nil
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
	var rf api.ResponseFormat
	if err := decodeStrict(data, &rf); err != nil {
		return nil, fmt.Errorf("--response-format %s: %w (want an object like {\"type\": \"json_schema\", \"json_schema\": {...}})", path, err)
	}
	return &rf, nil
}

// readSegments reads the segment definitions of --segments: a JSON array
// of definitions, or an object with segment_definitions and optionally
// segment_time_format (and type, which can only be segment_definitions, so
// that a response_format file works too). Unknown keys are refused, at
// every level.
func readSegments(path string) (*api.ResponseFormat, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--segments: %w", err)
	}
	const want = `want an array of segment definitions like [{"id": "scenes", "description": "each scene"}], ` +
		`or an object {"segment_definitions": [...], "segment_time_format": "hh:mm:ss"}`
	rf := &api.ResponseFormat{Type: "segment_definitions"}
	switch t := bytes.TrimLeft(data, " \t\r\n"); {
	case len(t) > 0 && t[0] == '[':
		err = decodeStrict(data, &rf.SegmentDefinitions)
	case len(t) > 0 && t[0] == '{':
		var obj struct {
			Type               string                  `json:"type"`
			SegmentDefinitions []api.SegmentDefinition `json:"segment_definitions"`
			SegmentTimeFormat  *string                 `json:"segment_time_format"`
		}
		if err = decodeStrict(data, &obj); err == nil && obj.Type != "" && obj.Type != "segment_definitions" {
			err = fmt.Errorf("type %q: only segment_definitions fits --segments (use --response-format for a json_schema)", obj.Type)
		}
		rf.SegmentDefinitions, rf.SegmentTimeFormat = obj.SegmentDefinitions, obj.SegmentTimeFormat
	default:
		err = errors.New("not a JSON array or object")
	}
	if err == nil && len(rf.SegmentDefinitions) == 0 {
		err = errors.New("no segment definitions")
	}
	if err != nil {
		return nil, fmt.Errorf("--segments %s: %w (%s)", path, err, want)
	}
	return rf, nil
}

// decodeStrict decodes one JSON value into v, refusing unknown object keys
// and anything after the value.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}
