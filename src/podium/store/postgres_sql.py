"""The SQL of :class:`~podium.store.postgres.PostgresStore`, and reading its rows back.

Every write of an append is ONE statement (so, in autocommit mode, one transaction and one
round trip): a data-modifying CTE ``r`` inserts or conditionally updates the run's index row,
the events are inserted only for a row ``r`` returned, and the statement returns how many index
rows it wrote (0 or 1). The update is conditional on what the new rows were computed from (the
run's last sequence, the head of its chain, and for a fenced append its lease), so it is also
correct when run outside the ``SELECT ... FOR UPDATE`` transaction, with a cached index row.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from podium.errors import StoreError
from podium.store.base import Erasure, RunFilter, RunRecord
from podium.types import RunStatus

CHANNEL = "podium_runnable"  # NOTIFY channel: a run may have become claimable

RUN_COLUMNS = (
    "run_id, workflow, namespace, status, created_at, updated_at, last_seq, parent_run_id, "
    "tags, wake_at, error, tokens, cost_usd"
)
# the slow path of an append: the index row, locked until the transaction ends
LOCK_RUN = (
    f"SELECT {RUN_COLUMNS}, head, lease_owner, lease_epoch FROM runs WHERE run_id = %s FOR UPDATE"
)
GET_RUN = f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = %s"
LAST_SEQ = "SELECT last_seq FROM runs WHERE run_id = %s"

_CREATE = """
WITH r AS (
    INSERT INTO runs (run_id, workflow, namespace, status, created_at, updated_at, last_seq,
                      parent_run_id, tags, wake_at, error, tokens, cost_usd, head)
    VALUES (%(run_id)s, %(workflow)s, %(namespace)s, %(status)s, %(created_at)s,
            %(updated_at)s, %(last_seq)s, %(parent_run_id)s, %(tags)s::text[], %(wake_at)s,
            %(error)s, %(tokens)s, %(cost_usd)s, %(head)s)
    ON CONFLICT (run_id) DO NOTHING
    RETURNING run_id
)"""
_UPDATE = """
WITH r AS (
    UPDATE runs SET status = %(status)s, updated_at = %(updated_at)s, last_seq = %(last_seq)s,
        wake_at = %(wake_at)s, error = %(error)s, tokens = %(tokens)s, cost_usd = %(cost_usd)s,
        head = %(head)s
    WHERE run_id = %(run_id)s AND last_seq = %(expected_seq)s AND head = %(prev_head)s{fence}
    RETURNING run_id
)"""
_FENCE = " AND lease_epoch = %(lease_epoch)s AND lease_owner = %(lease_owner)s"
_EVENTS = """,
e AS (
    INSERT INTO events (run_id, seq, ts, type, v, body_text, body, digest, hash)
    SELECT r.run_id, u.seq, u.ts, u.type, %(v)s, u.body, u.body::jsonb, u.digest, u.hash
    FROM r, unnest(%(seqs)s::bigint[], %(tss)s::float8[], %(types)s::text[],
                   %(bodies)s::text[], %(digests)s::bytea[], %(hashes)s::bytea[])
         AS u (seq, ts, type, body, digest, hash)
)
"""
# one event (a durable step): plain parameters are cheaper to send and plan than arrays
_EVENT = """,
e AS (
    INSERT INTO events (run_id, seq, ts, type, v, body_text, body, digest, hash)
    SELECT r.run_id, %(seq)s, %(ts)s, %(type)s::text, %(v)s, %(body)s::text,
           %(body)s::text::jsonb, %(digest)s, %(hash)s
    FROM r
)
"""
_COUNT = "SELECT count(*) FROM r"
_COUNT_NOTIFY = f"SELECT count(*) FROM (SELECT pg_notify('{CHANNEL}', %(payload)s) FROM r) AS n"


def write_sql(*, create: bool, fenced: bool, notify: bool, single: bool) -> bytes:
    """The one statement that writes an append (or an import); returns 1 row: index rows
    written (0 or 1). ``single``: one event, passed as plain parameters (else as arrays)."""
    head = _CREATE if create else _UPDATE.format(fence=_FENCE if fenced else "")
    return (head + (_EVENT if single else _EVENTS) + (_COUNT_NOTIFY if notify else _COUNT)).encode()


WRITE_SQL = {
    key: write_sql(create=key[0], fenced=key[1], notify=key[2], single=key[3])
    for key in itertools.product((False, True), repeat=4)
}

READ = (
    "SELECT r.last_seq, r.erasure, r.head, e.seq, e.ts, e.v, e.body_text, e.digest, e.hash "
    "FROM runs r LEFT JOIN events e ON e.run_id = r.run_id AND e.seq > %s "
    "WHERE r.run_id = %s ORDER BY e.seq"
)


def list_sql(query: RunFilter) -> tuple[bytes, list[object]]:
    """``list_runs`` as SQL and its arguments."""
    where: list[str] = []
    args: list[object] = []
    if query.statuses:
        where.append("status = ANY(%s::text[])")
        args.append([status.value for status in query.statuses])
    for condition, value in (
        ("workflow = %s", query.workflow),
        ("namespace = %s", query.namespace),
        ("created_at >= %s", query.created_after),
        ("created_at < %s", query.created_before),
        ("tags @> %s::text[]", None if query.tag is None else [query.tag]),
    ):
        if value is not None:
            where.append(condition)
            args.append(value)
    if query.before is not None:
        where.append("(created_at, run_id) < (%s, %s)")
        args.extend(query.before)
    sql = f"SELECT {RUN_COLUMNS} FROM runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    args.append(max(0, min(query.limit, 2**62)))
    return (sql + " ORDER BY created_at DESC, run_id DESC LIMIT %s").encode(), args


# -- leases (the database's clock) ---------------------------------------------------------------

_NOW = "extract(epoch FROM clock_timestamp())::float8"
# Runnable: pending; suspended with a due timer; running with an expired lease (its worker died
# or gave it back; a run never claimed has no lease_expires: something else executes it). Not
# under ANOTHER owner's unexpired lease: an owner claiming again gets its own pending runs back
# with a new epoch (a restarted worker with a stable name resumes at once). Oldest first; rows
# locked by other transactions are skipped, never waited for.
CLAIM = f"""
WITH now AS MATERIALIZED (SELECT {_NOW} AS t),
picked AS (
    SELECT runs.run_id FROM runs, now
    WHERE status IN ('pending', 'suspended', 'running')
      AND (%(namespace)s::text IS NULL OR namespace = %(namespace)s::text)
      AND (status = 'pending' OR (status = 'suspended' AND wake_at <= now.t)
           OR (status = 'running' AND lease_expires <= now.t))
      AND (lease_owner IS NULL OR lease_owner = %(owner)s OR lease_expires <= now.t)
    ORDER BY created_at, runs.run_id
    LIMIT %(limit)s
    FOR UPDATE OF runs SKIP LOCKED
)
UPDATE runs SET lease_owner = %(owner)s, lease_epoch = runs.lease_epoch + 1,
    attempts = runs.attempts + 1, lease_expires = now.t + %(seconds)s
