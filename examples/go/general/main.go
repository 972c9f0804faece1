// Command general asks a question about a video and prints the plain-text
// answer: the request of examples/curl/general.json, sent with the Go client.
//
//	go run ./examples/go/general -server http://127.0.0.1:8700 -key secret -video clip.mp4
//
// -video is a local file or an http(s) URL. -server and -key default to
// $FRAMEWISE_URL and $FRAMEWISE_API_KEY.
package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
)

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
		ModelName:   api.String(api.ModelPegasus15),
		Video:       src,
		Prompt:      api.String("Describe what happens in this video, scene by scene, with the time at which each scene starts."),
		Temperature: api.Float(0.2),
		MaxTokens:   api.Int(2048),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(task.Result.Data)
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
