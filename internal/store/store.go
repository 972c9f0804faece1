// Package store is the one home of SQL in framewise. It keeps tasks,
// assets and multipart upload sessions in SQLite (pure Go, WAL, one writer
// connection and a pool of readers) with embedded migrations, and
// implements task.Store and asset.Store. The job queue shares the writer
// connection so that a task or asset row and its job are written in one
// transaction.
package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/framewise/framewise/internal/account"
	"github.com/framewise/framewise/internal/task"
	"github.com/jackc/pgx/v5/pgxpool"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// DB is an open database: Writer takes every write (and the job queue),
// Reader serves reads concurrently. On SQLite they are two pools over one
// file (one writer connection); on PostgreSQL they are the same pool.
type DB struct {
	Dialect Dialect
	Writer  Pool
	Reader  Pool

	pgx *pgxpool.Pool // PostgreSQL only
}

// ErrNotMigrated: the database lacks migrations this binary needs, and
// opening it was not allowed to apply them (see Open).
var ErrNotMigrated = errors.New("database not migrated")

// Open opens the database named by url: a postgres:// or postgresql://
// URL, or else the path of a SQLite file (created if needed). migrate
// says whether to apply missing migrations; when false a database that
// lacks some answers an error wrapping ErrNotMigrated. SQLite is always
// migrated: one process owns its file.
func Open(ctx context.Context, url string, migrate bool) (*DB, error) {
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		return OpenPostgres(ctx, url, migrate)
	}
	return OpenSQLite(ctx, strings.TrimPrefix(url, "sqlite://"))
}

// OpenSQLite opens (creating if needed) the SQLite database at path and
// applies the migrations.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	pragmas := "_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	dsn := "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + pragmas
	w, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", abs, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", abs, err)
	}
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, err
	}
	n := max(4, runtime.GOMAXPROCS(0)*2)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db := &DB{Dialect: SQLite, Writer: Pool{DB: w}, Reader: Pool{DB: r}}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes both pools.
func (db *DB) Close() error {
	if db.Reader.DB == db.Writer.DB {
		return db.Writer.Close()
	}
	return errors.Join(db.Reader.Close(), db.Writer.Close())
}

// migrations returns the names and bodies of the migrations for the
// dialect, in order: migrations/NNNN_name.sql, or its
// migrations/<dialect>/NNNN_name.sql where the dialects need different text.
func (db *DB) migrations() (names []string, bodies map[string]string, err error) {
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(files)
	bodies = map[string]string{}
	for _, file := range files {
		body, err := migrationFS.ReadFile(path.Join("migrations", string(db.Dialect), path.Base(file)))
		if err != nil {
			body, _ = migrationFS.ReadFile(file)
		}
		// The recorded name stays the shared file's, whichever text ran.
		names = append(names, file)
		bodies[file] = string(body)
	}
	return names, bodies, nil
}

// Pending returns the names of the migrations not applied yet.
func (db *DB) Pending(ctx context.Context) ([]string, error) {
	names, _, err := db.migrations()
	if err != nil {
		return nil, err
	}
	applied := map[string]bool{}
	rows, err := db.Reader.QueryContext(ctx, `SELECT name FROM framewise_migrations`)
	if err == nil {
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return nil, err
			}
			applied[n] = true
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	} else if !missingTable(err) {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var pending []string
	for _, n := range names {
		if !applied[n] {
			pending = append(pending, n)
		}
	}
	return pending, nil
}

// missingTable says whether err is "no such table" (before the first
// migration).
func missingTable(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "no such table") || strings.Contains(msg, "does not exist")
}

