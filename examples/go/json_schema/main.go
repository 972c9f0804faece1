// Command json_schema asks for a JSON document that follows a schema and
// prints it: the request of examples/curl/json_schema.json, sent with the Go
// client. It needs a vision-language model behind pegasus1.5.
//
//	go run ./examples/go/json_schema -server http://127.0.0.1:8700 -key secret -video clip.mp4
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

// schema is JSON Schema (the subset the API takes: no minLength/maxLength,
// additionalProperties, uniqueItems or maxItems), plus the API's own type
// "timestamp", which the answer renders in the given format.
const schema = `{
  "type": "object",
  "properties": {
    "title": {"type": "string", "description": "A short title for the video"},
    "summary": {"type": "string", "description": "Two or three sentences about the whole video"},
    "dominant_color": {
      "type": "string",
      "description": "The colour that fills the screen for longest",
      "enum": ["red", "orange", "yellow", "green", "blue", "purple", "black", "white", "grey"]
    },
    "scene_count": {"type": "integer", "minimum": 0},
    "has_speech": {"type": "boolean", "description": "Whether anyone speaks"},
    "first_cut_at": {"type": "timestamp", "format": "hh:mm:ss", "description": "When the first scene ends"},
    "scenes": {
      "type": "array",
      "items": {
        "type": "object",
        "properties": {
          "start_time": {"type": "number"},
          "end_time": {"type": "number"},
          "description": {"type": "string"}
        },
        "required": ["start_time", "end_time", "description"]
      }
    }
  },
  "required": ["title", "summary", "dominant_color", "scene_count", "has_speech", "first_cut_at", "scenes"]
}`

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
		ModelName: api.String(api.ModelPegasus15),
		Video:     src,
		Prompt:    api.String("Catalogue this video: give it a title, summarize it, name its dominant colour and list its scenes."),
		ResponseFormat: &api.ResponseFormat{
			Type:       "json_schema",
			JSONSchema: json.RawMessage(schema),
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
