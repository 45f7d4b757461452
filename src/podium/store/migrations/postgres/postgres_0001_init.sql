-- Podium store schema v1 (PostgreSQL). Applied by podium.store.postgres_schema.migrate, in one
-- transaction under an advisory lock, in the schema the store was opened with.
-- Times are epoch seconds (DOUBLE PRECISION): an event's ts must read back as the exact float
-- its chain hash covers (TIMESTAMPTZ keeps microseconds only).

-- The status index: one row per run, a fold over its events (podium.store.index), plus the
-- head of its audit chain, its erasure and its lease.
CREATE TABLE runs (
    run_id        TEXT PRIMARY KEY,
    workflow      TEXT NOT NULL,
    namespace     TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_at    DOUBLE PRECISION NOT NULL,
    updated_at    DOUBLE PRECISION NOT NULL,
    last_seq      BIGINT NOT NULL,
    parent_run_id TEXT,
    tags          TEXT[] NOT NULL DEFAULT '{}',
    wake_at       DOUBLE PRECISION,
    error         TEXT,
    tokens        BIGINT NOT NULL DEFAULT 0,
    cost_usd      DOUBLE PRECISION NOT NULL DEFAULT 0,
    -- the hash of the run's last event: appends chain from it; verification compares it
    head          BYTEA NOT NULL DEFAULT '\x',
    -- {"at", "by", "reason"} once the run's content was erased
    erasure       JSONB,
    -- the worker holding the run: a fenced append must carry lease_epoch
    lease_owner   TEXT,
    lease_epoch   BIGINT NOT NULL DEFAULT 0,
    lease_expires DOUBLE PRECISION,  -- database clock
    attempts      INTEGER NOT NULL DEFAULT 0
) WITH (fillfactor = 80);
-- Every append updates its run's row. No index covers a column that a step changes
-- (updated_at, last_seq, head, tokens, cost_usd, leases), and pages keep room (fillfactor), so
-- that update is HOT: PostgreSQL writes no index entry for it.
CREATE INDEX runs_created ON runs (created_at, run_id);
CREATE INDEX runs_status_created ON runs (status, created_at, run_id);
CREATE INDEX runs_workflow ON runs (workflow, created_at);
CREATE INDEX runs_namespace ON runs (namespace, status);
CREATE INDEX runs_tags ON runs USING GIN (tags);
-- what claim() scans, oldest first
CREATE INDEX runs_claimable ON runs (created_at, run_id)
    WHERE status IN ('pending', 'suspended', 'running');

-- The journal. body_text is the exact text encode() produced: its SHA-256 is the digest the
-- chain covers, and reads decode it. body is the same event as JSONB, for queries; audit_trail()
-- compares the two (body_matches), so a JSONB edited alone is caught too.
CREATE TABLE events (
    run_id    TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    seq       BIGINT NOT NULL,
    ts        DOUBLE PRECISION NOT NULL,
    type      TEXT NOT NULL,
    v         INTEGER NOT NULL,
    body_text TEXT NOT NULL,
    body      JSONB NOT NULL,
    digest    BYTEA NOT NULL,
    hash      BYTEA NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- tokens and cost of runs deleted by retention: namespace budgets keep counting them
CREATE TABLE retired_spend (
    namespace TEXT PRIMARY KEY,
    runs      BIGINT NOT NULL,
    tokens    BIGINT NOT NULL,
    cost_usd  DOUBLE PRECISION NOT NULL
);

-- Does the JSONB column hold the event its hashed text says? False (never an error) for a
-- text that is not JSON, so verification reports a bad row instead of failing.
CREATE FUNCTION body_matches(body_text TEXT, body JSONB) RETURNS BOOLEAN
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN body_text::jsonb = body;
EXCEPTION WHEN OTHERS THEN
    RETURN FALSE;
END
$$;
