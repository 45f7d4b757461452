"""SQLite side of the control plane (:class:`~podium.store.control.ControlStore`), mixed into
:class:`~podium.store.sqlite.SQLiteStore`: each method is one transaction on its connection."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from podium.errors import StoreError
from podium.store import chain
from podium.store.control import (
    ApiKey,
    ControlStore,
    Deployment,
    OperatorAction,
    OperatorEntry,
    action_of,
    link_operator,
)

T = TypeVar("T")
_DEPLOYMENT = "namespace, name, version, digest, entry, files, created_at, created_by"
_LISTED = "namespace, name, version, digest, entry, '{}', created_at, created_by"
_KEY = (
    "key_id, namespace, role, salt, secret_hash, created_at, expires_at, revoked_at, label, "
    "created_by"
)
_OPLOG = "seq, ts, principal, credential, source, action, namespace, target, detail, digest, hash"


class SQLiteControl(ControlStore):
    _conn: sqlite3.Connection

    async def _run(self, fn: Callable[[], T]) -> T:
        raise NotImplementedError

    async def _query(self, fn: Callable[[], T]) -> T:
        raise NotImplementedError

    def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> Callable[[], T]:
        def run() -> T:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                out = fn(self._conn)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            return out

        return run

    # -- deployments --------------------------------------------------------------------------

    async def put_deployment(self, deployment: Deployment) -> tuple[Deployment, bool]:
        return await self._run(self._tx(lambda conn: _put_deployment(conn, deployment)))

    async def get_deployment(
        self, namespace: str, name: str, digest: str | None = None
    ) -> Deployment | None:
        sql = f"SELECT {_DEPLOYMENT} FROM deployments WHERE namespace=? AND name=?"
        args: tuple[object, ...] = (namespace, name)
        if digest is not None:
            sql, args = sql + " AND digest=?", (*args, digest)
        sql += " ORDER BY version DESC LIMIT 1"
        row = await self._run(lambda: self._conn.execute(sql, args).fetchone())
        return None if row is None else deployment_of(row)

    async def list_deployments(self, namespace: str | None = None) -> list[Deployment]:
        sql = f"SELECT {_LISTED} FROM deployments"
        args: tuple[object, ...] = ()
        if namespace is not None:
            sql, args = sql + " WHERE namespace=?", (namespace,)
        sql += " ORDER BY created_at DESC, version DESC"
        rows = await self._run(lambda: self._conn.execute(sql, args).fetchall())
        return [deployment_of(row) for row in rows]

    # -- API keys -----------------------------------------------------------------------------

    async def put_api_key(self, key: ApiKey) -> None:
        row = (
            key.key_id, key.namespace, key.role, key.salt, key.secret_hash, key.created_at,
            key.expires_at, key.revoked_at, key.label, key.created_by,
        )  # fmt: skip

        def put() -> None:
            try:
                self._conn.execute(f"INSERT INTO api_keys ({_KEY}) VALUES ({_marks(10)})", row)
            except sqlite3.IntegrityError:
                raise StoreError(f"API key {key.key_id} already exists") from None

        await self._run(put)

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        sql = f"SELECT {_KEY} FROM api_keys WHERE key_id=?"
        row = await self._query(lambda: self._conn.execute(sql, (key_id,)).fetchone())
        return None if row is None else key_of(row)

    async def list_api_keys(self, namespace: str | None = None) -> list[ApiKey]:
        sql, args = f"SELECT {_KEY} FROM api_keys", tuple[Any, ...]()
        if namespace is not None:
            sql, args = sql + " WHERE namespace=?", (namespace,)
        rows = await self._run(lambda: self._conn.execute(sql + " ORDER BY created_at", args))
        return [key_of(row) for row in rows]

    async def revoke_api_key(self, key_id: str) -> bool:
        sql = "UPDATE api_keys SET revoked_at=? WHERE key_id=? AND revoked_at IS NULL"
        count = await self._run(lambda: self._conn.execute(sql, (time.time(), key_id)).rowcount)
        return bool(count)

    # -- the operator log ---------------------------------------------------------------------

    async def log_operator(self, action: OperatorAction) -> OperatorEntry:
        return await self._run(self._tx(lambda conn: _log(conn, action)))

    async def operator_log(self, *, after_seq: int = 0, limit: int = 10_000) -> list[OperatorEntry]:
        sql = f"SELECT {_OPLOG} FROM operator_log WHERE seq>? ORDER BY seq LIMIT ?"
        rows = await self._run(lambda: self._conn.execute(sql, (after_seq, limit)).fetchall())
        return [entry_of(row) for row in rows]

    async def reserve_idempotency(
        self, namespace: str, key: str, request_digest: str, run_id: str
    ) -> tuple[str, str]:
        def reserve(conn: sqlite3.Connection) -> tuple[str, str]:
            conn.execute(
                "INSERT OR IGNORE INTO idempotency VALUES (?, ?, ?, ?, ?)",
                (namespace, key, request_digest, run_id, time.time()),
            )
            row = conn.execute(
                "SELECT run_id, request_digest FROM idempotency WHERE namespace=? AND key=?",
                (namespace, key),
            ).fetchone()
            return str(row[0]), str(row[1])

        return await self._run(self._tx(reserve))


def _put_deployment(conn: sqlite3.Connection, d: Deployment) -> tuple[Deployment, bool]:
    found = conn.execute(
        f"SELECT {_DEPLOYMENT} FROM deployments WHERE namespace=? AND name=? AND digest=?",
        (d.namespace, d.name, d.digest),
    ).fetchone()
    if found is not None:
        return deployment_of(found), False
    (last,) = conn.execute(
        "SELECT COALESCE(MAX(version), 0) FROM deployments WHERE namespace=? AND name=?",
        (d.namespace, d.name),
    ).fetchone()
    made = replace(d, version=int(last) + 1, created_at=time.time())
    conn.execute(
        f"INSERT INTO deployments ({_DEPLOYMENT}) VALUES ({_marks(8)})",
        (
            made.namespace, made.name, made.version, made.digest, made.entry,
            json.dumps(dict(made.files)), made.created_at, made.created_by,
        ),
    )  # fmt: skip
    return made, True


def _log(conn: sqlite3.Connection, action: OperatorAction) -> OperatorEntry:
    last = conn.execute("SELECT seq, hash FROM operator_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (int(last[0]) + 1, bytes.fromhex(last[1])) if last else (1, chain.GENESIS)
    ts = time.time()
    digest, link = link_operator(prev, seq, ts, action)
    row = (
        seq, ts, action.principal, action.credential, action.source, action.action,
        action.namespace, action.target, json.dumps(dict(action.detail)), digest.hex(),
        link.hex(),
    )  # fmt: skip
    conn.execute(f"INSERT INTO operator_log ({_OPLOG}) VALUES ({_marks(11)})", row)
    return entry_of(row)


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def deployment_of(row: Any) -> Deployment:
    namespace, name, version, digest, entry, files, created_at, created_by = row
    return Deployment(
        namespace=namespace, name=name, version=int(version), digest=digest, entry=entry,
        files=json.loads(files) if isinstance(files, str) else dict(files),
        created_at=float(created_at), created_by=created_by,
    )  # fmt: skip


def key_of(row: Any) -> ApiKey:
    key_id, namespace, role, salt, secret_hash, created, expires, revoked, label, by = row
    return ApiKey(
        key_id=key_id, namespace=namespace, role=role, salt=bytes(salt), secret_hash=secret_hash,
        created_at=float(created), expires_at=None if expires is None else float(expires),
        revoked_at=None if revoked is None else float(revoked), label=label, created_by=by,
    )  # fmt: skip


def entry_of(row: Any) -> OperatorEntry:
    """An operator log entry from its row (the columns of the operator_log table, in order)."""
    seq, ts, principal, credential, source, action, namespace, target, detail, digest, hash_ = row
    fields = {
        "principal": principal, "credential": credential, "source": source, "action": action,
        "namespace": namespace, "target": target, "detail": detail,
    }  # fmt: skip
    return OperatorEntry(
        seq=int(seq), ts=float(ts), action=action_of(fields), digest=str(digest), hash=str(hash_)
    )
