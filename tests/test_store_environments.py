"""The environments and promotions store contract on SQLite and on PostgreSQL, and the
migrations that add it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from podium.store import SQLiteStore, Store
from podium.store.postgres import PostgresStore
from podium.testing.environment_conformance import EnvironmentConformance, StoreMaker


class TestSQLiteEnvironments(EnvironmentConformance):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreMaker:
        async def make() -> Store:
            return SQLiteStore(tmp_path / f"envs-{secrets.token_hex(4)}.db")

        return make


@pytest.fixture
def pg_schemas(postgres_url: str) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for schema in made:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.mark.postgres
class TestPostgresEnvironments(EnvironmentConformance):
    @pytest.fixture
    def store_factory(self, postgres_url: str, pg_schemas: list[str]) -> StoreMaker:
        async def make() -> Store:
            pg_schemas.append(f"podium_test_{secrets.token_hex(6)}")
            return await PostgresStore(postgres_url, schema=pg_schemas[-1], max_size=4).connect()

        return make
