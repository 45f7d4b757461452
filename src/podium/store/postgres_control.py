"""PostgreSQL side of the control plane (:class:`~podium.store.control.ControlStore`), mixed into
:class:`~podium.store.postgres.PostgresStore`. Writes that number rows (deployment versions, the
operator log) run in one transaction under an advisory lock, so concurrent replicas queue."""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import Any

import psycopg
from psycopg import AsyncConnection

from podium.errors import StoreError
from podium.store import chain
from podium.store.control import (
    ApiKey,
    ControlStore,
    Deployment,
    OperatorAction,
    OperatorEntry,
    link_operator,
)
from podium.store.sqlite_control import deployment_of, entry_of, key_of

_NOW = "SELECT extract(epoch from clock_timestamp())::float8"
_DEPLOYMENT = "namespace, name, version, digest, entry, files, created_at, created_by"
_LISTED = "namespace, name, version, digest, entry, '{}', created_at, created_by"
_KEY = (
    "key_id, namespace, role, salt, secret_hash, created_at, expires_at, revoked_at, label, "
    "created_by"
)
_OPLOG = "seq, ts, principal, credential, source, action, namespace, target, detail, digest, hash"
_OPLOG_LOCK = 0x706F6C6F67  # b"polog": one operator log writer at a time per database


class PostgresControl(ControlStore):
    def _connection(self) -> AbstractAsyncContextManager[AsyncConnection[Any]]:
        raise NotImplementedError

    async def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        async with self._connection() as conn:
            cur = await conn.execute(sql.encode(), args)
            return await cur.fetchall()

    async def put_deployment(self, deployment: Deployment) -> tuple[Deployment, bool]:
        async with self._connection() as conn, conn.transaction():
            return await _put_deployment(conn, deployment)

    async def get_deployment(
        self, namespace: str, name: str, digest: str | None = None
    ) -> Deployment | None:
        sql = f"SELECT {_DEPLOYMENT} FROM deployments WHERE namespace=%s AND name=%s"
        args: tuple[Any, ...] = (namespace, name)
        if digest is not None:
            sql, args = sql + " AND digest=%s", (*args, digest)
        rows = await self._rows(sql + " ORDER BY version DESC LIMIT 1", args)
        return deployment_of(rows[0]) if rows else None

    async def list_deployments(self, namespace: str | None = None) -> list[Deployment]:
        sql, args = f"SELECT {_LISTED} FROM deployments", tuple[Any, ...]()
        if namespace is not None:
            sql, args = sql + " WHERE namespace=%s", (namespace,)
        rows = await self._rows(sql + " ORDER BY created_at DESC, version DESC", args)
        return [deployment_of(row) for row in rows]

    async def put_api_key(self, key: ApiKey) -> None:
        row = (
            key.key_id, key.namespace, key.role, key.salt, key.secret_hash, key.created_at,
            key.expires_at, key.revoked_at, key.label, key.created_by,
        )  # fmt: skip
        marks = ", ".join(["%s"] * 10)
        try:
            async with self._connection() as conn:
                await conn.execute(f"INSERT INTO api_keys ({_KEY}) VALUES ({marks})".encode(), row)
        except StoreError as error:
            if isinstance(error.__cause__, psycopg.errors.UniqueViolation):
                raise StoreError(f"API key {key.key_id} already exists") from None
            raise

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        rows = await self._rows(f"SELECT {_KEY} FROM api_keys WHERE key_id=%s", (key_id,))
        return key_of(rows[0]) if rows else None

    async def list_api_keys(self, namespace: str | None = None) -> list[ApiKey]:
        sql, args = f"SELECT {_KEY} FROM api_keys", tuple[Any, ...]()
        if namespace is not None:
            sql, args = sql + " WHERE namespace=%s", (namespace,)
        return [key_of(row) for row in await self._rows(sql + " ORDER BY created_at", args)]

    async def revoke_api_key(self, key_id: str) -> bool:
        sql = (
            f"UPDATE api_keys SET revoked_at=({_NOW}) WHERE key_id=%s AND revoked_at IS NULL "
            "RETURNING key_id"
        )
        return bool(await self._rows(sql, (key_id,)))

    async def log_operator(self, action: OperatorAction) -> OperatorEntry:
        async with self._connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_OPLOG_LOCK,))
            cur = await conn.execute("SELECT seq, hash FROM operator_log ORDER BY seq DESC LIMIT 1")
            last = await cur.fetchone()
            seq, prev = (int(last[0]) + 1, bytes.fromhex(last[1])) if last else (1, chain.GENESIS)
            ts = await _now(conn)
            digest, link = link_operator(prev, seq, ts, action)
            row = (
                seq, ts, action.principal, action.credential, action.source, action.action,
                action.namespace, action.target, json.dumps(dict(action.detail)), digest.hex(),
                link.hex(),
            )  # fmt: skip
            marks = ", ".join(["%s"] * 11)
            await conn.execute(
                f"INSERT INTO operator_log ({_OPLOG}) VALUES ({marks})".encode(), row
            )
        return entry_of(row)

    async def operator_log(self, *, after_seq: int = 0, limit: int = 10_000) -> list[OperatorEntry]:
        sql = f"SELECT {_OPLOG} FROM operator_log WHERE seq>%s ORDER BY seq LIMIT %s"
        return [entry_of(row) for row in await self._rows(sql, (after_seq, limit))]

    async def reserve_idempotency(
        self, namespace: str, key: str, request_digest: str, run_id: str
    ) -> tuple[str, str]:
        insert = (
            f"INSERT INTO idempotency VALUES (%s, %s, %s, %s, ({_NOW})) "
            "ON CONFLICT (namespace, key) DO NOTHING"
        )
        select = "SELECT run_id, request_digest FROM idempotency WHERE namespace=%s AND key=%s"
        async with self._connection() as conn:
            await conn.execute(insert.encode(), (namespace, key, request_digest, run_id))
            cur = await conn.execute(select.encode(), (namespace, key))
            row = await cur.fetchone()
        assert row is not None  # inserted or already there; never deleted
        return str(row[0]), str(row[1])


async def _now(conn: AsyncConnection[Any]) -> float:
    cur = await conn.execute(_NOW)
    row = await cur.fetchone()
    assert row is not None
    return float(row[0])


async def _put_deployment(conn: AsyncConnection[Any], d: Deployment) -> tuple[Deployment, bool]:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{d.namespace}/{d.name}",))
    cur = await conn.execute(
        f"SELECT {_DEPLOYMENT} FROM deployments "
        "WHERE namespace=%s AND name=%s AND digest=%s".encode(),
        (d.namespace, d.name, d.digest),
    )
    found = await cur.fetchone()
    if found is not None:
        return deployment_of(found), False
    cur = await conn.execute(
        "SELECT COALESCE(MAX(version), 0) FROM deployments WHERE namespace=%s AND name=%s",
        (d.namespace, d.name),
    )
    row = await cur.fetchone()
    made = replace(d, version=int(row[0] if row else 0) + 1, created_at=await _now(conn))
    await conn.execute(
        f"INSERT INTO deployments ({_DEPLOYMENT}) VALUES ({', '.join(['%s'] * 8)})".encode(),
        (
            made.namespace, made.name, made.version, made.digest, made.entry,
            json.dumps(dict(made.files)), made.created_at, made.created_by,
        ),
    )  # fmt: skip
    return made, True


__all__ = ["PostgresControl"]
