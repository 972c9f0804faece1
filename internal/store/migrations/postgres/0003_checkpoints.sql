CREATE TABLE IF NOT EXISTS task_checkpoints (
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   BYTEA NOT NULL,
    PRIMARY KEY (task_id, key)
);
