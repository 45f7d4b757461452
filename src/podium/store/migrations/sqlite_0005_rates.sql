-- Shared rate-limit buckets (podium.store.rates): what is left of a minute's allowance of
-- requests and tokens per provider or model key, as of updated_at. NULL: unlimited.
CREATE TABLE rate_buckets (
    key        TEXT PRIMARY KEY,
    requests   REAL,
    tokens     REAL,
    updated_at REAL NOT NULL
);
