"""SQLite side of environments and promotions (:class:`~podium.store.environments.
EnvironmentStore`), mixed into :class:`~podium.store.sqlite.SQLiteStore`."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from podium.store.environments import (
    APPROVAL_COLUMNS,
    PROMOTION_COLUMNS,
    Environment,
    EnvironmentStore,
    Promotion,
    PromotionApproval,
    approval_of,
    promotion_of,
    settings_of,
)

T = TypeVar("T")


class SQLiteEnvironments(EnvironmentStore):
    _conn: sqlite3.Connection

    async def _run(self, fn: Callable[[], T]) -> T:
        raise NotImplementedError

    def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> Callable[[], T]:
        raise NotImplementedError

    async def put_environments(self, namespace: str, envs: Sequence[Environment]) -> None:
        rows = [
            (namespace, i, env.name, json.dumps(env.settings.as_dict()))
            for i, env in enumerate(envs)
        ]

        def put(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM environments WHERE namespace=?", (namespace,))
            conn.executemany("INSERT INTO environments VALUES (?, ?, ?, ?)", rows)

        await self._run(self._tx(put))

    async def get_environments(self, namespace: str) -> list[Environment]:
        sql = (
            "SELECT position, name, settings FROM environments WHERE namespace=? ORDER BY position"
        )
        rows = await self._run(lambda: self._conn.execute(sql, (namespace,)).fetchall())
        return [
            Environment(
                namespace=namespace,
                name=name,
                position=int(position),
                settings=settings_of(f"environment {name}", json.loads(settings)),
            )
            for position, name, settings in rows
        ]

    async def add_promotion(self, promotion: Promotion) -> Promotion:
        def add(conn: sqlite3.Connection) -> Promotion:
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM promotions WHERE namespace=? AND name=? "
                "AND env=?",
                (promotion.namespace, promotion.name, promotion.env),
            ).fetchone()
            made = replace(promotion, seq=int(last) + 1, created_at=time.time())
            conn.execute(
                f"INSERT INTO promotions ({PROMOTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    made.namespace, made.name, made.env, made.seq, made.kind, made.version,
                    made.created_at, made.created_by,
                ),
            )  # fmt: skip
            return made

        return await self._run(self._tx(add))

    async def promotions(self, namespace: str, name: str, env: str) -> list[Promotion]:
        sql = (
            f"SELECT {PROMOTION_COLUMNS} FROM promotions WHERE namespace=? AND name=? AND env=? "
            "ORDER BY seq"
        )
        rows = await self._run(lambda: self._conn.execute(sql, (namespace, name, env)).fetchall())
        return [promotion_of(row) for row in rows]

    async def approve_promotion(self, approval: PromotionApproval) -> bool:
        a = approval
        row = (a.namespace, a.name, a.version, a.env, a.approver, a.role, time.time())
        sql = f"INSERT OR IGNORE INTO promotion_approvals ({APPROVAL_COLUMNS}) VALUES ({_marks(7)})"
        return bool(await self._run(lambda: self._conn.execute(sql, row).rowcount))

    async def promotion_approvals(
        self, namespace: str, name: str, version: int, env: str
    ) -> list[PromotionApproval]:
        sql = (
            f"SELECT {APPROVAL_COLUMNS} FROM promotion_approvals WHERE namespace=? AND name=? "
            "AND version=? AND env=? ORDER BY created_at, approver"
        )
        args = (namespace, name, version, env)
        rows = await self._run(lambda: self._conn.execute(sql, args).fetchall())
        return [approval_of(row) for row in rows]


def _marks(count: int) -> str:
    return ", ".join("?" * count)


__all__ = ["SQLiteEnvironments"]
