package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
)

// These examples need a running server ("framewise serve"), so they are
// compiled but not run.

func ExampleNew() {
	c := client.New("http://127.0.0.1:8700",
		client.WithAPIKey("my-key"),
		client.WithHTTPClient(&http.Client{Timeout: 2 * time.Minute}),
	)
	fmt.Println(c.BaseURL()) // http://127.0.0.1:8700/v1.3
}

// Analyze a video by URL and wait for the answer.
func ExampleClient_CreateTask() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8700")

	created, err := c.CreateTask(ctx, &api.CreateTaskRequest{
		Video:       &api.VideoContext{Type: api.SourceURL, URL: "https://example.com/cat.mp4"},
		Prompt:      api.String("What happens in this video?"),
		Temperature: api.Float(0.2),
	},
		// The key makes the call safe to retry: the server creates one task.
		client.WithIdempotencyKey("cat-video-2026-01-01"),
	)
	if err != nil {
		log.Fatal(err)
	}

	task, err := c.Wait(ctx, created.TaskID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(task.Result.Data)
}

// Show progress while a task runs, and tell a failed task from other errors.
func ExampleClient_Wait() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	c := client.New("http://127.0.0.1:8700")

	task, err := c.Wait(ctx, "64f8d2c7e4a1b37f8a9c5d12",
		client.OnUpdate(func(t *api.Task) {
			if p := t.Progress; p != nil {
				fmt.Printf("%s: %s %.0f%%\n", t.Status, p.Stage, p.Percent)
			} else {
				fmt.Println(t.Status)
			}
		}),
		client.WithMaxPollInterval(10*time.Second),
	)
	var failed *client.TaskFailedError
	switch {
	case errors.As(err, &failed):
		fmt.Println("analysis failed:", failed.Message)
	case err != nil:
		log.Fatal(err) // not found, unreachable server, deadline, ...
	default:
		fmt.Println(task.Result.Data)
	}
}

// Walk every ready task, page after page.
func ExampleClient_Tasks() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8700")

	for task, err := range c.Tasks(ctx, client.ListOptions{Status: api.StatusReady, PageLimit: 50}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(task.TaskID, task.CreatedAt.Format(time.RFC3339))
	}
}

// Errors of the API match sentinels by HTTP status, and carry the server's
// code and message.
func ExampleAPIError() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8700")

	err := c.DeleteTask(ctx, "64f8d2c7e4a1b37f8a9c5d12")
	switch {
	case errors.Is(err, client.ErrNotFound):
		fmt.Println("already gone")
	case errors.Is(err, client.ErrConflict):
		fmt.Println("still processing; wait for it to finish, then delete")
	case err != nil:
		var apiErr *client.APIError
		if errors.As(err, &apiErr) {
			fmt.Println(apiErr.StatusCode, apiErr.Code, apiErr.Message, apiErr.RequestID)
		}
	}
}
