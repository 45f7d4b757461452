"""PostgreSQL side of leases and wake-ups (used by :class:`~podium.store.postgres.PostgresStore`).

Claim, renew and release are each ONE statement on the database's clock
(``clock_timestamp()``), so every worker agrees on when a lease expires whatever its own clock
says. A claim locks the rows it takes with ``FOR UPDATE SKIP LOCKED``: concurrent claimers never
wait for each other and never get the same run. :class:`Listener` waits for
``NOTIFY podium_runnable`` on a connection of its own.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
from psycopg import AsyncConnection

from podium.errors import LeaseLost, RunNotFound, StoreError
from podium.store import postgres_sql as q
from podium.store import rates
from podium.store.base import Lease
from podium.store.index import check_acquire
from podium.types import RunStatus


async def claim(
    conn: AsyncConnection[Any],
    owner: str,
    lease_seconds: float,
    limit: int,
    namespace: str | None,
) -> list[Lease]:
    params = {"owner": owner, "seconds": lease_seconds, "limit": max(0, limit)}
    deadline = time.monotonic() + lease_seconds
    cur = await conn.execute(q.CLAIM, {**params, "namespace": namespace})
    rows = await cur.fetchall()
    rows.sort(key=lambda row: (row[4], row[0]))  # oldest first (RETURNING has no order)
    return [
        Lease(run_id=r, owner=owner, epoch=e, expires_at=x, attempts=a, deadline=deadline)
        for r, e, x, a, _ in rows
    ]


async def lease_new(
    conn: AsyncConnection[Any], run_id: str, owner: str, lease_seconds: float, deadline: float
) -> Lease:
    """Inside the transaction that created ``run_id``: lease it to ``owner`` (epoch 1)."""
    params = {"run_id": run_id, "owner": owner, "seconds": lease_seconds}
    cur = await conn.execute(q.LEASE_NEW, params)
    row = await cur.fetchone()
    if row is None:
        raise StoreError(f"run {run_id}: its index row vanished while it was created")
    return Lease(run_id=run_id, owner=owner, epoch=1, expires_at=row[0], deadline=deadline)


async def acquire(
    conn: AsyncConnection[Any],
    run_id: str,
    owner: str,
    lease_seconds: float,
    take_from: str | None,
) -> Lease:
    """One statement takes the run if nobody else holds it; else say why (``RunLeased``...)."""
    params = {"run_id": run_id, "owner": owner, "seconds": lease_seconds, "take_from": take_from}
    for _attempt in range(3):  # a lease that expires between the two statements: try again
        deadline = time.monotonic() + lease_seconds
        cur = await conn.execute(q.ACQUIRE, params)
        row = await cur.fetchone()
        if row is not None:
            epoch, expires, attempts = row
            return Lease(
                run_id=run_id, owner=owner, epoch=epoch, expires_at=expires,
                attempts=attempts, deadline=deadline,
            )  # fmt: skip
        cur = await conn.execute(q.HOLDER, (run_id,))
        found = await cur.fetchone()
        if found is None:
            raise RunNotFound(run_id)
        status, holder, expires_at, now = found
        check_acquire(run_id, RunStatus(status), holder, expires_at, owner, now, take_from)
    raise StoreError(f"run {run_id}: could not lease it (its lease keeps changing)")


async def renew(conn: AsyncConnection[Any], lease: Lease, lease_seconds: float) -> Lease:
    deadline = time.monotonic() + lease_seconds
    params = {
        "run_id": lease.run_id, "epoch": lease.epoch, "owner": lease.owner,
        "seconds": lease_seconds,
    }  # fmt: skip
    cur = await conn.execute(q.RENEW, params)
    row = await cur.fetchone()
    if row is None:
        raise LeaseLost(lease.run_id, f"epoch {lease.epoch} of {lease.owner} is no longer held")
    return Lease(
        run_id=lease.run_id, owner=lease.owner, epoch=lease.epoch, expires_at=row[0],
        attempts=row[1], deadline=deadline,
    )  # fmt: skip


async def release(conn: AsyncConnection[Any], lease: Lease, schema: str) -> None:
    """End the lease now if still held (claimable at once: NOTIFY if the run is runnable)."""
    params = {
        "run_id": lease.run_id, "epoch": lease.epoch, "owner": lease.owner,
        "payload": q.payload(schema, lease.run_id),
    }  # fmt: skip
    await conn.execute(q.RELEASE, params)


async def take_rate(
    conn: AsyncConnection[Any], key: str, args: rates.RateArgs, force: bool
) -> float:
    """One transaction on the database clock: lock the bucket row (made full if new), take
    from it, write it back. Concurrent workers queue on the row lock, never double-spend."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO rate_buckets (key, requests, tokens, updated_at) VALUES "
            "(%s, NULL, NULL, 0) ON CONFLICT (key) DO NOTHING",
            (key,),
        )
        cur = await conn.execute(
            "SELECT requests, tokens, updated_at, extract(epoch FROM clock_timestamp()) "
            "FROM rate_buckets WHERE key = %s FOR UPDATE",
            (key,),
        )
        requests, tokens, at, now = await cur.fetchone() or (None, None, 0.0, 0.0)
        current = rates.from_row((requests, tokens, at)) if at else None  # 0: just made
        bucket, wait = rates.take(current, float(now), force=force, **args)
        await conn.execute(
            "UPDATE rate_buckets SET requests = %s, tokens = %s, updated_at = %s WHERE key = %s",
            (*rates.to_row(bucket), key),
        )
    return wait


class Listener:
    """``LISTEN podium_runnable`` on a dedicated autocommit connection (not a pooled one: a
    pooled connection is reset between uses). Notifications that arrive between two waits
    stay in the connection until the next wait reads them."""

    def __init__(self, conninfo: str, schema: str) -> None:
        self._conninfo = conninfo
        self._schema = schema
        self._conn: AsyncConnection[Any] | None = None
        self._lock = anyio.Lock()

    async def wait(self, seconds: float) -> bool:
        """True as soon as a run of this schema may have become runnable; False after
        ``seconds`` without one. On any failure (or cancellation) the connection is dropped
        (the next wait reconnects) and the error goes on."""
        async with self._lock:
            try:
                if self._conn is None:
                    self._conn = await AsyncConnection.connect(self._conninfo, autocommit=True)
                    await self._conn.execute(f"LISTEN {q.CHANNEL}")
                return await self._wait(self._conn, seconds)
            except BaseException:
                await self.close()
                raise

    async def _wait(self, conn: AsyncConnection[Any], seconds: float) -> bool:
        deadline = anyio.current_time() + seconds
        while (left := deadline - anyio.current_time()) > 0:
            async for notify in conn.notifies(timeout=left, stop_after=1):
                if self._mine(notify.payload):
                    return True
        return False

    def _mine(self, payload: str) -> bool:
        try:
            data = json.loads(payload)
        except ValueError:
            return False
        return isinstance(data, dict) and data.get("schema") == self._schema

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with anyio.CancelScope(shield=True):
                await conn.close()
