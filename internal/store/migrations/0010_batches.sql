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
CREATE INDEX IF NOT EXISTS tasks_batch ON tasks (batch_id, batch_pos)
