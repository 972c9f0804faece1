package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/framewise/framewise/internal/account"
	"github.com/framewise/framewise/internal/asset"
)

// Assets implements asset.Store.
type Assets struct {
	db      *DB
	enqueue Enqueuer
}

// NewAssets returns the asset store. enqueue inserts an asset's processing
// job inside the transaction that creates the asset row.
func NewAssets(db *DB, enqueue Enqueuer) *Assets {
	return &Assets{db: db, enqueue: enqueue}
}

const assetColumns = `id, method, status, type, filename, file_type, source_url, upload_id, blob_key, size, duration,
	technical_metadata, user_metadata, unanalyzable, error_message, created_at, updated_at`

func scanAsset(s interface{ Scan(...any) error }) (*asset.Asset, error) {
	var a asset.Asset
	var method, status, typ string
	var sourceURL, uploadID, blobKey, tech, meta, unanalyzable, errMsg sql.NullString
	var duration sql.NullFloat64
	var created, updated int64
	if err := s.Scan(&a.ID, &method, &status, &typ, &a.Filename, &a.FileType, &sourceURL, &uploadID, &blobKey, &a.Size, &duration,
		&tech, &meta, &unanalyzable, &errMsg, &created, &updated); err != nil {
		return nil, err
	}
	a.Method, a.Status, a.Type = asset.Method(method), asset.Status(status), asset.Type(typ)
	a.SourceURL, a.UploadID, a.BlobKey = sourceURL.String, uploadID.String, blobKey.String
	a.Unanalyzable, a.ErrorMessage = unanalyzable.String, errMsg.String
	if duration.Valid {
		d := duration.Float64
		a.Duration = &d
	}
	if tech.Valid && tech.String != "" {
		a.Technical = new(asset.Technical)
		if err := json.Unmarshal([]byte(tech.String), a.Technical); err != nil {
			return nil, fmt.Errorf("asset %s: decode technical metadata: %w", a.ID, err)
		}
	}
	var err error
	if a.UserMetadata, err = decodeMetadata(meta); err != nil {
		return nil, fmt.Errorf("asset %s: %w", a.ID, err)
	}
	a.CreatedAt = time.UnixMicro(created).UTC()
	a.UpdatedAt = time.UnixMicro(updated).UTC()
	return &a, nil
}

func decodeMetadata(s sql.NullString) (map[string]any, error) {
	if !s.Valid || s.String == "" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s.String), &m); err != nil {
		return nil, fmt.Errorf("decode user metadata: %w", err)
	}
	return m, nil
}

