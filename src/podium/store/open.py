"""Open a store from what a user types: a SQLite file path or a PostgreSQL URL."""

from __future__ import annotations

from pathlib import Path

from podium.errors import UserError
from podium.store.base import DEFAULT_MAX_EVENT_BYTES, Store
from podium.store.sqlite import SQLiteStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: str | Path) -> bool:
    return isinstance(target, str) and target.lower().startswith(POSTGRES_SCHEMES)


def open_store(
    target: str | Path,
    *,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    read_only: bool = False,
) -> Store:
    """A :class:`~podium.store.postgres.PostgresStore` for a ``postgresql://`` (or
    ``postgres://``) URL, a :class:`~podium.store.sqlite.SQLiteStore` for anything else (a
    file path, or ``:memory:``).

    The PostgreSQL store connects and migrates on first use (``await store.connect()`` to do
    it now); its URL may carry ``?schema=NAME``. ``read_only`` opens an existing, migrated
    SQLite file without writing to it (``mode=ro``); a PostgreSQL store ignores it. It needs
    ``pip install -e '.[postgres]'``: psycopg is imported only here, never by ``import
    podium``.
    """
    if is_postgres_url(target):
        try:
            from podium.store.postgres import PostgresStore
        except ImportError as error:  # psycopg missing
            raise UserError(
                "a PostgreSQL store needs psycopg: pip install -e '.[postgres]' (in a clone of "
                f"the repository) ({error})"
            ) from None
        return PostgresStore(str(target), max_event_bytes=max_event_bytes)
    text = str(target)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise UserError(
            f"unknown store URL scheme {scheme!r}: use postgresql://... or a SQLite file path"
        )
    path = text if text == ":memory:" else Path(text)
    return SQLiteStore(path, max_event_bytes=max_event_bytes, read_only=read_only)
