package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/account"
	"github.com/framewise/framewise/internal/asset"
	"github.com/framewise/framewise/internal/task"
)

func TestAccountsAndKeys(t *testing.T) { eachDialect(t, testAccountsAndKeys) }

func testAccountsAndKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewAccounts(openTest(t, nil).db)

	id, key, err := s.CreateAccount(ctx, "acme")
	if err != nil || !strings.HasPrefix(key, account.KeyPrefix) || !strings.HasPrefix(id, "key_") {
		t.Fatalf("create: %q %q %v", id, key, err)
	}
	if _, _, err := s.CreateAccount(ctx, "acme"); !errors.Is(err, account.ErrExists) {
		t.Fatalf("create again: %v", err)
	}
	if name, err := s.Authenticate(ctx, key); err != nil || name != "acme" {
		t.Fatalf("authenticate: %q %v", name, err)
	}
	if _, err := s.Authenticate(ctx, key+"x"); !errors.Is(err, account.ErrKeyNotFound) {
		t.Fatalf("authenticate a wrong key: %v", err)
	}
	id2, key2, err := s.CreateKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateKey(ctx, "nobody"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("key of an unknown account: %v", err)
	}
	if k, err := s.RevokeKey(ctx, id); err != nil || k.RevokedAt == nil || k.Account != "acme" {
		t.Fatalf("revoke: %+v %v", k, err)
	}
	if _, err := s.Authenticate(ctx, key); !errors.Is(err, account.ErrRevoked) {
		t.Fatalf("revoked key: %v", err)
	}
	if name, err := s.Authenticate(ctx, key2); err != nil || name != "acme" {
		t.Fatalf("second key after revoking the first: %q %v", name, err)
	}
	if _, err := s.RevokeKey(ctx, "key_nope"); !errors.Is(err, account.ErrKeyNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	keys, err := s.ListKeys(ctx, "acme")
	if err != nil || len(keys) != 2 || keys[0].ID != id || keys[1].ID != id2 || keys[1].RevokedAt != nil {
		t.Fatalf("keys: %+v %v", keys, err)
	}
	list, err := s.ListAccounts(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "acme" || list[0].Keys != 1 || list[1].Name != account.Default {
		t.Fatalf("accounts: %+v %v", list, err)
	}

	// An account that owns a task cannot be deleted; once the task is gone it can.
	tasks := NewTasks(s.db, nil)
	actx := account.NewContext(ctx, "acme")
	if err := tasks.Create(actx, newTask("t1", time.Now())); err != nil {
		t.Fatal(err)
	}
	var owns *account.OwnsDataError
	if err := s.DeleteAccount(ctx, "acme"); !errors.As(err, &owns) || owns.Tasks != 1 {
		t.Fatalf("delete with a task: %v", err)
	}
	if _, err := tasks.Delete(actx, "t1", func(*task.Task) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, "acme"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := s.Authenticate(ctx, key2); !errors.Is(err, account.ErrKeyNotFound) {
		t.Fatalf("key of a deleted account: %v", err)
	}
	if err := s.DeleteAccount(ctx, "acme"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("delete again: %v", err)
	}
}

// TestAccountScoping: with an account in the context, every query sees
// only that account's rows; without one (the server's own work) it sees all.
func TestAccountScoping(t *testing.T) { eachDialect(t, testAccountScoping) }

func testAccountScoping(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tasks := openTest(t, nil)
	assets := NewAssets(tasks.db, nil)
	a, b := account.NewContext(ctx, "a"), account.NewContext(ctx, "b")
	now := time.Now()
	since := now.Add(-task.IdempotencyTTL)

	if _, err := tasks.CreateWithKey(a, newTask("ta", now), "a", "k", "h", since); err != nil {
		t.Fatal(err)
	}
	as := &asset.Asset{ID: "aa", Method: asset.Direct, Status: asset.Ready, Type: asset.Video, Filename: "x.mp4", FileType: "video/mp4", CreatedAt: now, UpdatedAt: now}
	if err := assets.CreateAsset(a, as); err != nil {
		t.Fatal(err)
	}
	up := &asset.Upload{ID: "ua", AssetID: "aa2", Status: asset.UploadActive, Filename: "y.mp4", Type: asset.Video, TotalSize: 10,
		ChunkSize: 10, TotalChunks: 1, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := assets.CreateUpload(a, up); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		ctx  context.Context
		want int
	}{{"owner", a, 1}, {"other", b, 0}, {"server", ctx, 1}} {
		_, err := tasks.Get(c.ctx, "ta")
		if (err == nil) != (c.want == 1) {
			t.Errorf("%s: get task: %v", c.name, err)
		}
		if _, n, _ := tasks.List(c.ctx, task.Filter{PageLimit: 10}); n != c.want {
			t.Errorf("%s: list tasks: %d", c.name, n)
		}
		if _, err := tasks.Update(c.ctx, "ta", func(*task.Task) error { return nil }); (err == nil) != (c.want == 1) {
			t.Errorf("%s: update task: %v", c.name, err)
		}
		if _, err := assets.GetAsset(c.ctx, "aa"); (err == nil) != (c.want == 1) {
			t.Errorf("%s: get asset: %v", c.name, err)
		}
		if _, n, _ := assets.ListAssets(c.ctx, asset.Filter{Limit: 10}); n != c.want {
			t.Errorf("%s: list assets: %d", c.name, n)
		}
		if _, err := assets.GetUpload(c.ctx, "ua"); (err == nil) != (c.want == 1) {
			t.Errorf("%s: get upload: %v", c.name, err)
		}
		if _, n, _ := assets.ListUploads(c.ctx, now, 1, 10); n != c.want {
			t.Errorf("%s: list uploads: %d", c.name, n)
		}
		if err := assets.Report(c.ctx, "ua", func(*asset.Upload, map[int]*asset.Chunk) (*asset.Asset, error) { return nil, nil }); (err == nil) != (c.want == 1) {
			t.Errorf("%s: report: %v", c.name, err)
		}
	}
	// Another account neither sees nor deletes.
	if _, err := tasks.Delete(b, "ta", func(*task.Task) error { return nil }); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("b deletes a's task: %v", err)
	}
	if _, err := assets.DeleteAsset(b, "aa", func(*asset.Asset, int) error { return nil }); !errors.Is(err, asset.ErrNotFound) {
		t.Errorf("b deletes a's asset: %v", err)
	}
	if _, err := assets.DeleteUpload(b, "ua", func(*asset.Upload) error { return nil }); !errors.Is(err, asset.ErrUploadNotFound) {
		t.Errorf("b deletes a's upload: %v", err)
	}
	if rec, err := tasks.LookupKey(b, "a", "k", since); err != nil || rec != nil {
		t.Errorf("b reads a's idempotency key: %+v %v", rec, err)
	}
	if rec, err := tasks.LookupKey(a, "a", "k", since); err != nil || rec == nil {
		t.Errorf("a reads its idempotency key: %+v %v", rec, err)
	}
}
