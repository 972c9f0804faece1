CREATE TABLE IF NOT EXISTS tasks (
    id            TEXT PRIMARY KEY,
    custom_id     TEXT,
    status        TEXT NOT NULL,
    model         TEXT NOT NULL,
    mode          TEXT NOT NULL,
    source_type   TEXT NOT NULL,
    video_url     TEXT,
    asset_id      TEXT,
    spec          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    completed_at  BIGINT,
    duration      DOUBLE PRECISION,
    blob_key      TEXT,
    result        TEXT,
    error_message TEXT,
    stage         TEXT,
    percent       DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS tasks_created ON tasks (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status, created_at DESC);
CREATE INDEX IF NOT EXISTS tasks_video_url ON tasks (video_url);
CREATE INDEX IF NOT EXISTS tasks_asset_id ON tasks (asset_id);
