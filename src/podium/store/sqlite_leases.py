"""SQLite side of leases (used by :class:`~podium.store.sqlite.SQLiteStore`): claim, renew,
release and the fence of an append.

Every function runs on the store's connection under its lock. Claim, renew and release are
each one ``BEGIN IMMEDIATE`` transaction, so concurrent claimers — threads or processes — are
serialized by the database's write lock and a run is never handed to two of them. The clock is
this machine's (``time.time()``): processes sharing one SQLite file share that clock.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from podium.errors import LeaseLost, RunNotFound
from podium.store import rates
from podium.store.base import Lease
from podium.store.index import check_acquire
from podium.types import RunStatus


@dataclass(frozen=True, slots=True)
class NewLease:
    """The lease a run is created with (``Store.create_leased``), taken inside the append's
    transaction; the lease is added to ``out``."""

    owner: str
    seconds: float
    out: list[Lease]

    def take(self, conn: sqlite3.Connection, run_id: str, now: float) -> None:
        expires_at = now + self.seconds
        conn.execute(
            "UPDATE runs SET lease_owner = ?, lease_epoch = 1, lease_expires = ?, attempts = 1 "
            "WHERE run_id = ?",
            (self.owner, expires_at, run_id),
        )
        self.out.append(Lease(run_id=run_id, owner=self.owner, epoch=1, expires_at=expires_at))


def acquire(
    conn: sqlite3.Connection, run_id: str, owner: str, lease_seconds: float, take_from: str | None
) -> Lease:
    """One ``BEGIN IMMEDIATE`` transaction: check who holds the run, then take it."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        now = time.time()
        row = conn.execute(
            "SELECT status, lease_owner, lease_expires FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise RunNotFound(run_id)
        check_acquire(run_id, RunStatus(row[0]), row[1], row[2], owner, now, take_from)
        expires_at = now + lease_seconds
        epoch, attempts = conn.execute(
            "UPDATE runs SET lease_owner = ?, lease_epoch = lease_epoch + 1, "
            "lease_expires = ?, attempts = attempts + 1 WHERE run_id = ? "
            "RETURNING lease_epoch, attempts",
            (owner, expires_at, run_id),
        ).fetchone()
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return Lease(
        run_id=run_id, owner=owner, epoch=int(epoch), expires_at=expires_at,
        attempts=int(attempts),
    )  # fmt: skip


def claim(
    conn: sqlite3.Connection, owner: str, lease_seconds: float, limit: int, namespace: str | None
) -> list[Lease]:
    pending, suspended, running = RunStatus.PENDING, RunStatus.SUSPENDED, RunStatus.RUNNING
    conn.execute("BEGIN IMMEDIATE")
    try:
        now = time.time()
        # Runnable: pending; suspended with a due timer; running with an expired lease (its
        # worker died or gave it back). A run never claimed has lease_expires NULL: if it is
        # running, something else (``podium run``) executes it. Runs under another owner's
        # unexpired lease are skipped. Oldest first.
        sql = (
            "SELECT run_id FROM runs WHERE status IN (?2, ?3, ?4) "
            "AND (status = ?2 OR (status = ?3 AND wake_at <= ?1) "
            "OR (status = ?4 AND lease_expires <= ?1)) "
            "AND (lease_owner IS NULL OR lease_owner = ?5 OR lease_expires <= ?1) "
        )
        args: list[object] = [now, pending.value, suspended.value, running.value, owner]
        if namespace is not None:
            sql += "AND namespace = ?6 "
            args.append(namespace)
        sql += f"ORDER BY created_at, run_id LIMIT {max(0, int(limit))}"
        run_ids = [run_id for (run_id,) in conn.execute(sql, args).fetchall()]
        expires_at = now + lease_seconds
        leases = []
        for run_id in run_ids:
            epoch, attempts = conn.execute(
                "UPDATE runs SET lease_owner = ?, lease_epoch = lease_epoch + 1, "
                "lease_expires = ?, attempts = attempts + 1 WHERE run_id = ? "
                "RETURNING lease_epoch, attempts",
                (owner, expires_at, run_id),
            ).fetchone()
            leases.append(
                Lease(
                    run_id=run_id, owner=owner, epoch=int(epoch), expires_at=expires_at,
                    attempts=int(attempts),
                )
            )  # fmt: skip
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return leases


def renew(conn: sqlite3.Connection, lease: Lease, lease_seconds: float) -> Lease:
    conn.execute("BEGIN IMMEDIATE")
    try:
        check_fence(conn, lease.run_id, lease)
        expires_at = time.time() + lease_seconds
        (attempts,) = conn.execute(
            "UPDATE runs SET lease_expires = ? WHERE run_id = ? RETURNING attempts",
            (expires_at, lease.run_id),
        ).fetchone()
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return Lease(
        run_id=lease.run_id, owner=lease.owner, epoch=lease.epoch, expires_at=expires_at,
        attempts=int(attempts),
    )  # fmt: skip


def release(conn: sqlite3.Connection, lease: Lease) -> None:
    """End the lease now if it is still held (the run is claimable at once; a clean hand-back
    restarts its attempt count)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "UPDATE runs SET lease_owner = NULL, lease_expires = ?, attempts = 0 "
            "WHERE run_id = ? AND lease_owner = ? AND lease_epoch = ?",
            (time.time(), lease.run_id, lease.owner, lease.epoch),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def check_fence(conn: sqlite3.Connection, run_id: str, lease: Lease) -> None:
    """Inside a write transaction: :class:`LeaseLost` unless ``lease`` still holds ``run_id``."""
    row = conn.execute(
        "SELECT lease_owner, lease_epoch FROM runs WHERE run_id = ?", (run_id,)
    ).fetchone()
    held = row is not None and row[0] is not None and lease.run_id == run_id
    if held and (row[0], row[1]) == (lease.owner, lease.epoch):
        return
    now = "not claimed" if row is None or row[0] is None else f"at epoch {row[1]}"
    raise LeaseLost(run_id, f"epoch {lease.epoch} of {lease.owner}; the run is {now}")


def take_rate(conn: sqlite3.Connection, key: str, args: rates.RateArgs, force: bool) -> float:
    """One ``BEGIN IMMEDIATE`` transaction: read the bucket, take from it, write it back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(
            "SELECT requests, tokens, updated_at FROM rate_buckets WHERE key = ?", (key,)
        ).fetchone()
        bucket, wait = rates.take(rates.from_row(row), time.time(), force=force, **args)
        conn.execute(
            "INSERT OR REPLACE INTO rate_buckets (key, requests, tokens, updated_at) "
            "VALUES (?, ?, ?, ?)",
            (key, *rates.to_row(bucket)),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return wait
