CREATE TABLE IF NOT EXISTS assets (
    id                 TEXT PRIMARY KEY,
    method             TEXT NOT NULL,
    status             TEXT NOT NULL,
    type               TEXT NOT NULL,
    filename           TEXT NOT NULL,
    file_type          TEXT NOT NULL,
    source_url         TEXT,
    upload_id          TEXT,
    blob_key           TEXT,
    size               BIGINT NOT NULL DEFAULT 0,
    duration           DOUBLE PRECISION,
    technical_metadata TEXT,
    user_metadata      TEXT,
    unanalyzable       TEXT,
    error_message      TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS assets_created ON assets (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS assets_type ON assets (type, created_at DESC);

CREATE TABLE IF NOT EXISTS uploads (
    id            TEXT PRIMARY KEY,
    asset_id      TEXT NOT NULL,
    status        TEXT NOT NULL,
    filename      TEXT NOT NULL,
    type          TEXT NOT NULL,
    total_size    BIGINT NOT NULL,
    chunk_size    BIGINT NOT NULL,
    total_chunks  INTEGER NOT NULL,
    user_metadata TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_status ON uploads (status, expires_at);
CREATE INDEX IF NOT EXISTS uploads_created ON uploads (created_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS upload_chunks (
    upload_id   TEXT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    size        BIGINT NOT NULL,
    etag        TEXT NOT NULL,
    blob_key    TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    reported_at BIGINT,
    PRIMARY KEY (upload_id, idx)
);

CREATE TABLE IF NOT EXISTS upload_urls (
    sig       TEXT PRIMARY KEY,
    upload_id TEXT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    state     TEXT NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS upload_urls_upload ON upload_urls (upload_id);
