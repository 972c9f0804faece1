CREATE TABLE IF NOT EXISTS batches (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL,
    model        TEXT NOT NULL,
    mode         TEXT NOT NULL,
    total_items  INTEGER NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    canceled_at  BIGINT,
    expired_at   BIGINT,
    finished_at  BIGINT
);
CREATE INDEX IF NOT EXISTS batches_account_created ON batches (account_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS batches_expires ON batches (expires_at);
ALTER TABLE tasks ADD COLUMN batch_id TEXT;
ALTER TABLE tasks ADD COLUMN batch_pos INTEGER;
CREATE INDEX IF NOT EXISTS tasks_batch ON tasks (batch_id, batch_pos);
CREATE TABLE IF NOT EXISTS batch_webhook_deliveries (
    id          TEXT PRIMARY KEY,
    batch_id    TEXT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    endpoint_id TEXT NOT NULL,
    url         TEXT NOT NULL,
    event       TEXT NOT NULL,
    payload     BLOB NOT NULL,
    delivered   INTEGER NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (batch_id, endpoint_id)
)
