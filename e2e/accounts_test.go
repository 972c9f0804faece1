package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
)

// createAccountCLI runs "framewise accounts create NAME --json" and
// returns the account's first API key.
func createAccountCLI(t *testing.T, srv *server, name string) string {
	t.Helper()
	out, err := runBinary(t, "accounts", "create", name, "--json", "--server", "http://"+srv.addr, "--admin-key", adminKey)
	var got api.CreatedAccount
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || got.Name != name || !strings.HasPrefix(got.APIKey, "fw_") {
		t.Fatalf("accounts create %s: %v, output %q", name, err, out)
	}
	return got.APIKey
}

func (s *server) clientWithKey(key string) *client.Client {
	return client.New("http://"+s.addr, client.WithAPIKey(key), client.WithHTTPClient(recordingClient(s.t)))
}

// otherID is a well-formed id that names nothing: id with its last hex
// digit changed.
func otherID(id string) string {
	last := id[len(id)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return id[:len(id)-1] + string(repl)
}

// TestAccountIsolation: nothing of account A is visible, usable, listable
// or deletable with account B's key. Every id of A answers B exactly as a
// missing id does (same status, code and message but for the id), never
// 403, and no list or filter of B shows a row of A.
func TestAccountIsolation(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir(), "--admin-key", adminKey)
	a := srv.clientWithKey(createAccountCLI(t, srv, "alpha"))
	b := srv.clientWithKey(createAccountCLI(t, srv, "beta"))
	def := srv.client() // the default account (--api-key)
	ctx := waitCtx(t, 3*time.Minute)

	// Account A: a video asset, an image asset, a task on both (with an
	// idempotency key), and an active multipart upload.
	f, _ := os.Open(makeVideo(t, "ok", 6, 640, 360))
	video, err := a.CreateAsset(ctx, f, "alpha.mp4", nil)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	logo := filepath.Join(t.TempDir(), "logo.png")
	if out, err := exec.Command("ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", "color=red:size=64x64", "-frames:v", "1", logo).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	f, _ = os.Open(logo)
	image, err := a.CreateAsset(ctx, f, "logo.png", nil)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{video.ID, image.ID} {
		if _, err := a.WaitAsset(ctx, id, fastWait()...); err != nil {
			t.Fatalf("asset %s: %v", id, err)
		}
	}
	onVideo := &api.CreateTaskRequest{Video: &api.VideoContext{Type: api.SourceAssetID, AssetID: video.ID}, Prompt: api.String("What happens?")}
	withImage := &api.CreateTaskRequest{ModelName: api.String("pegasus1.5"), Video: &api.VideoContext{Type: api.SourceAssetID, AssetID: video.ID},
		PromptV2: &api.PromptV2{InputText: "Is <@logo> shown?", MediaSources: []api.MediaSource{{Name: "logo", MediaType: "image", AssetID: image.ID}}}}
	created, err := a.CreateTask(ctx, onVideo, client.WithIdempotencyKey("order-1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateTask(ctx, withImage); err != nil {
		t.Fatalf("A's prompt_v2 task on its image: %v", err)
	}
	up, err := a.CreateUpload(ctx, &api.CreateUploadRequest{Filename: "big.mp4", Type: "video", TotalSize: 20 << 20})
	if err != nil {
		t.Fatal(err)
	}

	// sameAsMissing: B's answer for A's id is the answer for a missing id.
	sameAsMissing := func(what string, status int, id string, call func(id string) error) {
		t.Helper()
		var got, want *client.APIError
		gerr, merr := call(id), call(otherID(id))
		if !errors.As(gerr, &got) || !errors.As(merr, &want) {
			t.Errorf("%s: %v for A's id, %v for a missing one; want API errors", what, gerr, merr)
			return
		}
		norm := func(e *client.APIError, id string) string { return strings.ReplaceAll(e.Message, id, "ID") }
		if got.StatusCode != status || got.StatusCode != want.StatusCode || got.Code != want.Code || norm(got, id) != norm(want, otherID(id)) {
			t.Errorf("%s: A's id answers %d %s %q; a missing id %d %s %q", what, got.StatusCode, got.Code, got.Message,
				want.StatusCode, want.Code, want.Message)
		}
		if strings.Contains(got.Message, "alpha") || strings.Contains(strings.ToLower(got.Message), "account") {
			t.Errorf("%s: the message speaks of accounts: %q", what, got.Message)
		}
	}
	noErr := func(_ any, err error) error { return err }
	for _, c := range []struct {
		what   string
		status int
		id     string
		call   func(id string) error
	}{
		{"get task", 404, created.TaskID, func(id string) error { return noErr(b.GetTask(ctx, id)) }},
		{"delete task", 404, created.TaskID, func(id string) error { return b.DeleteTask(ctx, id) }},
		{"create task on the video asset", 400, video.ID, func(id string) error {
			r := *onVideo
			r.Video = &api.VideoContext{Type: api.SourceAssetID, AssetID: id}
			return noErr(b.CreateTask(ctx, &r))
		}},
		{"create task with the image asset (prompt_v2)", 400, image.ID, func(id string) error {
			r := *withImage
			r.Video = &api.VideoContext{Type: api.SourceURL, URL: "http://127.0.0.1:1/v.mp4"}
			r.PromptV2 = &api.PromptV2{InputText: "Is <@logo> shown?", MediaSources: []api.MediaSource{{Name: "logo", MediaType: "image", AssetID: id}}}
			return noErr(b.CreateTask(ctx, &r))
		}},
		{"get asset", 404, video.ID, func(id string) error { return noErr(b.GetAsset(ctx, id)) }},
		{"delete asset", 404, image.ID, func(id string) error { return b.DeleteAsset(ctx, id) }},
		{"upload status", 404, up.UploadID, func(id string) error { return noErr(b.GetUploadStatus(ctx, id, 1, 10)) }},
		{"report chunks", 404, up.UploadID, func(id string) error {
			return noErr(b.ReportChunks(ctx, id, []api.CompletedChunk{{ChunkIndex: 1, Proof: "x", ProofType: "etag", ChunkSize: up.ChunkSize}}))
		}},
		{"more presigned URLs", 404, up.UploadID, func(id string) error { return noErr(b.PresignedURLs(ctx, id, 1, 1)) }},
		{"abort upload", 404, up.UploadID, func(id string) error { return b.AbortUpload(ctx, id) }},
	} {
		sameAsMissing(c.what, c.status, c.id, c.call)
	}

	// Lists and their filters show none of A's rows, to B or to the default account.
	for name, c := range map[string]*client.Client{"beta": b, "default": def} {
		for _, opts := range []client.ListOptions{{}, {AssetID: video.ID}, {Status: api.StatusQueued}} {
			if l, err := c.ListTasks(ctx, opts); err != nil || len(l.Data) != 0 || l.PageInfo.TotalResults != 0 {
				t.Errorf("%s lists tasks %+v: %+v, %v", name, opts, l, err)
			}
		}
		for _, opts := range []client.AssetListOptions{{}, {IDs: []string{video.ID, image.ID}}, {Filename: "alpha"}} {
			if l, err := c.ListAssets(ctx, opts); err != nil || len(l.Data) != 0 || l.PageInfo.TotalResults != 0 {
				t.Errorf("%s lists assets %+v: %+v, %v", name, opts, l, err)
			}
		}
		if l, err := c.ListUploads(ctx, 1, 50); err != nil || len(l.Data) != 0 {
			t.Errorf("%s lists uploads: %+v, %v", name, l, err)
		}
	}

	// Idempotency keys are the account's: B's "order-1" is a new task.
	if r, err := b.CreateTask(ctx, &api.CreateTaskRequest{Video: &api.VideoContext{Type: api.SourceURL, URL: "http://127.0.0.1:1/v.mp4"},
		Prompt: api.String("What happens?")}, client.WithIdempotencyKey("order-1")); err != nil || r.TaskID == created.TaskID {
		t.Errorf("B's create with A's idempotency key: %+v, %v", r, err)
	}

	// A still has everything, and A's replay still answers A's task.
	if r, err := a.CreateTask(ctx, onVideo, client.WithIdempotencyKey("order-1")); err != nil || r.TaskID != created.TaskID {
		t.Errorf("A's replay: %+v, %v", r, err)
	}
	if l, err := a.ListAssets(ctx, client.AssetListOptions{}); err != nil || l.PageInfo.TotalResults != 2 {
		t.Errorf("A's assets: %+v, %v", l, err)
	}
	if l, err := a.ListTasks(ctx, client.ListOptions{}); err != nil || l.PageInfo.TotalResults != 2 {
		t.Errorf("A's tasks: %+v, %v", l, err)
	}
	if s, err := a.GetUploadStatus(ctx, up.UploadID, 1, 10); err != nil || s.Status != "active" {
		t.Errorf("A's upload: %+v, %v", s, err)
	}
}

// TestRevokedKeyRefused: a key made by "keys create" works until "keys
// revoke", and its next request is 401; "keys list" shows ids, never keys;
// "accounts delete" refuses an account that owns a task and deletes an
// empty one.
func TestRevokedKeyRefused(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir(), "--admin-key", adminKey)
	admin := []string{"--server", "http://" + srv.addr, "--admin-key", adminKey}
	createAccountCLI(t, srv, "gamma")
	out, err := runBinary(t, append([]string{"keys", "create", "--account", "gamma", "--json"}, admin...)...)
	var key api.CreatedAPIKey
	if err != nil || json.Unmarshal([]byte(out), &key) != nil || key.ID == "" || !strings.HasPrefix(key.Key, "fw_") {
		t.Fatalf("keys create: %v, output %q", err, out)
	}
	c := srv.clientWithKey(key.Key)
	ctx := waitCtx(t, time.Minute)
	task, err := c.CreateTask(ctx, &api.CreateTaskRequest{Video: &api.VideoContext{Type: api.SourceURL, URL: "http://127.0.0.1:1/v.mp4"},
		Prompt: api.String("What happens?")})
	if err != nil {
		t.Fatal(err)
	}

	out, err = runBinary(t, append([]string{"keys", "list", "--account", "gamma", "--json"}, admin...)...)
	var keys api.APIKeyList
	if err != nil || json.Unmarshal([]byte(out), &keys) != nil || len(keys.Data) != 2 || strings.Contains(out, key.Key) || !strings.Contains(out, key.ID) {
		t.Fatalf("keys list: %v, output %q", err, out)
	}
	if out, err := runBinary(t, append([]string{"keys", "revoke", key.ID}, admin...)...); err != nil || !strings.Contains(out, "revoked key "+key.ID) {
		t.Fatalf("keys revoke: %v, output %q", err, out)
	}
	if _, err := c.GetTask(ctx, task.TaskID); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("request with the revoked key: %v, want 401", err)
	}
	if out, err := runBinary(t, append([]string{"keys", "list", "--account", "gamma"}, admin...)...); err != nil || !strings.Contains(out, key.ID) {
		t.Errorf("keys list (text): %v, output %q", err, out)
	}

	// An account that owns a task stays; an empty one goes.
	if out, err := runBinary(t, append([]string{"accounts", "delete", "gamma"}, admin...)...); err == nil || !strings.Contains(out, "account_not_empty") {
		t.Errorf("accounts delete of an account with a task: %v, output %q", err, out)
	}
	createAccountCLI(t, srv, "empty")
	if out, err := runBinary(t, append([]string{"accounts", "delete", "empty"}, admin...)...); err != nil || out != "deleted account empty\n" {
		t.Errorf("accounts delete: %v, output %q", err, out)
	}
	out, err = runBinary(t, append([]string{"accounts", "list", "--json"}, admin...)...)
	var list api.AccountList
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Data) != 2 || list.Data[0].Name != "default" || list.Data[1].Name != "gamma" {
		t.Errorf("accounts list: %v, output %q", err, out)
	}
	if out, err := runBinary(t, append([]string{"accounts", "list"}, admin[:2]...)...); err == nil || !strings.Contains(out, "missing admin key") {
		t.Errorf("accounts list without an admin key: %v, output %q", err, out)
	}
}

