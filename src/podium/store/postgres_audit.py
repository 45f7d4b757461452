"""PostgreSQL side of the audit trail, retention, erasure and spend (used by
:class:`~podium.store.postgres.PostgresStore`). Each function takes a connection in autocommit
mode and runs one statement or one transaction.

The digest of a row is the SHA-256 of ``body_text``, the exact text the store hashed.
:func:`trail` hands the verifier that text only while the ``body`` JSONB column still holds
the same JSON (``body_matches``); otherwise it hands the JSONB's own text, which cannot match
the digest, so a row edited in either column fails verification at its sequence.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from podium.errors import RunNotFound
from podium.store import chain
from podium.store.base import AuditRow, AuditTrail
from podium.store.index import TERMINAL, check_erase
from podium.store.postgres_sql import erasure_of, hex_of
from podium.types import RunStatus

_TRAIL = """
SELECT r.last_seq, r.head, r.erasure, e.seq, e.ts, e.type,
    CASE WHEN body_matches(e.body_text, e.body) THEN e.body_text ELSE e.body::text END,
    e.digest, e.hash
FROM runs r LEFT JOIN events e ON e.run_id = r.run_id
WHERE r.run_id = %s
ORDER BY e.seq
"""
_NOW = "extract(epoch FROM clock_timestamp())::float8"


async def trail(conn: AsyncConnection[Any], run_id: str) -> AuditTrail:
    """One statement, so the rows and the index row come from one snapshot."""
    cur = await conn.execute(_TRAIL, (run_id,))
    rows = await cur.fetchall()
    if not rows:
        raise RunNotFound(run_id)
    last_seq, head, raw_erasure = rows[0][:3]
    erasure = erasure_of(raw_erasure)
    return AuditTrail(
        run_id=run_id,
        last_seq=int(last_seq),
        head=hex_of(head),
        erasure=erasure,
        rows=tuple(
            AuditRow(
                seq=int(seq), ts=float(ts), type=str(type_), body=str(body),
                digest=hex_of(digest), hash=hex_of(hash_), erased=erasure is not None,
            )
            for *_, seq, ts, type_, body, digest, hash_ in rows
            if seq is not None
        ),
    )  # fmt: skip


async def erase(conn: AsyncConnection[Any], run_id: str, reason: str, by: str) -> bool:
    """Tombstone every body (text and JSONB) of a finished run and record who and why.

    PostgreSQL keeps the old row versions until ``VACUUM`` reclaims them (and its WAL until it
    is recycled): see docs/postgres.md."""
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT status, erasure FROM runs WHERE run_id = %s FOR UPDATE", (run_id,)
        )
        found = await cur.fetchone()
        if found is None:
            raise RunNotFound(run_id)
        check_erase(run_id, RunStatus(found[0]))
        if found[1] is not None:
            return False
        cur = await conn.execute("SELECT seq, type FROM events WHERE run_id = %s", (run_id,))
        rows = await cur.fetchall()
        await conn.execute(
            "UPDATE events SET body_text = u.body, body = u.body::jsonb "
            "FROM unnest(%s::bigint[], %s::text[]) AS u (seq, body) "
            "WHERE events.run_id = %s AND events.seq = u.seq",
            ([seq for seq, _ in rows], [chain.tombstone(type_) for _, type_ in rows], run_id),
        )
        await conn.execute(
            f"UPDATE runs SET erasure = jsonb_build_object('at', {_NOW}, 'by', %s::text, "
            "'reason', %s::text) WHERE run_id = %s",
            (by, reason, run_id),
        )
    return True


async def delete_runs(conn: AsyncConnection[Any], namespace: str, older_than: float) -> int:
    """Delete old finished runs (their events go with them: ``ON DELETE CASCADE``) and add
    their spend to ``retired_spend``, in one transaction."""
    async with conn.transaction():
        cur = await conn.execute(
            "WITH doomed AS (DELETE FROM runs WHERE namespace = %s AND updated_at < %s "
            "AND status = ANY(%s::text[]) RETURNING tokens, cost_usd) "
            "SELECT count(*), COALESCE(sum(tokens), 0)::bigint, "
            "COALESCE(sum(cost_usd), 0)::float8 FROM doomed",
            (namespace, older_than, [status.value for status in TERMINAL]),
        )
        count, tokens, cost = await cur.fetchone() or (0, 0, 0.0)
        if count:
            await conn.execute(
                "INSERT INTO retired_spend (namespace, runs, tokens, cost_usd) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (namespace) DO UPDATE SET "
                "runs = retired_spend.runs + excluded.runs, "
                "tokens = retired_spend.tokens + excluded.tokens, "
                "cost_usd = retired_spend.cost_usd + excluded.cost_usd",
                (namespace, count, tokens, cost),
            )
    return int(count)


async def spend(conn: AsyncConnection[Any], namespace: str) -> tuple[int, float]:
    cur = await conn.execute(
        "SELECT (SELECT COALESCE(sum(tokens), 0) FROM runs WHERE namespace = %(ns)s)::bigint "
        "+ COALESCE((SELECT tokens FROM retired_spend WHERE namespace = %(ns)s), 0), "
        "(SELECT COALESCE(sum(cost_usd), 0) FROM runs WHERE namespace = %(ns)s)::float8 "
        "+ COALESCE((SELECT cost_usd FROM retired_spend WHERE namespace = %(ns)s), 0)",
        {"ns": namespace},
    )
    row = await cur.fetchone()
    return (0, 0.0) if row is None else (int(row[0]), float(row[1]))
