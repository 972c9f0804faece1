package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/client"
)

// stateDir is where the CLI keeps its files: $FRAMEWISE_STATE_DIR when
// set, else framewise in the user's cache directory (as os.UserCacheDir,
// but read from env: $XDG_CACHE_HOME or ~/.cache on Linux, ~/Library/Caches
// on macOS, %LocalAppData% on Windows), else framewise in the temporary
// directory.
func stateDir(env Env) string {
	if dir := getenv(env, "FRAMEWISE_STATE_DIR"); dir != "" {
		return dir
	}
	var base string
	switch runtime.GOOS {
	case "windows":
		base = getenv(env, "LocalAppData")
	case "darwin", "ios":
		if h := getenv(env, "HOME"); h != "" {
			base = filepath.Join(h, "Library", "Caches")
		}
	case "plan9":
		if h := getenv(env, "home"); h != "" {
			base = filepath.Join(h, "lib", "cache")
		}
	default:
		if x := getenv(env, "XDG_CACHE_HOME"); filepath.IsAbs(x) {
			base = x
		} else if h := getenv(env, "HOME"); h != "" {
			base = filepath.Join(h, ".cache")
		}
	}
	if base == "" {
		base = os.TempDir()
	}
	return filepath.Join(base, "framewise")
}

// assetCache remembers which assets this machine uploaded, by server and
// content (SHA-256 and size), so that analyzing the same large file again
// reuses its asset instead of uploading it again. It is one JSON file,
// assets.json in stateDir; a missing or unreadable file is an empty cache.
type assetCache struct {
	path string
	now  func() time.Time
}

// assetEntry is one uploaded file's asset.
type assetEntry struct {
	Server  string `json:"server"` // base URL of the API, ending in /v1.3
	SHA256  string `json:"sha256"` // hex
	Size    int64  `json:"size"`
	AssetID string `json:"asset_id"`
	// Path is the file last uploaded or analyzed with this content, for
	// people reading the cache; it plays no part in matching.
	Path string    `json:"path,omitempty"`
	Used time.Time `json:"used"`
}

// maxAssetEntries bounds the cache; the entries used longest ago go first.
const maxAssetEntries = 500

func newAssetCache(env Env) *assetCache {
	return &assetCache{path: filepath.Join(stateDir(env), "assets.json"), now: time.Now}
}

func assetKey(server, sum string, size int64) string {
	return server + "|" + sum + "|" + strconv.FormatInt(size, 10)
}

func (ac *assetCache) load() map[string]assetEntry {
	m := map[string]assetEntry{}
	if b, err := os.ReadFile(ac.path); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

// hasSize reports whether any asset of server has a file of this size: only
// then can hashing the file find an asset to reuse.
func (ac *assetCache) hasSize(server string, size int64) bool {
	for _, e := range ac.load() {
		if e.Server == server && e.Size == size {
			return true
		}
	}
	return false
}

func (ac *assetCache) get(server, sum string, size int64) (assetEntry, bool) {
	e, ok := ac.load()[assetKey(server, sum, size)]
	return e, ok
}

// put records (or replaces) the asset of a content.
func (ac *assetCache) put(server, sum string, size int64, assetID, path string) error {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	m := ac.load()
	m[assetKey(server, sum, size)] = assetEntry{Server: server, SHA256: sum, Size: size, AssetID: assetID, Path: path, Used: ac.now().UTC()}
	if len(m) > maxAssetEntries {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int { return m[a].Used.Compare(m[b].Used) })
		for _, k := range keys[:len(m)-maxAssetEntries] {
			delete(m, k)
		}
	}
	return writeFileAtomic(ac.path, m)
}

// forget drops the entries of an asset, after it was deleted.
func (ac *assetCache) forget(server, assetID string) {
	m := ac.load()
	n := len(m)
	for k, e := range m {
		if e.Server == server && e.AssetID == assetID {
			delete(m, k)
		}
	}
	if len(m) != n {
		_ = writeFileAtomic(ac.path, m)
	}
}

// hashFile returns the hex SHA-256 of a file's content.
func hashFile(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader stops reading once ctx is done, so that hashing a large file
// ends with the command.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// reuseAsset looks for an asset uploaded before with the content of the
// file at path. It hashes the file only when the cache knows an asset of
// the same size on this server; the hash is kept in o.sha256 so that an
// upload that follows does not hash the file again. It returns the asset
// when it still exists and is ready or processing, else nil: the caller
// uploads the file, and the upload replaces the entry.
func reuseAsset(ctx context.Context, c *client.Client, cf *clientFlags, path string, o *uploadOpts, env Env) (*api.Asset, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	cache, server := newAssetCache(env), c.BaseURL()
	if !cache.hasSize(server, fi.Size()) {
		return nil, nil
	}
	if o.sha256, err = hashFile(ctx, path); err != nil {
		return nil, err
	}
	e, ok := cache.get(server, o.sha256, fi.Size())
	if !ok {
		return nil, nil
	}
	a, err := c.GetAsset(ctx, e.AssetID)
	switch {
	case errors.Is(err, client.ErrNotFound):
		fmt.Fprintf(env.Stderr, "asset %s (same content as %s) is gone from the server; uploading again\n", e.AssetID, path)
		return nil, nil
	case err != nil:
		return nil, cf.explain(err)
	case a.Status == api.AssetFailed:
		fmt.Fprintf(env.Stderr, "asset %s (same content as %s) failed; uploading again\n", e.AssetID, path)
		return nil, nil
	}
	fmt.Fprintf(env.Stderr, "reusing asset %s (same content as %s)\n", a.ID, path)
	if err := cache.put(server, o.sha256, fi.Size(), a.ID, path); err != nil {
		fmt.Fprintf(env.Stderr, "warning: cannot update the asset cache: %v\n", err)
	}
	return a, nil
}

// contentHash computes the SHA-256 of a file while it is uploaded. For a
// direct upload it reads what the upload reads (tee); a multipart upload
// reads its chunks out of order, in parallel, inside the client, so the
// file is hashed alongside by one sequential read that the page cache
// mostly serves.
type contentHash struct {
	mu sync.Mutex // the upload reads in its own goroutine
	h  hash.Hash
	n  int64

	done chan struct{}
	sum  string
	err  error
}

// tee returns r, hashing everything read from it.
func (ch *contentHash) tee(r io.Reader) io.Reader {
	ch.h = sha256.New()
	return io.TeeReader(r, writerFunc(func(p []byte) (int, error) {
		ch.mu.Lock()
		defer ch.mu.Unlock()
		ch.n += int64(len(p))
		return ch.h.Write(p)
	}))
}

// teeSum is the hash of what went through tee, or "" when that was not
// the whole file of the given size.
func (ch *contentHash) teeSum(size int64) string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.h == nil || ch.n != size {
		return ""
	}
	return hex.EncodeToString(ch.h.Sum(nil))
}

// background starts hashing the file at path; wait returns the result.
func (ch *contentHash) background(ctx context.Context, path string) {
	ch.done = make(chan struct{})
	go func() {
		defer close(ch.done)
		ch.sum, ch.err = hashFile(ctx, path)
	}()
}

func (ch *contentHash) wait() (string, error) {
	<-ch.done
	return ch.sum, ch.err
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// writeFileAtomic writes v as indented JSON to path, through a temporary
// file in the same directory, creating the directory if needed.
func writeFileAtomic(path string, v any) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
	}
	return werr
}
