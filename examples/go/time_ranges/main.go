// Command time_ranges segments chosen parts of a video: each segment
// definition looks only at its time_ranges. It is the request of
// examples/curl/time_ranges.json, sent with the Go client, and needs a
// vision-language model behind pegasus1.5. The ranges need a video of at
// least 24 s.
//
//	go run ./examples/go/time_ranges -server http://127.0.0.1:8700 -key secret -video clip.mp4
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
)

// definitions: time ranges are in seconds of the video, at least 2 s long,
// within its duration and not overlapping inside one definition. A request
// with time_ranges may not set start_time/end_time nor
// min/max_segment_duration.
var definitions = []api.SegmentDefinition{
	{
		ID:          "opening",
		Description: "Shots of the opening of the video",
		TimeRanges:  []api.TimeRange{{StartTime: 0, EndTime: 8}},
		Fields: []api.SegmentField{
			{Name: "description", Type: "string", Description: "What the shot shows"},
			{Name: "mood", Type: "string", Enum: []string{"calm", "tense", "joyful", "sad", "neutral"}, Description: "The mood of the shot"},
		},
	},
	{
		ID:          "later_shots",
		Description: "Shots in two later parts of the video",
		TimeRanges:  []api.TimeRange{{StartTime: 12, EndTime: 16}, {StartTime: 20, EndTime: 24}},
		Fields: []api.SegmentField{
			{Name: "description", Type: "string", Description: "What the shot shows"},
			{Name: "duration", Type: "number", Description: "How long the shot lasts, in seconds"},
		},
	},
}

func main() {
	server := flag.String("server", envOr("FRAMEWISE_URL", "http://127.0.0.1:8700"), "framewise address")
	key := flag.String("key", os.Getenv("FRAMEWISE_API_KEY"), "API key, sent as x-api-key")
	video := flag.String("video", "", "video file or http(s) URL (required)")
	flag.Parse()
	if *video == "" {
		flag.Usage()
		os.Exit(2)
	}
	log.SetFlags(0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	c := client.New(*server, client.WithAPIKey(*key))

	src, err := videoSource(ctx, c, *video)
	if err != nil {
		log.Fatal(err)
	}
	task, err := run(ctx, c, &api.CreateTaskRequest{
		ModelName:    api.String(api.ModelPegasus15),
		Video:        src,
		AnalysisMode: api.String(api.ModeTimeBasedMetadata),
		ResponseFormat: &api.ResponseFormat{
			Type:               "segment_definitions",
			SegmentDefinitions: definitions,
			SegmentTimeFormat:  api.String("hh:mm:ss"),
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	printJSON(task.Result.Data)
}

// printJSON prints result.data, which holds a JSON document, indented.
func printJSON(data string) {
	var out bytes.Buffer
	if err := json.Indent(&out, []byte(data), "", "  "); err != nil {
		fmt.Println(data) // cut short (finish_reason "length"): print as is
		return
	}
	fmt.Println(out.String())
}

// maxBase64 is the largest file framewise takes inside a JSON body (30 MB).
const maxBase64 = 30 << 20

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// videoSource turns a URL or a local file into the video of a request: a
// URL as is, a file up to 30 MB as base64, a bigger file uploaded as an
// asset first (a resumable multipart upload).
func videoSource(ctx context.Context, c *client.Client, arg string) (*api.VideoContext, error) {
	if isURL(arg) {
		return &api.VideoContext{Type: api.SourceURL, URL: arg}, nil
	}
	fi, err := os.Stat(arg)
	if err != nil {
		return nil, err
	}
	if fi.Size() <= maxBase64 {
		data, err := os.ReadFile(arg)
		if err != nil {
			return nil, err
		}
		return &api.VideoContext{Type: api.SourceBase64, Base64String: base64.StdEncoding.EncodeToString(data)}, nil
	}
	log.Printf("uploading %s as an asset", arg)
	up, err := c.UploadFile(ctx, arg, client.UploadOptions{})
	if err != nil {
		return nil, err
	}
	if _, err := c.WaitAsset(ctx, up.AssetID); err != nil {
		return nil, err
	}
	return &api.VideoContext{Type: api.SourceAssetID, AssetID: up.AssetID}, nil
}

// run creates the task, waits until it is ready (logging each new status)
// and returns it.
func run(ctx context.Context, c *client.Client, req *api.CreateTaskRequest) (*api.Task, error) {
	created, err := c.CreateTask(ctx, req)
	if err != nil {
		return nil, err
	}
	last := ""
	task, err := c.Wait(ctx, created.TaskID, client.OnUpdate(func(t *api.Task) {
		if t.Status != last {
			log.Printf("task %s: %s", t.TaskID, t.Status)
			last = t.Status
		}
	}))
	if err != nil {
		return nil, err
	}
	if task.Error != nil { // on a ready task, a warning: the answer was cut at max_tokens
		log.Printf("warning: %s", task.Error.Message)
	}
	return task, nil
}
