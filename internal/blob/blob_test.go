package blob

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestLocalPutPathDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n, err := l.Put(ctx, "tasks/abc/source", strings.NewReader("hello"))
	if err != nil || n != 5 {
		t.Fatalf("Put = %d, %v", n, err)
	}
	p, release, err := l.LocalPath(ctx, "tasks/abc/source")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	release()
	if string(b) != "hello" {
		t.Fatalf("content %q", b)
	}
	if err := l.Delete(ctx, "tasks/abc"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.LocalPath(ctx, "tasks/abc/source"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := l.Delete(ctx, "tasks/abc"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
}

func TestLocalRejectsEscapingKeys(t *testing.T) {
	t.Parallel()
	l, _ := NewLocal(t.TempDir())
	for _, k := range []string{"", "../x", "/etc/passwd", "a/../../b"} {
		if _, err := l.Put(context.Background(), k, strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q) accepted", k)
		}
	}
}

func TestLocalOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := NewLocal(t.TempDir())
	if _, err := l.Put(ctx, "uploads/u/1", strings.NewReader("chunk")); err != nil {
		t.Fatal(err)
	}
	rc, err := l.Open(ctx, "uploads/u/1")
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 16)
	n, _ := rc.Read(b)
	rc.Close()
	if string(b[:n]) != "chunk" {
		t.Fatalf("read %q", b[:n])
	}
	if _, err := l.Open(ctx, "uploads/u/2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
}
