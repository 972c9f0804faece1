package config

import (
	"flag"
	"fmt"
	"net/url"
)

// blobFlags registers the object storage flag on fs.
func (c *Config) blobFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.BlobURL, "blob-url", c.BlobURL, "where media files are stored: file:///path, or s3://bucket?endpoint=http://host:port&region=us-east-1&prefix=p for an S3-compatible store (credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); default <data dir>/blobs (env FRAMEWISE_BLOB_URL)")
}

// blobEnv reads the object storage setting from the environment.
func (c *Config) blobEnv(getenv func(string) string) {
	if v := getenv("FRAMEWISE_BLOB_URL"); v != "" {
		c.BlobURL = v
	}
}

// validateBlobURL checks the form of BlobURL; blob.Open checks the rest.
func validateBlobURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("blob url: %w", err)
	}
	if u.Scheme != "file" && u.Scheme != "s3" {
		return fmt.Errorf("blob url %q: want file:///path or s3://bucket?endpoint=…", u.Redacted())
	}
	return nil
}
