"""PostgreSQL side of namespace spend holds (:mod:`podium.store.holds`), used by
:class:`~podium.store.postgres.PostgresStore`. A hold is granted in one transaction that first
locks its namespace's ``spend_namespaces`` row: holds of one namespace queue on that lock
across every connection and machine, and the totals are read in one statement (one snapshot)
after it, so a usage journaled and its hold released in between is counted once or twice,
never zero times."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection, errors

from podium.errors import StoreError
from podium.store import holds
from podium.store.holds import SpendCheck, SpendHold
from podium.store.index import TERMINAL

_NOW = "extract(epoch FROM clock_timestamp())"
_FINISHED = ", ".join(f"'{status.value}'" for status in TERMINAL)  # enum values, not input
_LIVE = (
    "FROM spend_holds h WHERE h.namespace = %(ns)s AND h.expires_at > {now} AND NOT EXISTS "
    f"(SELECT 1 FROM runs r WHERE r.run_id = h.run_id AND r.status IN ({_FINISHED}))"
)
_SUMS = (
    "SELECT (SELECT COALESCE(sum(tokens), 0) FROM runs WHERE namespace = %(ns)s)::bigint "
    "+ COALESCE((SELECT tokens FROM retired_spend WHERE namespace = %(ns)s), 0), "
    "(SELECT COALESCE(sum(cost_usd), 0) FROM runs WHERE namespace = %(ns)s)::float8 "
    "+ COALESCE((SELECT cost_usd FROM retired_spend WHERE namespace = %(ns)s), 0), "
    f"(SELECT COALESCE(sum(h.tokens), 0)::bigint {_LIVE.format(now='now.t')}), "
    f"(SELECT COALESCE(sum(h.cost_usd), 0)::float8 {_LIVE.format(now='now.t')}), now.t "
    f"FROM (SELECT {_NOW} AS t) now"
)


async def hold(
    conn: AsyncConnection[Any],
    spend: SpendHold,
    max_tokens: int | None,
    max_cost_usd: float | None,
    seconds: float,
) -> SpendCheck:
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO spend_namespaces (namespace) VALUES (%s) ON CONFLICT DO NOTHING",
                (spend.namespace,),
            )
            await conn.execute(
                "SELECT 1 FROM spend_namespaces WHERE namespace = %s FOR UPDATE",
                (spend.namespace,),
            )
            cur = await conn.execute(_SUMS, {"ns": spend.namespace})
            tokens, cost, held_tokens, held_cost, now = await cur.fetchone() or (0, 0, 0, 0, 0)
            check = holds.decide(
                spend, spent=(int(tokens), float(cost)),
                held=(int(held_tokens), float(held_cost)),
                max_tokens=max_tokens, max_cost_usd=max_cost_usd,
            )  # fmt: skip
            if check.granted:
                await conn.execute(
                    "INSERT INTO spend_holds (hold_id, namespace, run_id, tokens, cost_usd, "
                    "expires_at) VALUES (%s, %s, %s, %s, %s, %s)",
                    (spend.hold_id, spend.namespace, spend.run_id, spend.tokens,
                     spend.cost_usd, float(now) + seconds),
                )  # fmt: skip
    except errors.UniqueViolation:
        raise StoreError(f"spend hold {spend.hold_id!r} exists already") from None
    return check


async def release(conn: AsyncConnection[Any], hold_ids: tuple[str, ...], run_id: str | None) -> int:
    cur = await conn.execute(
        "DELETE FROM spend_holds WHERE run_id = %s OR hold_id = ANY(%s)", (run_id, list(hold_ids))
    )
    return int(cur.rowcount)


async def held(conn: AsyncConnection[Any], namespace: str) -> tuple[int, float]:
    cur = await conn.execute(
        "SELECT COALESCE(sum(h.tokens), 0)::bigint, COALESCE(sum(h.cost_usd), 0)::float8 "
        + _LIVE.format(now=_NOW),
        {"ns": namespace},
    )
    tokens, cost = await cur.fetchone() or (0, 0.0)
    return int(tokens), float(cost)
