-- Podium store schema v2 (SQLite): what each run spent, for namespace (tenant) budgets.
ALTER TABLE runs ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;
CREATE INDEX runs_namespace ON runs (namespace);