// Migrate applies the migrations not applied yet, each in a transaction
// of its own. On PostgreSQL an advisory lock makes processes that migrate
// at once take turns.
func (db *DB) Migrate(ctx context.Context) error {
	if db.Dialect == Postgres {
		conn, err := db.Writer.Conn(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrateLock); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLock)
	}
	if _, err := db.Writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS framewise_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, bodies, err := db.migrations()
	if err != nil {
		return err
	}
	pending, err := db.Pending(ctx)
	if err != nil {
		return err
	}
	todo := map[string]bool{}
	for _, n := range pending {
		todo[n] = true
	}
	for _, name := range names {
		if !todo[name] {
			continue
		}
		tx, err := db.Writer.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for _, stmt := range strings.Split(bodies[name], ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				tx.Rollback()
				return fmt.Errorf("migrate %s: %w", name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO framewise_migrations (name, applied_at) VALUES (?, ?)`, name, time.Now().Unix()); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	return nil
}

// Enqueuer inserts the job of a new task inside the transaction that
// writes the task row.
type Enqueuer func(ctx context.Context, tx *sql.Tx, taskID string) error

// Tasks implements task.Store.
type Tasks struct {
	db      *DB
	enqueue Enqueuer
	quotas  Quotas

	getOnce sync.Once
	getStmt *sql.Stmt // prepared retrieve, the hottest query

	onTerminal TerminalHook

	batchEnqueue BatchEnqueuer // batches.go
	onBatchEnded BatchHook
}

// TerminalHook runs inside the transaction that makes a task ready or
// failed (Webhooks.TaskEnded enqueues its notifications there).
type TerminalHook func(ctx context.Context, tx *Tx, t *task.Task) error

// OnTerminal sets the hook of terminal transitions; call it before use.
func (s *Tasks) OnTerminal(h TerminalHook) { s.onTerminal = h }

// NewTasks returns the task store. enqueue is called in the create transaction.
func NewTasks(db *DB, enqueue Enqueuer) *Tasks {
	return &Tasks{db: db, enqueue: enqueue}
}

// The stored form of a task's request is task.Spec with a version, apart
// from the wire form (api): a binary reads the versions up to its own
// (rows from before versions are version 0, the same fields as 1) and
// refuses newer ones rather than misreading them, as in a cluster being
// upgraded one process at a time.
const specVersion = 1

type storedSpec struct {
	Version int `json:"v,omitempty"`
	task.Spec
}

const taskColumns = `id, custom_id, status, model, mode, source_type, video_url, asset_id, spec,
	created_at, updated_at, completed_at, duration, blob_key, result, error_message, stage, percent`

type row struct {
	customID, videoURL, assetID, blobKey, result, errMsg, stage sql.NullString
	completedAt                                                 sql.NullInt64
	duration, percent                                           sql.NullFloat64
	status, model, mode, sourceType, spec                       string
	createdAt, updatedAt                                        int64
}

func scanTask(s interface{ Scan(...any) error }) (*task.Task, error) {
	var t task.Task
	var r row
	if err := s.Scan(&t.ID, &r.customID, &r.status, &r.model, &r.mode, &r.sourceType, &r.videoURL, &r.assetID, &r.spec,
		&r.createdAt, &r.updatedAt, &r.completedAt, &r.duration, &r.blobKey, &r.result, &r.errMsg, &r.stage, &r.percent); err != nil {
		return nil, err
	}
	var spec storedSpec
	if err := json.Unmarshal([]byte(r.spec), &spec); err != nil {
		return nil, fmt.Errorf("task %s: decode spec: %w", t.ID, err)
	}
	if spec.Version > specVersion {
		return nil, fmt.Errorf("task %s: its stored form is version %d, newer than this binary's %d: run the newer framewise", t.ID, spec.Version, specVersion)
	}
	t.Spec = spec.Spec
	t.Status = task.Status(r.status)
	t.CreatedAt = time.UnixMicro(r.createdAt).UTC()
	t.UpdatedAt = time.UnixMicro(r.updatedAt).UTC()
	if r.completedAt.Valid {
		c := time.UnixMicro(r.completedAt.Int64).UTC()
		t.CompletedAt = &c
	}
	if r.duration.Valid {
		d := r.duration.Float64
		t.Duration = &d
	}
	t.BlobKey = r.blobKey.String
	if r.result.Valid && r.result.String != "" {
		t.Result = new(task.Result)
		if err := json.Unmarshal([]byte(r.result.String), t.Result); err != nil {
			return nil, fmt.Errorf("task %s: decode result: %w", t.ID, err)
		}
	}
	t.ErrorMessage = r.errMsg.String
	t.Stage = r.stage.String
	t.Percent = r.percent.Float64
	return &t, nil
}

func taskArgs(t *task.Task) ([]any, error) {
	spec, err := json.Marshal(storedSpec{Version: specVersion, Spec: t.Spec})
	if err != nil {
		return nil, err
	}
	var result sql.NullString
	if t.Result != nil {
		b, err := json.Marshal(t.Result)
		if err != nil {
			return nil, err
		}
		result = sql.NullString{String: string(b), Valid: true}
	}
	var completed sql.NullInt64
	if t.CompletedAt != nil {
		completed = sql.NullInt64{Int64: t.CompletedAt.UnixMicro(), Valid: true}
	}
	var duration sql.NullFloat64
	if t.Duration != nil {
		duration = sql.NullFloat64{Float64: *t.Duration, Valid: true}
	}
	return []any{t.ID, nullStr(t.Spec.CustomID), string(t.Status), t.Spec.Model, t.Spec.Mode, t.Spec.Source.Type,
		nullStr(t.Spec.Source.URL), nullStr(t.Spec.Source.AssetID), string(spec),
		t.CreatedAt.UnixMicro(), t.UpdatedAt.UnixMicro(), completed, duration, nullStr(t.BlobKey), result,
		nullStr(t.ErrorMessage), nullStr(t.Stage), t.Percent}, nil
}

func nullStr(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// Create inserts the task and its job in one transaction.
func (s *Tasks) Create(ctx context.Context, t *task.Task) error {
	return s.create(ctx, t, nil)
}

// create inserts the task and its job in one transaction. before, when
// set, runs first in that transaction; returning false (or an error) it
// leaves everything unwritten.
func (s *Tasks) create(ctx context.Context, t *task.Task, before func(tx *Tx) (bool, error)) error {
	args, err := taskArgs(t)
	if err != nil {
		return err
	}
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	defer tx.Rollback()
	if before != nil {
		if ok, err := before(tx); !ok || err != nil {
			return err
		}
	}
	if err := s.checkQuotas(ctx, tx, t); err != nil {
		return err
	}
	// The assets the task names must still exist (and be the account's).
	// The service looked them up before; checking again here, in the
	// writer's transaction that DeleteAsset also takes to count the tasks
	// using an asset, makes a create racing a delete of its asset end with
	// exactly one of them succeeding.
	for _, ref := range t.Spec.AssetRefs() {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM assets WHERE id = ? AND account_id = ?`, ref.ID, account.Owner(ctx)).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return &task.AssetGoneError{ID: ref.ID}
		}
		if err != nil {
			return fmt.Errorf("create task: check asset %s: %w", ref.ID, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO tasks (`+taskColumns+`, account_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		append(args, account.Owner(ctx))...); err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	if s.enqueue != nil {
		if err := s.enqueue(ctx, tx.Tx, t.ID); err != nil {
			return fmt.Errorf("enqueue task %s: %w", t.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	return nil
}

// Get returns one task, or task.ErrNotFound.
func (s *Tasks) Get(ctx context.Context, id string) (*task.Task, error) {
	const q = `SELECT ` + taskColumns + ` FROM tasks WHERE id = ? AND ` + ownedBy
	s.getOnce.Do(func() { s.getStmt, _ = s.db.Reader.PrepareContext(context.Background(), q) })
	var row *sql.Row
	if s.getStmt != nil {
		row = s.getStmt.QueryRowContext(ctx, id, owner(ctx))
	} else {
		row = s.db.Reader.QueryRowContext(ctx, q, id, owner(ctx))
	}
	t, err := scanTask(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, task.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return t, s.attachWebhooks(ctx, t)
}

// List returns one page of tasks, newest first, and the number that match.
func (s *Tasks) List(ctx context.Context, f task.Filter) ([]*task.Task, int, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if name, ok := account.FromContext(ctx); ok {
		add("account_id = ?", name)
	}
	if f.Status != "" {
		add("status = ?", string(f.Status))
	}
	if f.VideoURL != "" {
		add("video_url = ?", f.VideoURL)
	}
	if f.AssetID != "" {
		add("asset_id = ?", f.AssetID)
	}
	if f.VideoID != "" {
		// Legacy pre-indexed videos are never a source here, so nothing matches.
		where = append(where, "1 = 0")
	}
	if f.AnalysisMode != "" {
		add("mode = ?", f.AnalysisMode)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.Reader.QueryRowContext(ctx, `SELECT count(*) FROM tasks`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list tasks: %w", err)
	}
	limit := max(f.PageLimit, 1)
	offset := (max(f.Page, 1) - 1) * limit
	rows, err := s.db.Reader.QueryContext(ctx, `SELECT `+taskColumns+` FROM tasks`+cond+
		` ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list tasks: %w", err)
	}
	defer rows.Close()
	var out []*task.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	return out, total, s.attachWebhooks(ctx, out...)
}

// CountByStatus counts every account's tasks by status (for /metrics).
func (s *Tasks) CountByStatus(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.Reader.QueryContext(ctx, `SELECT status, count(*) FROM tasks GROUP BY status`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}

// Update applies change to the current row in a write transaction.
func (s *Tasks) Update(ctx context.Context, id string, change func(*task.Task) error) (*task.Task, error) {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("update task: %w", err)
	}
	defer tx.Rollback()
	t, err := scanTask(tx.QueryRowContext(ctx, `SELECT `+taskColumns+` FROM tasks WHERE id = ? AND `+ownedBy, id, owner(ctx)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, task.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	wasTerminal := t.Status.Terminal()
	hadDuration := t.Duration != nil
	if err := change(t); err != nil {
		return t, err
	}
	if !hadDuration && t.Duration != nil {
		// A URL video's duration is known once downloaded: it counts
		// against the account's video quota from then on.
		if _, err := tx.ExecContext(ctx, `INSERT INTO video_usage (task_id, account_id, seconds, at)
			SELECT id, account_id, ?, ? FROM tasks WHERE id = ? ON CONFLICT (task_id) DO NOTHING`,
			*t.Duration, t.UpdatedAt.UnixMicro(), t.ID); err != nil {
			return nil, fmt.Errorf("update task: record video usage: %w", err)
		}
	}
	args, err := taskArgs(t)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tasks SET custom_id=?, status=?, model=?, mode=?, source_type=?, video_url=?, asset_id=?, spec=?,
		created_at=?, updated_at=?, completed_at=?, duration=?, blob_key=?, result=?, error_message=?, stage=?, percent=? WHERE id = ?`,
		append(args[1:], t.ID)...); err != nil {
		return nil, fmt.Errorf("update task: %w", err)
	}
	if !wasTerminal && t.Status.Terminal() && s.onTerminal != nil {
		if err := s.onTerminal(ctx, tx, t); err != nil {
			return nil, fmt.Errorf("update task: %w", err)
		}
	}
	if !wasTerminal && t.Status.Terminal() {
		if err := s.itemEnded(ctx, tx, t.ID, t.UpdatedAt); err != nil {
			return nil, fmt.Errorf("update task: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("update task: %w", err)
	}
	return t, nil
}

// Delete removes the task unless allow refuses.
func (s *Tasks) Delete(ctx context.Context, id string, allow func(*task.Task) error) (*task.Task, error) {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("delete task: %w", err)
	}
	defer tx.Rollback()
	t, err := scanTask(tx.QueryRowContext(ctx, `SELECT `+taskColumns+` FROM tasks WHERE id = ? AND `+ownedBy, id, owner(ctx)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, task.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := allow(t); err != nil {
		return t, err
	}
	var batchID sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT batch_id FROM tasks WHERE id = ?`, id).Scan(&batchID); err != nil {
		return nil, fmt.Errorf("delete task: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM tasks WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("delete task: %w", err)
	}
	if batchID.Valid {
		// The batch's last unfinished item may be the one deleted.
		if err := s.finish(ctx, tx, batchID.String, time.Now()); err != nil {
			return nil, fmt.Errorf("delete task: %w", err)
		}
	}
	return t, tx.Commit()
}
