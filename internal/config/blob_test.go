package config

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestBlobURL(t *testing.T) {
	t.Parallel()
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if c, err := ParseServe(nil, getenv, io.Discard); err != nil || c.BlobURL != "" {
		t.Fatalf("default: %q, %v", c.BlobURL, err)
	}
	file := filepath.Join(t.TempDir(), "fw.yaml")
	os.WriteFile(file, []byte("blob_url: file:///from/file\n"), 0o600)
	if c, err := ParseServe([]string{"--config", file}, getenv, io.Discard); err != nil || c.BlobURL != "file:///from/file" {
		t.Fatalf("file: %q, %v", c.BlobURL, err)
	}
	env["FRAMEWISE_BLOB_URL"] = "s3://env-bucket?region=eu-west-1"
	if c, err := ParseServe([]string{"--config", file}, getenv, io.Discard); err != nil || c.BlobURL != "s3://env-bucket?region=eu-west-1" {
		t.Fatalf("env over file: %q, %v", c.BlobURL, err)
	}
	if c, err := ParseServe([]string{"--blob-url", "s3://flag?endpoint=http://127.0.0.1:7070"}, getenv, io.Discard); err != nil || c.BlobURL != "s3://flag?endpoint=http://127.0.0.1:7070" {
		t.Fatalf("flag over env: %q, %v", c.BlobURL, err)
	}
	for _, bad := range []string{"gs://bucket", "/plain/path", "http://127.0.0.1:7070/bucket", "s3://%zz"} {
		if _, err := ParseServe([]string{"--blob-url", bad}, getenv, io.Discard); err == nil {
			t.Errorf("--blob-url %q: no error", bad)
		}
	}
}
