"""SQLite side of the audit chain, retention and erasure (used by :class:`SQLiteStore`).

Every function runs on the store's connection under its lock, in autocommit mode. Deleting and
erasing run with ``secure_delete`` on (freed space is overwritten with zeros) and end with a
``TRUNCATE`` checkpoint, so the old bodies leave the database file and its WAL.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from podium.errors import RunNotFound, StoreError
from podium.store import chain
from podium.store.base import AuditRow, AuditTrail, Erasure, RunRecord
from podium.store.index import TERMINAL, check_erase
from podium.types import RunStatus


class Found(NamedTuple):
    """A run's index row, with the head of its chain and its erasure (if any)."""

    record: RunRecord
    head: bytes
    erasure: Erasure | None


def hex_of(value: object) -> str:
    """A stored digest or hash as hex (a value of the wrong kind shows as text, to mismatch)."""
    if isinstance(value, bytes):
        return value.hex()
    return "" if value is None else str(value)


def erasure_of(raw: object) -> Erasure | None:
    if raw is None:
        return None
    try:
        data = json.loads(str(raw))
        return Erasure(at=float(data["at"]), by=str(data["by"]), reason=str(data["reason"]))
    except (ValueError, TypeError, KeyError) as error:
        raise StoreError(f"the erasure record {raw!r} is unreadable: {error}") from None


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction: every SELECT inside sees the same database state."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


@contextmanager
def _scrubbing(conn: sqlite3.Connection) -> Iterator[None]:
    """Zero what is deleted or overwritten, then move the WAL into the file and truncate it."""
    (before,) = conn.execute("PRAGMA secure_delete").fetchone()
    conn.execute("PRAGMA secure_delete=ON")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA secure_delete={int(before)}")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # may stay partial while others read


def trail(conn: sqlite3.Connection, run_id: str) -> AuditTrail:
    with snapshot(conn):
        index = conn.execute(
            "SELECT last_seq, head, erasure FROM runs WHERE run_id=?", (run_id,)
        ).fetchone()
        rows = conn.execute(
            "SELECT seq, ts, type, body, digest, hash FROM events WHERE run_id=? ORDER BY seq",
            (run_id,),
        ).fetchall()
    if index is None:
        raise RunNotFound(run_id)
    last_seq, head, raw_erasure = index
    erased = raw_erasure is not None
    return AuditTrail(
        run_id=run_id,
        last_seq=int(last_seq),
        head=hex_of(head),
        erasure=erasure_of(raw_erasure),
        rows=tuple(
            AuditRow(
                seq=int(seq), ts=float(ts), type=str(type_), digest=hex_of(digest),
                body=body if isinstance(body, str | bytes) else str(body),
                hash=hex_of(hash_), erased=erased,
            )
            for seq, ts, type_, body, digest, hash_ in rows
        ),
    )  # fmt: skip


def erase(conn: sqlite3.Connection, run_id: str, reason: str, by: str) -> bool:
    with _scrubbing(conn), _transaction(conn):
        index = conn.execute("SELECT status, erasure FROM runs WHERE run_id=?", (run_id,))
        found = index.fetchone()
        if found is None:
            raise RunNotFound(run_id)
        check_erase(run_id, RunStatus(found[0]))
        if found[1] is not None:
            return False
        types = conn.execute("SELECT seq, type FROM events WHERE run_id=?", (run_id,))
        conn.executemany(
            "UPDATE events SET body=? WHERE run_id=? AND seq=?",
            [(chain.tombstone(type_), run_id, seq) for seq, type_ in types.fetchall()],
        )
        record = {"at": time.time(), "by": by, "reason": reason}
        conn.execute("UPDATE runs SET erasure=? WHERE run_id=?", (json.dumps(record), run_id))
    return True


def delete_runs(conn: sqlite3.Connection, namespace: str, older_than: float) -> int:
    where = f"namespace=? AND updated_at<? AND status IN ({', '.join('?' * len(TERMINAL))})"
    args = (namespace, older_than, *(status.value for status in TERMINAL))
    with _scrubbing(conn), _transaction(conn):
        count, tokens, cost = conn.execute(
            f"SELECT COUNT(*), COALESCE(SUM(tokens), 0), COALESCE(SUM(cost_usd), 0) FROM runs "
            f"WHERE {where}",
            args,
        ).fetchone()
        if count:
            conn.execute(
                f"DELETE FROM events WHERE run_id IN (SELECT run_id FROM runs WHERE {where})", args
            )
            conn.execute(f"DELETE FROM runs WHERE {where}", args)
            conn.execute(
                "INSERT INTO retired_spend (namespace, runs, tokens, cost_usd) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (namespace) DO UPDATE SET runs = runs + excluded.runs, "
                "tokens = tokens + excluded.tokens, cost_usd = cost_usd + excluded.cost_usd",
                (namespace, count, tokens, cost),
            )
    return int(count)


def spend(conn: sqlite3.Connection, namespace: str) -> tuple[int, float]:
    row = conn.execute(
        "SELECT (SELECT COALESCE(SUM(tokens), 0) FROM runs WHERE namespace = ?1) "
        "+ COALESCE((SELECT tokens FROM retired_spend WHERE namespace = ?1), 0), "
        "(SELECT COALESCE(SUM(cost_usd), 0) FROM runs WHERE namespace = ?1) "
        "+ COALESCE((SELECT cost_usd FROM retired_spend WHERE namespace = ?1), 0)",
        (namespace,),
    ).fetchone()
    return int(row[0]), float(row[1])


def chain_existing(conn: sqlite3.Connection) -> None:
    """Migration step: chain the rows written before the audit chain existed, run by run."""
    run_ids = [run_id for (run_id,) in conn.execute("SELECT run_id FROM runs").fetchall()]
    for run_id in run_ids:
        head, updates = chain.GENESIS, []
        rows = conn.execute(
            "SELECT seq, ts, type, body FROM events WHERE run_id=? ORDER BY seq", (run_id,)
        ).fetchall()
        for seq, ts, type_, body in rows:
            digest = chain.digest(body if isinstance(body, str | bytes) else str(body))
            head = chain.link(head, run_id, seq, ts, type_, digest)
            updates.append((digest, head, run_id, seq))
        conn.executemany("UPDATE events SET digest=?, hash=? WHERE run_id=? AND seq=?", updates)
        conn.execute("UPDATE runs SET head=? WHERE run_id=?", (head, run_id))