func encodeJSON(v any, empty bool) (sql.NullString, error) {
	if empty {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return sql.NullString{}, err
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

func assetArgs(a *asset.Asset) ([]any, error) {
	tech, err := encodeJSON(a.Technical, a.Technical == nil)
	if err != nil {
		return nil, err
	}
	meta, err := encodeJSON(a.UserMetadata, len(a.UserMetadata) == 0)
	if err != nil {
		return nil, err
	}
	var duration sql.NullFloat64
	if a.Duration != nil {
		duration = sql.NullFloat64{Float64: *a.Duration, Valid: true}
	}
	return []any{a.ID, string(a.Method), string(a.Status), string(a.Type), a.Filename, a.FileType, nullStr(a.SourceURL),
		nullStr(a.UploadID), nullStr(a.BlobKey), a.Size, duration, tech, meta, nullStr(a.Unanalyzable), nullStr(a.ErrorMessage),
		a.CreatedAt.UnixMicro(), a.UpdatedAt.UnixMicro()}, nil
}

// insertAsset inserts a, owned by account owner, and its job.
func (s *Assets) insertAsset(ctx context.Context, tx *Tx, a *asset.Asset, owner string) error {
	args, err := assetArgs(a)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO assets (`+assetColumns+`, account_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		append(args, owner)...); err != nil {
		return fmt.Errorf("create asset: %w", err)
	}
	if s.enqueue != nil {
		if err := s.enqueue(ctx, tx.Tx, a.ID); err != nil {
			return fmt.Errorf("enqueue asset %s: %w", a.ID, err)
		}
	}
	return nil
}

// CreateAsset inserts the asset and its processing job in one transaction.
func (s *Assets) CreateAsset(ctx context.Context, a *asset.Asset) error {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create asset: %w", err)
	}
	defer tx.Rollback()
	if err := s.insertAsset(ctx, tx, a, account.Owner(ctx)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create asset: %w", err)
	}
	return nil
}

// GetAsset returns one asset, or asset.ErrNotFound.
func (s *Assets) GetAsset(ctx context.Context, id string) (*asset.Asset, error) {
	a, err := scanAsset(s.db.Reader.QueryRowContext(ctx, `SELECT `+assetColumns+` FROM assets WHERE id = ? AND `+ownedBy, id, owner(ctx)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, asset.ErrNotFound
	}
	return a, err
}

// likeEscape escapes the LIKE wildcards of s, with \ as the escape character.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// placeholders returns "?,?,…" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// ListAssets returns one page of assets, newest first, and how many match.
func (s *Assets) ListAssets(ctx context.Context, f asset.Filter) ([]*asset.Asset, int, error) {
	var where []string
	var args []any
	if name, ok := account.FromContext(ctx); ok {
		where, args = append(where, "account_id = ?"), append(args, name)
	}
	if len(f.IDs) > 0 {
		where = append(where, "id IN ("+placeholders(len(f.IDs))+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	if len(f.Types) > 0 {
		where = append(where, "type IN ("+placeholders(len(f.Types))+")")
		for _, t := range f.Types {
			args = append(args, string(t))
		}
	}
	if f.Filename != "" {
		where = append(where, `lower(filename) LIKE ? ESCAPE '\'`)
		args = append(args, "%"+likeEscape(strings.ToLower(f.Filename))+"%")
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.Reader.QueryRowContext(ctx, `SELECT count(*) FROM assets`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list assets: %w", err)
	}
	limit := max(f.Limit, 1)
	offset := (max(f.Page, 1) - 1) * limit
	rows, err := s.db.Reader.QueryContext(ctx, `SELECT `+assetColumns+` FROM assets`+cond+
		` ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list assets: %w", err)
	}
	defer rows.Close()
	var out []*asset.Asset
	for rows.Next() {
		a, err := scanAsset(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, a)
	}
	return out, total, rows.Err()
}

// UpdateAsset applies change to the current row in a write transaction.
func (s *Assets) UpdateAsset(ctx context.Context, id string, change func(*asset.Asset) error) (*asset.Asset, error) {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("update asset: %w", err)
	}
	defer tx.Rollback()
	a, err := scanAsset(tx.QueryRowContext(ctx, `SELECT `+assetColumns+` FROM assets WHERE id = ? AND `+ownedBy, id, owner(ctx)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, asset.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := change(a); err != nil {
		return a, err
	}
	args, err := assetArgs(a)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE assets SET method=?, status=?, type=?, filename=?, file_type=?, source_url=?, upload_id=?,
		blob_key=?, size=?, duration=?, technical_metadata=?, user_metadata=?, unanalyzable=?, error_message=?, created_at=?, updated_at=?
		WHERE id = ?`, append(args[1:], a.ID)...); err != nil {
		return nil, fmt.Errorf("update asset: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("update asset: %w", err)
	}
	return a, nil
}

// DeleteAsset removes the asset unless allow refuses, given the number of
// unfinished tasks whose video it is, counted in the same transaction.
func (s *Assets) DeleteAsset(ctx context.Context, id string, allow func(*asset.Asset, int) error) (*asset.Asset, error) {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("delete asset: %w", err)
	}
	defer tx.Rollback()
	a, err := scanAsset(tx.QueryRowContext(ctx, `SELECT `+assetColumns+` FROM assets WHERE id = ? AND `+ownedBy, id, owner(ctx)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, asset.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var active int
	// A task needs the asset as its video (asset_id) or as a reference
	// image named in its stored spec (prompt_v2 or segment definition
	// media_sources); unfinished tasks are few, so scanning their specs is
	// cheap.
	needle := `"asset_id":` + strconv.Quote(id)
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tasks WHERE status IN ('queued', 'pending', 'processing') AND (asset_id = ? OR spec LIKE ? ESCAPE '\')`, id, "%"+likeEscape(needle)+"%").Scan(&active); err != nil {
		return nil, fmt.Errorf("delete asset: count tasks: %w", err)
	}
	if err := allow(a, active); err != nil {
		return a, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM assets WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("delete asset: %w", err)
	}
	return a, tx.Commit()
}

const uploadColumns = `id, asset_id, status, filename, type, total_size, chunk_size, total_chunks, user_metadata, created_at, updated_at, expires_at`

// scanUpload scans the uploadColumns, then any extra columns into extra.
func scanUpload(s interface{ Scan(...any) error }, extra ...any) (*asset.Upload, error) {
	var u asset.Upload
	var status, typ string
	var meta sql.NullString
	var created, updated, expires int64
	if err := s.Scan(append([]any{&u.ID, &u.AssetID, &status, &u.Filename, &typ, &u.TotalSize, &u.ChunkSize, &u.TotalChunks, &meta,
		&created, &updated, &expires}, extra...)...); err != nil {
		return nil, err
	}
	u.Status, u.Type = asset.UploadStatus(status), asset.Type(typ)
	var err error
	if u.UserMetadata, err = decodeMetadata(meta); err != nil {
		return nil, fmt.Errorf("upload %s: %w", u.ID, err)
	}
	u.CreatedAt = time.UnixMicro(created).UTC()
	u.UpdatedAt = time.UnixMicro(updated).UTC()
	u.ExpiresAt = time.UnixMicro(expires).UTC()
	return &u, nil
}

// CreateUpload inserts a session.
func (s *Assets) CreateUpload(ctx context.Context, u *asset.Upload) error {
	meta, err := encodeJSON(u.UserMetadata, len(u.UserMetadata) == 0)
	if err != nil {
		return err
	}
	_, err = s.db.Writer.ExecContext(ctx, `INSERT INTO uploads (`+uploadColumns+`, account_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		u.ID, u.AssetID, string(u.Status), u.Filename, string(u.Type), u.TotalSize, u.ChunkSize, u.TotalChunks, meta,
		u.CreatedAt.UnixMicro(), u.UpdatedAt.UnixMicro(), u.ExpiresAt.UnixMicro(), account.Owner(ctx))
	if err != nil {
		return fmt.Errorf("create upload: %w", err)
	}
	return nil
}

// DeleteUpload removes a session with its chunk and URL rows unless
// allow refuses, and returns it; asset.ErrUploadNotFound when there is none.
func (s *Assets) DeleteUpload(ctx context.Context, id string, allow func(*asset.Upload) error) (*asset.Upload, error) {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("delete upload: %w", err)
	}
	defer tx.Rollback()
	u, err := scanUpload(tx.QueryRowContext(ctx, `SELECT `+uploadColumns+` FROM uploads WHERE id = ? AND `+ownedBy, id, owner(ctx)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, asset.ErrUploadNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := allow(u); err != nil {
		return nil, err
	}
	// Chunk and URL rows go with it (ON DELETE CASCADE).
	if _, err := tx.ExecContext(ctx, `DELETE FROM uploads WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("delete upload: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("delete upload: %w", err)
	}
	return u, nil
}

// GetUpload returns a session, or asset.ErrUploadNotFound.
func (s *Assets) GetUpload(ctx context.Context, id string) (*asset.Upload, error) {
	u, err := scanUpload(s.db.Reader.QueryRowContext(ctx, `SELECT `+uploadColumns+` FROM uploads WHERE id = ? AND `+ownedBy, id, owner(ctx)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, asset.ErrUploadNotFound
	}
	return u, err
}

// ListUploads returns active sessions not expired by now, newest first.
func (s *Assets) ListUploads(ctx context.Context, now time.Time, page, limit int) ([]*asset.Upload, int, error) {
	const cond = ` FROM uploads WHERE status = 'active' AND expires_at > ? AND ` + ownedBy
	var total int
	if err := s.db.Reader.QueryRowContext(ctx, `SELECT count(*)`+cond, now.UnixMicro(), owner(ctx)).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list uploads: %w", err)
	}
	limit = max(limit, 1)
	rows, err := s.db.Reader.QueryContext(ctx, `SELECT `+uploadColumns+cond+` ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
		now.UnixMicro(), owner(ctx), limit, (max(page, 1)-1)*limit)
	if err != nil {
		return nil, 0, fmt.Errorf("list uploads: %w", err)
	}
	defer rows.Close()
	var out []*asset.Upload
	for rows.Next() {
		u, err := scanUpload(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, u)
	}
	return out, total, rows.Err()
}

func scanChunks(rows *sql.Rows) ([]*asset.Chunk, error) {
	defer rows.Close()
	var out []*asset.Chunk
	for rows.Next() {
		var c asset.Chunk
		var uploaded int64
		var reported sql.NullInt64
		if err := rows.Scan(&c.Index, &c.Size, &c.ETag, &c.BlobKey, &uploaded, &reported); err != nil {
			return nil, err
		}
		c.UploadedAt = time.UnixMicro(uploaded).UTC()
		if reported.Valid {
			r := time.UnixMicro(reported.Int64).UTC()
			c.Reported = &r
		}
		out = append(out, &c)
	}
	return out, rows.Err()
}

const chunkQuery = `SELECT idx, size, etag, blob_key, uploaded_at, reported_at FROM upload_chunks WHERE upload_id = ? ORDER BY idx`

// Chunks returns the chunks of a session that were PUT, by index.
func (s *Assets) Chunks(ctx context.Context, uploadID string) ([]*asset.Chunk, error) {
	rows, err := s.db.Reader.QueryContext(ctx, chunkQuery, uploadID)
	if err != nil {
		return nil, fmt.Errorf("list chunks: %w", err)
	}
	return scanChunks(rows)
}

// ClaimURL marks a presigned URL as in use, or returns asset.ErrURLUsed.
func (s *Assets) ClaimURL(ctx context.Context, uploadID, sig string, at time.Time) error {
	res, err := s.db.Writer.ExecContext(ctx, `INSERT INTO upload_urls (sig, upload_id, state, at) VALUES (?, ?, 'in_use', ?) ON CONFLICT (sig) DO NOTHING`,
		sig, uploadID, at.UnixMicro())
	if err != nil {
		return fmt.Errorf("claim upload url: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return asset.ErrURLUsed
	}
	return nil
}

// ReleaseURL forgets a claim that did not lead to a stored chunk.
func (s *Assets) ReleaseURL(ctx context.Context, sig string) error {
	_, err := s.db.Writer.ExecContext(ctx, `DELETE FROM upload_urls WHERE sig = ? AND state = 'in_use'`, sig)
	return err
}

// PutChunk records a stored chunk unless it is already reported, and marks
// the URL used. It returns the blob key of the chunk it replaced.
func (s *Assets) PutChunk(ctx context.Context, uploadID, sig string, c *asset.Chunk) (string, error) {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("put chunk: %w", err)
	}
	defer tx.Rollback()
	var status string
	if err := tx.QueryRowContext(ctx, `SELECT status FROM uploads WHERE id = ?`, uploadID).Scan(&status); errors.Is(err, sql.ErrNoRows) {
		return "", asset.ErrUploadNotFound
	} else if err != nil {
		return "", fmt.Errorf("put chunk: %w", err)
	}
	var oldKey string
	var reported sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT blob_key, reported_at FROM upload_chunks WHERE upload_id = ? AND idx = ?`, uploadID, c.Index).Scan(&oldKey, &reported)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return "", fmt.Errorf("put chunk: %w", err)
	case reported.Valid:
		return "", asset.ErrChunkReported
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO upload_chunks (upload_id, idx, size, etag, blob_key, uploaded_at) VALUES (?,?,?,?,?,?)
		ON CONFLICT (upload_id, idx) DO UPDATE SET size = excluded.size, etag = excluded.etag, blob_key = excluded.blob_key, uploaded_at = excluded.uploaded_at`,
		uploadID, c.Index, c.Size, c.ETag, c.BlobKey, c.UploadedAt.UnixMicro()); err != nil {
		return "", fmt.Errorf("put chunk: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE upload_urls SET state = 'used' WHERE sig = ?`, sig); err != nil {
		return "", fmt.Errorf("put chunk: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE uploads SET updated_at = ? WHERE id = ?`, c.UploadedAt.UnixMicro(), uploadID); err != nil {
		return "", fmt.Errorf("put chunk: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("put chunk: %w", err)
	}
	return oldKey, nil
}

// Report runs apply on a session and its chunks in one write transaction;
// see asset.Store.
func (s *Assets) Report(ctx context.Context, uploadID string, apply func(*asset.Upload, map[int]*asset.Chunk) (*asset.Asset, error)) error {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("report chunks: %w", err)
	}
	defer tx.Rollback()
	var uploadOwner string
	u, err := scanUpload(tx.QueryRowContext(ctx, `SELECT `+uploadColumns+`, account_id FROM uploads WHERE id = ? AND `+ownedBy,
		uploadID, owner(ctx)), &uploadOwner)
	if errors.Is(err, sql.ErrNoRows) {
		return asset.ErrUploadNotFound
	}
	if err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, chunkQuery, uploadID)
	if err != nil {
		return fmt.Errorf("report chunks: %w", err)
	}
	list, err := scanChunks(rows)
	if err != nil {
		return err
	}
	chunks := make(map[int]*asset.Chunk, len(list))
	was := make(map[int]bool, len(list))
	for _, c := range list {
		chunks[c.Index] = c
		was[c.Index] = c.Reported != nil
	}
	a, err := apply(u, chunks)
	if err != nil {
		return err
	}
	for idx, c := range chunks {
		if c.Reported != nil && !was[idx] {
			if _, err := tx.ExecContext(ctx, `UPDATE upload_chunks SET reported_at = ? WHERE upload_id = ? AND idx = ?`,
				c.Reported.UnixMicro(), uploadID, idx); err != nil {
				return fmt.Errorf("report chunks: %w", err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE uploads SET status = ?, updated_at = ? WHERE id = ?`, string(u.Status), u.UpdatedAt.UnixMicro(), uploadID); err != nil {
		return fmt.Errorf("report chunks: %w", err)
	}
	if a != nil {
		if err := s.insertAsset(ctx, tx, a, uploadOwner); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("report chunks: %w", err)
	}
	return nil
}

// ExpireUploads marks active sessions past their expiry as expired and
// returns their ids; it deletes sessions (with their chunks and URLs) that
// ended before purgeBefore.
func (s *Assets) ExpireUploads(ctx context.Context, now, purgeBefore time.Time) ([]string, error) {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("expire uploads: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `UPDATE uploads SET status = 'expired', updated_at = ? WHERE status = 'active' AND expires_at <= ? RETURNING id`,
		now.UnixMicro(), now.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("expire uploads: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM uploads WHERE status <> 'active' AND updated_at < ?`, purgeBefore.UnixMicro()); err != nil {
		return nil, fmt.Errorf("expire uploads: purge: %w", err)
	}
	return ids, tx.Commit()
}
