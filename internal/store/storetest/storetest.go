// Package storetest gives tests a PostgreSQL database of their own, on the
// server named by FRAMEWISE_TEST_POSTGRES_URL (scripts/test.sh starts one
// and sets it). Without it, PostgreSQL tests skip, except under CI=true,
// where they fail: CI must test both databases.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// EnvURL names the PostgreSQL server for tests.
const EnvURL = "FRAMEWISE_TEST_POSTGRES_URL"

// PostgresURL creates an empty database for t and returns its URL; the
// database is dropped when t ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI runs the PostgreSQL tests (scripts/test.sh sets it)", EnvURL)
		}
		t.Skipf("%s is not set: skipping the PostgreSQL test", EnvURL)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	name := "fwtest_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Each runs test on both databases, as the subtests "sqlite" and
// "postgres"; URL gives each its empty database.
func Each(t *testing.T, test func(t *testing.T)) {
	for _, d := range []string{"sqlite", "postgres"} {
		t.Run(d, test)
	}
}

// URL returns an empty database for the subtest of Each that t is (or is
// inside): a SQLite file path, or a PostgreSQL URL (PostgresURL).
func URL(t *testing.T) string {
	t.Helper()
	if parts := strings.Split(t.Name(), "/"); len(parts) > 1 && parts[1] == "postgres" {
		return PostgresURL(t)
	}
	return filepath.Join(t.TempDir(), "db.sqlite")
}
