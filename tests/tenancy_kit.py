"""Shared by tests/test_hardening_tenant.py and tests/test_tenant_boundary.py: a store on each
backend (memory, a SQLite file, a PostgreSQL schema), SQL edits of a journal the way an attacker
with database access makes them, and the `podium` CLI in a subprocess."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from podium.store import MemoryStore, Store
from podium.store.open import open_store

APP = Path(__file__).parent / "apps" / "tenant_app.py"


@dataclass
class Backend:
    """Where a test's store lives: ``db`` is what ``--db`` takes (None for memory)."""

    kind: str
    db: str | None

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Store]:
        store: Store = MemoryStore() if self.db is None else open_store(self.db)
        try:
            yield store
        finally:
            await store.close()


@contextmanager
def backend(kind: str, tmp_path: Path, postgres_url: str | None = None) -> Iterator[Backend]:
    if kind == "memory":
        yield Backend(kind, None)
    elif kind == "sqlite":
        yield Backend(kind, str(tmp_path / "podium.db"))
    else:
        assert postgres_url is not None
        with postgres_schema(postgres_url) as db:
            yield Backend(kind, db)


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    import psycopg

    schema = f"podium_tenant_{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}schema={schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def sql(db: str, statement: str, *args: object) -> int:
    """Run one statement against the database behind ``db`` (as an attacker would); returns
    the rows it changed."""
    if db.startswith(("postgresql://", "postgres://")):
        import psycopg

        url, _, schema = db.rpartition("schema=")
        with psycopg.connect(url.rstrip("?&"), autocommit=True) as conn:
            conn.execute(f"SET search_path TO {schema}")
            cur = conn.execute(statement.replace("?", "%s"), args)  # type: ignore[arg-type]
            return cur.rowcount
    with closing(sqlite3.connect(db)) as conn, conn:
        return conn.execute(statement, args).rowcount


def edit_body(backend: Backend, store: Store, run_id: str, seq: int, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in the stored body of one event (digest and hash untouched)."""
    if backend.db is None:
        assert isinstance(store, MemoryStore)
        body = store._runs[run_id].rows[seq - 1].body
        assert old in body
        store.corrupt(run_id, seq, body.replace(old, new))
        return
    column = "body_text" if backend.kind == "postgres" else "body"
    changed = sql(
        backend.db,
        f"UPDATE events SET {column} = replace({column}, ?, ?) WHERE run_id = ? AND seq = ?",
        old, new, run_id, seq,
    )  # fmt: skip
    assert changed == 1


def podium(
    db: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m podium --db DB ARGS`` in a subprocess."""
    full = {**os.environ, "PODIUM_ALLOW_MODEL_REQUESTS": "0", **(env or {})}
    for name in ("PODIUM_NAMESPACE", "PODIUM_USER", "PODIUM_ROLES"):
        if env is None or name not in env:
            full.pop(name, None)
    cmd = [sys.executable, "-m", "podium", "--db", db, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=full)


def ledger(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
