// Command time_based_metadata segments a video: for each segment definition
// it prints the segments found, with their typed custom fields. It is the
// request of examples/curl/time_based_metadata.json, sent with the Go
// client, and needs a vision-language model behind pegasus1.5.
//
//	go run ./examples/go/time_based_metadata -server http://127.0.0.1:8700 -key secret -video clip.mp4
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

// definitions are the kinds of segments to find. Each id is a key of the
// result; each field becomes a key of every segment's metadata, of its type.
var definitions = []api.SegmentDefinition{
	{
		ID:          "scenes",
		Description: "Each continuous scene: a stretch of the video in one setting, ending at a cut or a clear change of setting.",
		Fields: []api.SegmentField{
			{Name: "summary", Type: "string", Description: "What happens in the scene, in one sentence"},
			{Name: "setting", Type: "string", Description: "Where the scene takes place",
				Enum: []string{"indoors", "outdoors", "studio", "screen", "unknown"}},
			{Name: "people", Type: "integer", Description: "How many people are visible"},
			{Name: "brightness", Type: "number", Description: "Overall brightness, from 0 (black) to 1 (white)"},
			{Name: "has_text", Type: "boolean", Description: "Whether text is visible on screen"},
			{Name: "objects", Type: "array", Items: &api.FieldItems{Type: "string"}, Description: "Notable objects that are visible"},
			{Name: "shot_types", Type: "array", Items: &api.FieldItems{Type: "string"}, Description: "How the scene is filmed",
				Enum: []string{"close-up", "medium", "wide", "static", "moving"}},
			{Name: "highlight_at", Type: "timestamp", Format: "hh:mm:ss", Description: "The most representative moment of the scene"},
		},
	},
	{
		ID:          "title_cards",
		Description: "Moments where text fills the screen, such as titles or credits.",
		Fields: []api.SegmentField{
			{Name: "text", Type: "string", Description: "The text that is shown"},
			{Name: "shown_at", Type: "timestamp", Format: "seconds", Description: "When the text is fully visible"},
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
			// start_time and end_time of each segment as "00:01:02.500";
			// timestamp fields keep their own format.
			SegmentTimeFormat: api.String("hh:mm:ss.fff"),
		},
		// Shorter segments are merged into a neighbour, longer ones split.
		// Not allowed together with time_ranges (see time_ranges/main.go).
		MinSegmentDuration: api.Float(2),
		MaxSegmentDuration: api.Float(8),
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
