package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
)

// Upload a large video once, resumably, then analyze the asset.
func ExampleClient_UploadFile() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8700", client.WithAPIKey("my-key"))

	res, err := c.UploadFile(ctx, "match.mp4", client.UploadOptions{
		// Keep UploadID somewhere: passing it again after an interruption
		// sends only the chunks the server does not have yet.
		OnSession: func(s client.UploadSession) { fmt.Println("upload", s.UploadID) },
		OnProgress: func(p client.UploadProgress) {
			fmt.Printf("%d/%d chunks\n", p.CompletedChunks, p.TotalChunks)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.WaitAsset(ctx, res.AssetID); err != nil {
		log.Fatal(err) // a file FFmpeg cannot read ends as a *client.AssetFailedError
	}
	created, err := c.CreateTask(ctx, &api.CreateTaskRequest{
		Video:  &api.VideoContext{Type: api.SourceAssetID, AssetID: res.AssetID},
		Prompt: api.String("Who scores?"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(created.TaskID)
}
