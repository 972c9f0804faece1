CREATE TABLE IF NOT EXISTS task_fanouts (
    task_id TEXT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    chunks  INTEGER NOT NULL,
    joined  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS task_fanout_chunks (
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    chunk   INTEGER NOT NULL,
    first   INTEGER NOT NULL,
    last    INTEGER NOT NULL,
    done    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (task_id, chunk)
)
