-- Podium store schema v3 (SQLite): the audit chain, erasure, and the spend of deleted runs.
-- Every event gets the SHA-256 of its body and its chain hash (podium.store.chain), raw bytes;
-- rows written before this migration are chained by it, in the same transaction.
ALTER TABLE events ADD COLUMN digest BLOB NOT NULL DEFAULT x'';
ALTER TABLE events ADD COLUMN hash BLOB NOT NULL DEFAULT x'';
-- the hash of the run's last event: appends chain from it; verification compares it
ALTER TABLE runs ADD COLUMN head BLOB NOT NULL DEFAULT x'';
-- JSON {"at", "by", "reason"} once the run's content was erased
ALTER TABLE runs ADD COLUMN erasure TEXT;
-- tokens and cost of runs deleted by retention: namespace budgets keep counting them
CREATE TABLE retired_spend (
    namespace TEXT PRIMARY KEY,
    runs      INTEGER NOT NULL,
    tokens    INTEGER NOT NULL,
    cost_usd  REAL NOT NULL
);
