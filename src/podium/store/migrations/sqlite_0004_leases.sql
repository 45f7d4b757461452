-- Podium store schema v4 (SQLite): leases, for workers (Store.claim, renew, release).
-- lease_owner is NULL when nobody holds the run (never claimed, or released); lease_epoch is
-- the fencing token (incremented by every claim; a fenced append with another epoch is
-- refused); lease_expires is NULL until the first claim; attempts counts the claims since the
-- last release (a run that keeps killing its worker is dead-lettered).
ALTER TABLE runs ADD COLUMN lease_owner TEXT;
ALTER TABLE runs ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN lease_expires REAL;
ALTER TABLE runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
