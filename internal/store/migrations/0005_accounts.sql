CREATE TABLE IF NOT EXISTS accounts (
    name       TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
INSERT INTO accounts (name, created_at) VALUES ('default', 0) ON CONFLICT (name) DO NOTHING;

CREATE TABLE IF NOT EXISTS api_keys (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
    hash       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX IF NOT EXISTS api_keys_account ON api_keys (account_id, created_at);

ALTER TABLE tasks ADD COLUMN account_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE assets ADD COLUMN account_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE uploads ADD COLUMN account_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE idempotency_keys ADD COLUMN account_id TEXT NOT NULL DEFAULT 'default';
CREATE INDEX IF NOT EXISTS tasks_account_created ON tasks (account_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS assets_account_created ON assets (account_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS uploads_account_created ON uploads (account_id, created_at DESC, id DESC)
