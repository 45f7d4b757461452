-- The control plane (podium.store.control): deployments, API keys, the operator log and
-- idempotency keys of `podium serve`.

-- Immutable, content-addressed versions of a named workflow per namespace.
CREATE TABLE deployments (
    namespace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    digest     TEXT NOT NULL,
    entry      TEXT NOT NULL,
    files      TEXT NOT NULL,  -- JSON {relative path: source text}
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (namespace, name, version),
    UNIQUE (namespace, name, digest)
);

-- API keys: a salted scrypt hash, never the secret.
CREATE TABLE api_keys (
    key_id      TEXT PRIMARY KEY,
    namespace   TEXT NOT NULL,
    role        TEXT NOT NULL,
    salt        BLOB NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  REAL NOT NULL,
    expires_at  REAL,
    revoked_at  REAL,
    label       TEXT NOT NULL,
    created_by  TEXT NOT NULL
);

-- Every mutation made through the server, hash-chained like a run journal.
CREATE TABLE operator_log (
    seq        INTEGER PRIMARY KEY,
    ts         REAL NOT NULL,
    principal  TEXT NOT NULL,
    credential TEXT NOT NULL,
    source     TEXT NOT NULL,
    action     TEXT NOT NULL,
    namespace  TEXT NOT NULL,
    target     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    digest     TEXT NOT NULL,
    hash       TEXT NOT NULL
);

-- Idempotency-Key of a run start: the request it was first used with and the run it named.
CREATE TABLE idempotency (
    namespace      TEXT NOT NULL,
    key            TEXT NOT NULL,
    request_digest TEXT NOT NULL,
    run_id         TEXT NOT NULL,
    created_at     REAL NOT NULL,
    PRIMARY KEY (namespace, key)
);
