CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope       TEXT   NOT NULL,
    key         TEXT   NOT NULL,
    task_id     TEXT   NOT NULL,
    body_sha256 TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