// TestAccountQuotas: with --quota-active-tasks 1 and no workers (tasks
// stay queued) an account's second task is 429 quota_exceeded, with
// Retry-After and a message naming the quota; another account is not
// held back, and a deleted task frees its place.
func TestAccountQuotas(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir(), "--admin-key", adminKey, "--workers", "0", "--quota-active-tasks", "1", "--quota-video-hours", "10")
	a, b := srv.client(), srv.clientWithKey(createAccountCLI(t, srv, "other"))
	ctx := waitCtx(t, time.Minute)
	req := &api.CreateTaskRequest{Video: &api.VideoContext{Type: api.SourceURL, URL: "http://127.0.0.1:1/v.mp4"}, Prompt: api.String("What happens?")}
	first, err := a.CreateTask(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.CreateTask(ctx, req)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 429 || ae.Code != "quota_exceeded" || !strings.Contains(ae.Message, "quota: active tasks, 1") {
		t.Fatalf("second active task: %v, want 429 quota_exceeded naming the quota", err)
	}
	if _, err := b.CreateTask(ctx, req); err != nil {
		t.Errorf("another account's task: %v", err)
	}
	if err := a.DeleteTask(ctx, first.TaskID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateTask(ctx, req); err != nil {
		t.Errorf("after deleting the first task: %v", err)
	}
}
