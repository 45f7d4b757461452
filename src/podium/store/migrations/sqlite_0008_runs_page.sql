-- A page of a namespace's runs, newest first, by keyset cursor (GET /v1/runs): an index walk,
-- not a sort of the namespace.
CREATE INDEX runs_namespace_created ON runs (namespace, created_at, run_id);
