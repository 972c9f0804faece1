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
