"""Opening a SQLite store file, writable or read-only, with a :class:`StoreError` naming the file
for everything that can be wrong with it (not a database, read-only, a file in the way).

A writable open creates the file (and its directory), switches it to WAL and migrates it. A
read-only open (``file:...?mode=ro``) changes nothing: no WAL switch, no migration, no file
created. A WAL database read by someone who may not create its ``-shm`` file (a read-only
directory) is opened ``immutable`` when no ``-wal`` file exists, that is when no process has it
open for writing; a migration that is due needs a writable open.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from podium.errors import MigrationError, StoreError

Durability = Literal["normal", "full"]
BUSY_MS = 30000
MEMORY = ":memory:"


def connect(
    path: str,
    *,
    durability: Durability,
    read_only: bool,
    migrate: Callable[[sqlite3.Connection], int],
    latest: int,
) -> sqlite3.Connection:
    """A connection to the store at ``path``; a read-only one if asked and the file exists and
    is migrated (else a writable one, which creates or migrates it)."""
    try:
        if read_only and path != MEMORY and Path(path).is_file():
            conn = _read_only(path, latest)
            if conn is not None:
                return conn
        return _writable(path, durability, migrate)
    except sqlite3.DatabaseError as error:
        raise describe(path, error) from None


def describe(path: str, error: sqlite3.DatabaseError) -> StoreError:
    """The :class:`StoreError` for a SQLite error about the store file itself."""
    text = str(error)
    if "not a database" in text or "malformed" in text:
        return StoreError(f"{path} is not a Podium store: the file is not a SQLite database")
    if "readonly" in text or "read-only" in text:
        return StoreError(
            f"the store {path} is read-only (no write access to the file or its directory); "
            "this command writes to it"
        )
    if "unable to open" in text:
        return StoreError(f"cannot open the store {path}: {text} (check the path and access)")
    return StoreError(f"store {path}: {text}")


def _writable(
    path: str, durability: Durability, migrate: Callable[[sqlite3.Connection], int]
) -> sqlite3.Connection:
    if path != MEMORY:
        _make_parent(Path(path))
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        conn.execute(f"PRAGMA busy_timeout={BUSY_MS}")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _read_only(path: str, latest: int) -> sqlite3.Connection | None:
    """A ``mode=ro`` connection, or None when the file needs a migration it may take."""
    uri = f"file:{quote(str(Path(path).resolve()))}?mode=ro"
    conn = _open_uri(uri)
    try:
        version = _version(conn)
    except sqlite3.OperationalError as error:
        conn.close()
        if "readonly" not in str(error) or Path(path + "-wal").exists():
            raise
        conn = _open_uri(uri + "&immutable=1")  # cannot create -shm, and no writer has it open
        version = _version(conn)
    if version == latest:
        return conn
    conn.close()
    if version > latest:
        raise MigrationError(
            f"database schema v{version} is newer than this Podium (knows v{latest})"
        )
    if _may_write(Path(path)):
        return None
    raise StoreError(
        f"the store {path} is at schema v{version} and this Podium needs v{latest}: run a "
        "command with write access to it once to migrate it"
    )


def _open_uri(uri: str) -> sqlite3.Connection:
    conn = sqlite3.connect(
        uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30.0
    )
    conn.execute(f"PRAGMA busy_timeout={BUSY_MS}")
    return conn


def _version(conn: sqlite3.Connection) -> int:
    tables = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
    ).fetchone()
    if not tables[0]:
        return 0
    (version,) = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(version)


def _may_write(path: Path) -> bool:
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _make_parent(path: Path) -> None:
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        blocked = next((p for p in (parent, *parent.parents) if p.is_file()), None)
        why = f"{blocked} is a file, not a directory" if blocked else error.strerror
        raise StoreError(f"cannot create the store {path}: {why}") from None


__all__ = ["BUSY_MS", "Durability", "connect", "describe"]
