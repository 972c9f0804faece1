// Package blobtest gives tests the S3-compatible server of the test run:
// scripts/test.sh starts one (scripts/s3-test-server.sh) and exports its
// URL as FRAMEWISE_TEST_S3_URL, with AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY.
package blobtest

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
)

// S3URL returns the test server's s3:// URL with a prefix of its own for
// the test, so that tests sharing the bucket do not see each other's
// keys. Without FRAMEWISE_TEST_S3_URL the test is skipped, or fails when
// CI is set: CI must run the S3 tests.
func S3URL(t testing.TB) *url.URL {
	t.Helper()
	raw := os.Getenv("FRAMEWISE_TEST_S3_URL")
	if raw == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("FRAMEWISE_TEST_S3_URL is not set, and CI is: scripts/test.sh starts an S3 server (scripts/s3-test-server.sh) and sets it")
		}
		t.Skip("no S3 server: set FRAMEWISE_TEST_S3_URL (and AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), e.g. with eval \"$(scripts/s3-test-server.sh)\"")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" {
		t.Fatalf("FRAMEWISE_TEST_S3_URL %q: want s3://bucket?endpoint=…", raw)
	}
	q := u.Query()
	q.Set("prefix", "t-"+Random())
	u.RawQuery = q.Encode()
	return u
}

// Random returns 12 random hex digits, for bucket names and prefixes.
func Random() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}
