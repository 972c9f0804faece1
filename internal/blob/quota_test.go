package blob

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/framewise/framewise/internal/diskspace"
)

func TestQuota(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "assets", "old"), 0o750)
	os.WriteFile(filepath.Join(dir, "assets", "old", "source"), make([]byte, 300), 0o640)
	os.WriteFile(filepath.Join(dir, "assets", "old", ".part-1"), make([]byte, 999), 0o640) // a Put cut short: not counted
	l, _ := NewLocal(dir)
	q, err := NewQuota(ctx, l, 1000)
	if err != nil || q.Used() != 300 {
		t.Fatalf("NewQuota: used %d, %v", q.Used(), err)
	}
	if _, err := q.Put(ctx, "a/1", bytes.NewReader(make([]byte, 500))); err != nil || q.Used() != 800 {
		t.Fatalf("put within the quota: used %d, %v", q.Used(), err)
	}
	_, err = q.Put(ctx, "a/2", bytes.NewReader(make([]byte, 300)))
	var qe *diskspace.QuotaError
	if !errors.As(err, &qe) || qe.Limit != 1000 || q.Used() != 800 {
		t.Fatalf("put over the quota: used %d, %v", q.Used(), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a", "2")); !os.IsNotExist(err) {
		t.Fatalf("a refused put left a file: %v", err)
	}
	if err := q.Check(201); err == nil {
		t.Fatal("Check(201) with 200 left: no error")
	}
	// Replacing a key counts only the difference.
	if _, err := q.Put(ctx, "a/1", bytes.NewReader(make([]byte, 100))); err != nil || q.Used() != 400 {
		t.Fatalf("replace: used %d, %v", q.Used(), err)
	}
	// Jobs may go over.
	if _, err := q.Put(diskspace.WithoutQuota(ctx), "b/1", bytes.NewReader(make([]byte, 900))); err != nil || q.Used() != 1300 {
		t.Fatalf("exempt put: used %d, %v", q.Used(), err)
	}
	if err := q.Delete(ctx, "b"); err != nil || q.Used() != 400 {
		t.Fatalf("delete: used %d, %v", q.Used(), err)
	}
	if err := q.Delete(ctx, "assets/old"); err != nil || q.Used() != 100 {
		t.Fatalf("delete the old asset: used %d, %v", q.Used(), err)
	}
}
