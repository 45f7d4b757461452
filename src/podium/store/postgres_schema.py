"""PostgreSQL side of :class:`~podium.store.postgres.PostgresStore`: the connection string, the
schema its tables live in, and numbered migrations serialized by an advisory lock.

Migrations are the files ``migrations/postgres/postgres_NNNN_*.sql``, applied in order in ONE
transaction that first takes ``pg_advisory_xact_lock(MIGRATION_LOCK)``: two workers starting at
once against a fresh database queue on the lock, the first creates the schema and applies every
migration, the second finds them recorded in ``schema_migrations`` and applies nothing. The lock
is released by the commit (or the rollback of a migration that fails: nothing of it stays).
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from psycopg import AsyncConnection, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from podium.errors import MigrationError, UserError

MIGRATIONS = (
    "postgres_0001_init.sql",
    "postgres_0002_rates.sql",
    "postgres_0003_control.sql",
    "postgres_0004_holds.sql",
    "postgres_0005_runs_page.sql",
    "postgres_0006_environments.sql",
)
MIGRATION_FOLDER = "postgres"  # under podium.store.migrations
# The advisory lock key of Podium's migrations (b"podium" as a big-endian integer): one per
# database, so stores of different schemas of one database also migrate one at a time.
MIGRATION_LOCK = 0x706F6469756D
_SCHEMA = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def check_schema(name: str) -> str:
    """A schema name Podium can put in ``search_path`` as is (no quoting)."""
    if not _SCHEMA.fullmatch(name):
        raise UserError(
            f"PostgreSQL schema {name!r}: use letters, digits and underscores "
            "(not starting with a digit), at most 63"
        )
    return name


def split_url(url: str, schema: str | None) -> tuple[str, str | None]:
    """The connection string without Podium's own ``?schema=`` parameter, and the schema
    (the ``schema`` argument wins over the URL's)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    from_url = [value for key, value in query if key == "schema"]
    if from_url:
        url = urlunsplit(
            parts._replace(query=urlencode([(k, v) for k, v in query if k != "schema"]))
        )
    chosen = schema if schema is not None else (from_url[-1] if from_url else None)
    return url, None if chosen is None else check_schema(chosen)


CONNECT_TIMEOUT = "4"  # seconds per connection attempt, unless the URL says otherwise


def conninfo(url: str, schema: str | None, *, synchronous_commit: bool = True) -> str:
    """``url`` with ``search_path`` set to ``schema`` (added to any ``options`` it has), and
    ``synchronous_commit`` off if asked."""
    try:
        params: dict[str, Any] = conninfo_to_dict(url)
    except Exception as error:  # psycopg.ProgrammingError: the message names the problem
        raise UserError(f"not a PostgreSQL connection URL: {error}") from None
    params.setdefault("application_name", "podium")
    params.setdefault("connect_timeout", CONNECT_TIMEOUT)
    options = [params.get("options", "")]
    if schema is not None:
        options.append(f"-c search_path={schema}")
    if not synchronous_commit:
        options.append("-c synchronous_commit=off")
    if any(options):
        params["options"] = " ".join(option for option in options if option)
    return make_conninfo("", **params)


def describe(url: str) -> str:
    """Where a URL points, without its password (for error messages)."""
    try:
        params = conninfo_to_dict(url)
    except Exception:
        return "PostgreSQL"
    host, port, db = (
        params.get("host", "localhost"),
        params.get("port", "5432"),
        params.get("dbname"),
    )
    return f"PostgreSQL at {host}:{port}" + (f"/{db}" if db else "")


async def migrate(conn: AsyncConnection[Any], schema: str | None) -> str:
    """Bring the schema to the newest version; return its name. ``conn`` is in autocommit mode
    with ``search_path`` set to ``schema``."""
    folder = resources.files("podium.store.migrations").joinpath(MIGRATION_FOLDER)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        if schema is not None:
            cur = await conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
            if await cur.fetchone() is None:
                await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        cur = await conn.execute("SELECT current_schema()")
        row = await cur.fetchone()
        if row is None or row[0] is None:
            raise MigrationError("PostgreSQL: no schema of the search_path exists; pass schema=")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())"
        )
        cur = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        (current,) = await cur.fetchone() or (0,)
        if current > len(MIGRATIONS):
            raise MigrationError(
                f"database schema {row[0]} is v{current}, newer than this Podium "
                f"(knows v{len(MIGRATIONS)})"
            )
        for version, name in enumerate(MIGRATIONS, 1):
            if version > current:
                script = folder.joinpath(name).read_text()
                await conn.execute(script.encode())  # no parameters: several statements
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (version, name),
                )
        return str(row[0])
