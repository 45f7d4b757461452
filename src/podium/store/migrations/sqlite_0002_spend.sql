-- Podium store schema v2 (SQLite): what each run spent (namespace budgets); inbox order.
ALTER TABLE runs ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;
CREATE INDEX runs_namespace ON runs (namespace);
-- the approvals inbox lists waiting runs oldest first
CREATE INDEX runs_status_created ON runs (status, created_at, run_id);
