"""PostgreSQL side of environments and promotions (:class:`~podium.store.environments.
EnvironmentStore`), mixed into :class:`~podium.store.postgres.PostgresStore`. A promotion's
``seq`` is numbered under an advisory lock per (namespace, deployment, environment)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import Any

from psycopg import AsyncConnection

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

_NOW = "SELECT extract(epoch from clock_timestamp())::float8"


class PostgresEnvironments(EnvironmentStore):
    def _connection(self) -> AbstractAsyncContextManager[AsyncConnection[Any]]:
        raise NotImplementedError

    async def _env_rows(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        async with self._connection() as conn:
            cur = await conn.execute(sql.encode(), args)
            return await cur.fetchall()

    async def put_environments(self, namespace: str, envs: Sequence[Environment]) -> None:
        async with self._connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM environments WHERE namespace=%s", (namespace,))
            for i, env in enumerate(envs):
                await conn.execute(
                    "INSERT INTO environments VALUES (%s, %s, %s, %s)",
                    (namespace, i, env.name, json.dumps(env.settings.as_dict())),
                )

    async def get_environments(self, namespace: str) -> list[Environment]:
        sql = (
            "SELECT position, name, settings FROM environments WHERE namespace=%s ORDER BY position"
        )
        return [
            Environment(
                namespace=namespace,
                name=name,
                position=int(position),
                settings=settings_of(f"environment {name}", json.loads(settings)),
            )
            for position, name, settings in await self._env_rows(sql, (namespace,))
        ]

    async def add_promotion(self, promotion: Promotion) -> Promotion:
        p = promotion
        async with self._connection() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{p.namespace}/{p.name}/{p.env}",)
            )
            cur = await conn.execute(
                f"SELECT COALESCE(MAX(seq), 0), ({_NOW}) FROM promotions "
                "WHERE namespace=%s AND name=%s AND env=%s".encode(),
                (p.namespace, p.name, p.env),
            )
            row = await cur.fetchone()
            assert row is not None
            made = replace(p, seq=int(row[0]) + 1, created_at=float(row[1]))
            await conn.execute(
                f"INSERT INTO promotions ({PROMOTION_COLUMNS}) "
                f"VALUES ({', '.join(['%s'] * 8)})".encode(),
                (
                    made.namespace, made.name, made.env, made.seq, made.kind, made.version,
                    made.created_at, made.created_by,
                ),
            )  # fmt: skip
        return made

    async def promotions(self, namespace: str, name: str, env: str) -> list[Promotion]:
        sql = (
            f"SELECT {PROMOTION_COLUMNS} FROM promotions WHERE namespace=%s AND name=%s "
            "AND env=%s ORDER BY seq"
        )
        return [promotion_of(row) for row in await self._env_rows(sql, (namespace, name, env))]

    async def approve_promotion(self, approval: PromotionApproval) -> bool:
        a = approval
        sql = (
            f"INSERT INTO promotion_approvals ({APPROVAL_COLUMNS}) "
            f"VALUES (%s, %s, %s, %s, %s, %s, ({_NOW})) ON CONFLICT DO NOTHING RETURNING approver"
        )
        args = (a.namespace, a.name, a.version, a.env, a.approver, a.role)
        return bool(await self._env_rows(sql, args))

    async def promotion_approvals(
        self, namespace: str, name: str, version: int, env: str
    ) -> list[PromotionApproval]:
        sql = (
            f"SELECT {APPROVAL_COLUMNS} FROM promotion_approvals WHERE namespace=%s AND name=%s "
            "AND version=%s AND env=%s ORDER BY created_at, approver"
        )
        rows = await self._env_rows(sql, (namespace, name, version, env))
        return [approval_of(row) for row in rows]


__all__ = ["PostgresEnvironments"]
