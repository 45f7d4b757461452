-- Environments, promotions and promotion approvals (podium.store.environments).

-- A namespace's environments in promotion order, with their settings (JSON); a namespace
-- without rows has the defaults dev, uat, preprod, prod.
CREATE TABLE environments (
    namespace TEXT NOT NULL,
    position  INTEGER NOT NULL,
    name      TEXT NOT NULL,
    settings  TEXT NOT NULL,
    PRIMARY KEY (namespace, name),
    UNIQUE (namespace, position)
);

-- Every promotion, forced promotion and rollback of a deployment in an environment, in order;
-- the version an environment serves is a fold over these rows.
CREATE TABLE promotions (
    namespace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    env        TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (namespace, name, env, seq)
);

-- Approvals of promoting one version into one environment: one row per approver, so two
-- approvals by the same person count once.
CREATE TABLE promotion_approvals (
    namespace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    env        TEXT NOT NULL,
    approver   TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (namespace, name, version, env, approver)
);
