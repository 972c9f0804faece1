CREATE TABLE IF NOT EXISTS video_usage (
    task_id    TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    seconds    DOUBLE PRECISION NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS video_usage_account ON video_usage (account_id, at);
CREATE INDEX IF NOT EXISTS video_usage_at ON video_usage (at)