FROM picked, now
WHERE runs.run_id = picked.run_id
RETURNING runs.run_id, runs.lease_epoch, runs.lease_expires, runs.attempts, runs.created_at
"""
RENEW = f"""
UPDATE runs SET lease_expires = {_NOW} + %(seconds)s
WHERE run_id = %(run_id)s AND lease_epoch = %(epoch)s AND lease_owner = %(owner)s
RETURNING lease_expires, attempts
"""
# a run created already leased (Store.create_leased): in the creating transaction
LEASE_NEW = f"""
UPDATE runs SET lease_owner = %(owner)s, lease_epoch = 1, attempts = 1,
    lease_expires = {_NOW} + %(seconds)s
WHERE run_id = %(run_id)s
RETURNING lease_expires
"""
# an explicit resume (Store.acquire): any unfinished run not under ANOTHER owner's live lease
ACQUIRE = f"""
WITH now AS MATERIALIZED (SELECT {_NOW} AS t)
UPDATE runs SET lease_owner = %(owner)s, lease_epoch = runs.lease_epoch + 1,
    attempts = runs.attempts + 1, lease_expires = now.t + %(seconds)s
FROM now
WHERE run_id = %(run_id)s AND status NOT IN ('completed', 'failed', 'cancelled')
  AND (lease_owner IS NULL OR lease_owner = %(owner)s OR lease_expires <= now.t
       OR lease_owner = %(take_from)s::text)
