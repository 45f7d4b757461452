-- Spend holds (podium.store.holds): what model calls in flight keep of a namespace's budget.
-- A hold counts while expires_at (the store's clock) is ahead and its run is not finished.
CREATE TABLE spend_holds (
    hold_id    TEXT PRIMARY KEY,
    namespace  TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    tokens     INTEGER NOT NULL,
    cost_usd   REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX spend_holds_namespace ON spend_holds (namespace, expires_at);
CREATE INDEX spend_holds_run ON spend_holds (run_id);
