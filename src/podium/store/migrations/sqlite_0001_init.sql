-- Podium store schema v1 (SQLite).
CREATE TABLE runs (
    run_id        TEXT PRIMARY KEY,
    workflow      TEXT NOT NULL,
    namespace     TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL,
    last_seq      INTEGER NOT NULL,
    parent_run_id TEXT,
    tags          TEXT NOT NULL DEFAULT '[]',
    wake_at       REAL,
    error         TEXT
);
CREATE INDEX runs_status_updated ON runs (status, updated_at);
CREATE INDEX runs_created ON runs (created_at);
CREATE INDEX runs_workflow ON runs (workflow, created_at);

CREATE TABLE events (
    run_id  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    ts      REAL NOT NULL,
    type    TEXT NOT NULL,
    v       INTEGER NOT NULL,
    body    TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