RETURNING runs.lease_epoch, runs.lease_expires, runs.attempts
"""
# why an acquire took nothing
HOLDER = f"SELECT status, lease_owner, lease_expires, {_NOW} FROM runs WHERE run_id = %s"
# a clean hand-back restarts the attempt count (a worker that dies never releases)
RELEASE = f"""
WITH r AS (
    UPDATE runs SET lease_owner = NULL, lease_expires = {_NOW}, attempts = 0
    WHERE run_id = %(run_id)s AND lease_epoch = %(epoch)s AND lease_owner = %(owner)s
    RETURNING status, wake_at
)
SELECT count(*) FROM (
    SELECT pg_notify('{CHANNEL}', %(payload)s) FROM r
    WHERE status IN ('pending', 'running') OR (status = 'suspended' AND wake_at IS NOT NULL)
) AS n
"""

# A JSON escape of U+0000 that is not itself an escaped backslash: JSONB refuses it.
_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def nul_escape(body: str) -> bool:
    """Does an encoded body hold U+0000 (which PostgreSQL text and JSONB cannot store)?"""
    return "\\u0000" in body and _NUL.search(body) is not None


def runnable(record: RunRecord) -> bool:
    """Could a worker claim the run now or at its wake time (so NOTIFY the workers)?"""
    status = record.status
    return status is RunStatus.PENDING or (
        status is RunStatus.SUSPENDED and record.wake_at is not None
    )


def payload(schema: str, run_id: str) -> str:
    return json.dumps({"schema": schema, "run_id": run_id}, separators=(",", ":"))


def record_of(row: tuple[Any, ...]) -> RunRecord:
    """A :data:`RUN_COLUMNS` row as a record."""
    run_id, workflow, namespace, status, created, updated, last_seq, parent, tags, wake, err = row[
        :11
    ]
    tokens, cost = row[11:13]
    try:
        return RunRecord(
            run_id=str(run_id),
            workflow=str(workflow),
            namespace=str(namespace),
            status=RunStatus(str(status)),
            created_at=float(created),
            updated_at=float(updated),
            last_seq=int(last_seq),
            parent_run_id=None if parent is None else str(parent),
            tags=tuple(str(tag) for tag in tags),
            wake_at=None if wake is None else float(wake),
            error=None if err is None else str(err),
            tokens=int(tokens),
            cost_usd=float(cost),
        )
    except (ValueError, TypeError) as error:
        raise StoreError(f"run {run_id}: index row is unreadable: {error}") from None


def erasure_of(raw: object) -> Erasure | None:
    if raw is None:
        return None
    try:
        data = raw if isinstance(raw, dict) else json.loads(str(raw))
        return Erasure(at=float(data["at"]), by=str(data["by"]), reason=str(data["reason"]))
    except (ValueError, TypeError, KeyError) as error:
        raise StoreError(f"the erasure record {raw!r} is unreadable: {error}") from None


def hex_of(value: object) -> str:
    """A stored digest or hash as hex (a value of the wrong kind shows as text, to mismatch)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return "" if value is None else str(value)
