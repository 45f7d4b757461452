"""The control plane's store contract (deployments, API keys, operator log, idempotency keys)
on SQLite and on PostgreSQL."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from podium.store import SQLiteStore, Store
from podium.store.postgres import PostgresStore
from podium.testing.control_conformance import ControlConformance, StoreMaker


class TestSQLiteControl(ControlConformance):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreMaker:
        async def make() -> Store:
            return SQLiteStore(tmp_path / f"control-{secrets.token_hex(4)}.db")

        return make

    async def tamper(self, store: Store, statement: str) -> None:
        assert isinstance(store, SQLiteStore)
        with closing(sqlite3.connect(store.path)) as conn:
            assert conn.execute(statement).rowcount == 1
            conn.commit()


@pytest.fixture
def pg_schemas(postgres_url: str) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for schema in made:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.mark.postgres
class TestPostgresControl(ControlConformance):
    @pytest.fixture
    def store_factory(self, postgres_url: str, pg_schemas: list[str]) -> StoreMaker:
        async def make() -> Store:
            pg_schemas.append(f"podium_test_{secrets.token_hex(6)}")
            return await PostgresStore(postgres_url, schema=pg_schemas[-1], max_size=4).connect()

        return make

    async def tamper(self, store: Store, statement: str) -> None:
        assert isinstance(store, PostgresStore)
        async with await psycopg.AsyncConnection.connect(store._conninfo, autocommit=True) as conn:
            cur = await conn.execute(statement.encode())
            assert cur.rowcount == 1
