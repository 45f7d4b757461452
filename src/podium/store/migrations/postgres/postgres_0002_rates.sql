-- Shared rate-limit buckets (podium.store.rates): what is left of a minute's allowance of
-- requests and tokens per provider or model key, as of updated_at (database clock, epoch
-- seconds). NULL: unlimited. Every worker of the schema draws from the same rows.
CREATE TABLE rate_buckets (
    key        TEXT PRIMARY KEY,
    requests   DOUBLE PRECISION,
    tokens     DOUBLE PRECISION,
    updated_at DOUBLE PRECISION NOT NULL
);
