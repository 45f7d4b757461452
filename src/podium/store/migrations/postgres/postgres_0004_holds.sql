-- Spend holds (podium.store.holds): what model calls in flight keep of a namespace's budget.
-- A hold counts while expires_at (the database clock) is ahead and its run is not finished.
-- A hold is granted under a row lock on its namespace's spend_namespaces row.
CREATE TABLE spend_holds (
    hold_id    TEXT PRIMARY KEY,
    namespace  TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    tokens     BIGINT NOT NULL,
    cost_usd   DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX spend_holds_namespace ON spend_holds (namespace, expires_at);
CREATE INDEX spend_holds_run ON spend_holds (run_id);
CREATE TABLE spend_namespaces (
    namespace TEXT PRIMARY KEY
);
