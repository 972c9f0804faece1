package app

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/framewise/framewise/internal/blob"
	"github.com/framewise/framewise/internal/store"
)

// pingStore is a blob store whose Ping fails as an unreachable bucket does.
type pingStore struct {
	blob.Store
	err error
}

func (p pingStore) Ping(context.Context) error { return p.err }

func TestReadinessChecksDatabaseAndObjectStore(t *testing.T) {
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	local, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := readiness(db, local)(ctx); err != nil {
		t.Fatalf("ready with a local store: %v", err)
	}
	down := errors.New("dial tcp 127.0.0.1:7070: connection refused")
	if err := readiness(db, pingStore{local, down})(ctx); !errors.Is(err, down) {
		t.Fatalf("object store down: %v", err)
	}
	db.Close()
	if err := readiness(db, local)(ctx); err == nil || !strings.Contains(err.Error(), "database") {
		t.Fatalf("database closed: %v", err)
	}
}
