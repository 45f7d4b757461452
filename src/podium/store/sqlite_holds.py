"""SQLite side of namespace spend holds (:mod:`podium.store.holds`), used by
:class:`~podium.store.SQLiteStore`. Each function runs on the store's connection under its
lock; a hold is granted in one ``BEGIN IMMEDIATE`` transaction, so the check and the insert are
atomic across every process sharing the file."""

from __future__ import annotations

import json
import sqlite3
import time

from podium.errors import StoreError
from podium.store import holds
from podium.store.holds import SpendCheck, SpendHold
from podium.store.index import TERMINAL

_FINISHED = ", ".join(f"'{status.value}'" for status in TERMINAL)  # enum values, not input
LIVE_HOLDS = (
    "FROM spend_holds h WHERE h.namespace = :ns AND h.expires_at > :now AND NOT EXISTS "
    f"(SELECT 1 FROM runs r WHERE r.run_id = h.run_id AND r.status IN ({_FINISHED}))"
)
_SUMS = (
    "SELECT (SELECT COALESCE(SUM(tokens), 0) FROM runs WHERE namespace = :ns) "
    "+ COALESCE((SELECT tokens FROM retired_spend WHERE namespace = :ns), 0), "
    "(SELECT COALESCE(SUM(cost_usd), 0) FROM runs WHERE namespace = :ns) "
    "+ COALESCE((SELECT cost_usd FROM retired_spend WHERE namespace = :ns), 0), "
    f"(SELECT COALESCE(SUM(h.tokens), 0) {LIVE_HOLDS}), "
    f"(SELECT COALESCE(SUM(h.cost_usd), 0) {LIVE_HOLDS})"
)
_INSERT = (
    "INSERT INTO spend_holds (hold_id, namespace, run_id, tokens, cost_usd, expires_at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_MATCH = "WHERE run_id = ? OR hold_id IN (SELECT value FROM json_each(?))"


def hold(
    conn: sqlite3.Connection,
    spend: SpendHold,
    max_tokens: int | None,
    max_cost_usd: float | None,
    seconds: float,
) -> SpendCheck:
    conn.execute("BEGIN IMMEDIATE")
    try:
        now = time.time()
        row = conn.execute(_SUMS, {"ns": spend.namespace, "now": now}).fetchone()
        check = holds.decide(
            spend, spent=(int(row[0]), float(row[1])), held=(int(row[2]), float(row[3])),
            max_tokens=max_tokens, max_cost_usd=max_cost_usd,
        )  # fmt: skip
        if check.granted:
            values = (spend.hold_id, spend.namespace, spend.run_id, spend.tokens, spend.cost_usd)
            conn.execute(_INSERT, (*values, now + seconds))
        conn.execute("COMMIT")
    except sqlite3.IntegrityError:
        conn.execute("ROLLBACK")
        raise StoreError(f"spend hold {spend.hold_id!r} exists already") from None
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return check


def release(conn: sqlite3.Connection, hold_ids: tuple[str, ...], run_id: str | None) -> int:
    args = (run_id, json.dumps(list(hold_ids)))
    if conn.execute(f"SELECT 1 FROM spend_holds {_MATCH} LIMIT 1", args).fetchone() is None:
        return 0  # the usual case on resume: nothing to drop, no write lock taken
    return int(conn.execute(f"DELETE FROM spend_holds {_MATCH}", args).rowcount)


def held(conn: sqlite3.Connection, namespace: str) -> tuple[int, float]:
    sql = f"SELECT COALESCE(SUM(h.tokens), 0), COALESCE(SUM(h.cost_usd), 0) {LIVE_HOLDS}"
    tokens, cost = conn.execute(sql, {"ns": namespace, "now": time.time()}).fetchone()
    return int(tokens), float(cost)
