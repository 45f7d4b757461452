"""Helpers shared by the call-boundary hardening tests (test_hardening_calls*.py)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from podium import Runtime, SQLiteStore
from podium.events import Event
from podium.store import Store
from podium.store.postgres import PostgresStore


@asynccontextmanager
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """The store ``request.param`` names: a SQLite file, or a PostgreSQL schema of its own
    (dropped afterwards)."""
    if request.param == "sqlite":
        sqlite = SQLiteStore(tmp_path / "podium.db")
        try:
            yield sqlite
        finally:
            await sqlite.close()
        return
    url: str = request.getfixturevalue("postgres_url")
    schema = f"podium_test_{secrets.token_hex(6)}"
    postgres = await PostgresStore(url, schema=schema, max_size=2).connect()
    try:
        yield postgres
    finally:
        await postgres.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


async def journal(runtime: Runtime, run_id: str) -> list[Event]:
    return [stored.event for stored in await runtime.store.read(run_id)]


def of(events: list[Event], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]
