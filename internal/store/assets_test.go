package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/asset"
	"github.com/framewise/framewise/internal/task"
)

func TestAssetsCreateIsAtomicWithEnqueue(t *testing.T) {
	eachDialect(t, testAssetsCreateIsAtomicWithEnqueue)
}

func testAssetsCreateIsAtomicWithEnqueue(t *testing.T) {
	t.Parallel()
	ts := openTest(t, nil)
	boom := errors.New("queue down")
	s := NewAssets(ts.db, func(ctx context.Context, tx *sql.Tx, id string) error { return boom })
	now := time.Now()
	a := &asset.Asset{ID: "a1", Method: asset.Direct, Status: asset.Processing, Type: asset.Video, Filename: "x.mp4", FileType: "video/mp4", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateAsset(context.Background(), a); !errors.Is(err, boom) {
		t.Fatalf("create = %v", err)
	}
	if _, err := s.GetAsset(context.Background(), "a1"); !errors.Is(err, asset.ErrNotFound) {
		t.Fatalf("asset written without its job: %v", err)
	}
}

func TestListAssetsFilters(t *testing.T) { eachDialect(t, testListAssetsFilters) }

func testListAssetsFilters(t *testing.T) {
	t.Parallel()
	ts := openTest(t, nil)
	s := NewAssets(ts.db, nil)
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, tc := range []struct {
		id, name string
		typ      asset.Type
	}{
		{"a1", "Sale 50% off.MP4", asset.Video},
		{"a2", "sale_5.mp4", asset.Video},
		{"a3", "cover.png", asset.Image},
		{"a4", "song.mp3", asset.Audio},
	} {
		at := base.Add(time.Duration(i) * time.Second)
		a := &asset.Asset{ID: tc.id, Method: asset.Direct, Status: asset.Ready, Type: tc.typ, Filename: tc.name, FileType: "x/y",
			CreatedAt: at, UpdatedAt: at, UserMetadata: map[string]any{"n": float64(i)}}
		if err := s.CreateAsset(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(f asset.Filter) []string {
		t.Helper()
		if f.Limit == 0 {
			f.Limit = 10
		}
		list, _, err := s.ListAssets(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range list {
			out = append(out, a.ID)
		}
		return out
	}
	for name, tc := range map[string]struct {
		f    asset.Filter
		want string
	}{
		"all newest first":   {asset.Filter{}, "[a4 a3 a2 a1]"},
		"percent is literal": {asset.Filter{Filename: "50%"}, "[a1]"},
		"underscore literal": {asset.Filter{Filename: "e_5"}, "[a2]"},
		"case-insensitive":   {asset.Filter{Filename: "SALE"}, "[a2 a1]"},
		"types":              {asset.Filter{Types: []asset.Type{asset.Image, asset.Audio}}, "[a4 a3]"},
		"ids and type":       {asset.Filter{IDs: []string{"a1", "a3"}, Types: []asset.Type{asset.Video}}, "[a1]"},
		"second page of two": {asset.Filter{Page: 2, Limit: 2}, "[a2 a1]"},
		"page past the end":  {asset.Filter{Page: 3, Limit: 2}, "[]"},
		"lone wildcard":      {asset.Filter{Filename: "%"}, "[a1]"},
	} {
		if got := ids(tc.f); fmtList(got) != tc.want {
			t.Errorf("%s: %v, want %s", name, got, tc.want)
		}
	}
	a, err := s.GetAsset(ctx, "a3")
	if err != nil || a.UserMetadata["n"] != 2.0 || a.Technical != nil || a.Duration != nil {
		t.Errorf("round trip: %+v, %v", a, err)
	}
}

func fmtList(s []string) string {
	out := "["
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out + "]"
}

// A task created on an asset while the asset is deleted: exactly one of
// the two succeeds, however they interleave. Before the check in the
// task's insert both could (the create looked the asset up first).
func TestCreateTaskRacesDeleteAsset(t *testing.T) { eachDialect(t, testCreateTaskRacesDeleteAsset) }

func testCreateTaskRacesDeleteAsset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tasks := openTest(t, nil)
	assets := NewAssets(tasks.db, nil)
	refuse := func(_ *asset.Asset, active int) error {
		if active > 0 {
			return errInUse
		}
		return nil
	}
	const pairs = 200
	now := time.Now()
	for i := range pairs {
		id := fmt.Sprintf("asset%03d", i)
		if err := assets.CreateAsset(ctx, &asset.Asset{ID: id, Method: asset.Direct, Status: asset.Ready, Type: asset.Video,
			Filename: "v.mp4", FileType: "video/mp4", BlobKey: "assets/" + id, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	created, deleted := make([]error, pairs), make([]error, pairs)
	for i := range pairs {
		id := fmt.Sprintf("asset%03d", i)
		tk := newTask(fmt.Sprintf("task%03d", i), now)
		if i%2 == 0 {
			tk.Spec.Source = task.Source{Type: task.SourceAssetID, AssetID: id}
		} else { // a reference image counts as well
			tk.Spec.PromptV2 = &task.PromptV2{InputText: "<@a>", MediaSources: []task.MediaSource{{Name: "a", MediaType: "image", AssetID: id}}}
		}
		wg.Add(2)
		go func() { defer wg.Done(); created[i] = tasks.Create(ctx, tk) }()
		go func() { defer wg.Done(); _, deleted[i] = assets.DeleteAsset(ctx, id, refuse) }()
	}
	wg.Wait()
	var creates, deletes int
	for i := range pairs {
		c, d := created[i], deleted[i]
		switch {
		case c == nil && d == nil:
			t.Errorf("pair %d: the task was created and its asset deleted", i)
		case c == nil && errors.Is(d, errInUse):
			creates++
		case d == nil && errors.Is(c, task.ErrAssetNotFound):
			var gone *task.AssetGoneError
			if !errors.As(c, &gone) || gone.ID != fmt.Sprintf("asset%03d", i) {
				t.Errorf("pair %d: create error %v, want an AssetGoneError naming the asset", i, c)
			}
			deletes++
		default:
			t.Errorf("pair %d: create %v, delete %v", i, c, d)
		}
	}
	t.Logf("%d pairs: the create won %d times, the delete %d times", pairs, creates, deletes)
}

var errInUse = errors.New("in use")
