"""What every ``podium`` command shares: the global options, the consoles, the exit codes, and
the one place where a command gets a store and turns a Podium error into one ``error:`` line.

The command modules (``*_cmds.py``) and :mod:`podium.cli.app` import from here; this module
imports none of them, so no command needs a function-local import to reach these helpers.

Exit codes: 0 completed · 1 run failed · 2 bad usage or definition · 3 run not found ·
4 run suspended or needs attention · 5 run cancelled · 6 store error (corrupt journal, lock) ·
7 non-deterministic replay · 8 permission denied (a decision the principal may not take).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import anyio
import typer
from rich.console import Console
from rich.markup import escape

from podium.errors import (
    NonDeterminismError,
    PermissionDenied,
    PodiumError,
    RunNotFound,
    RunStateError,
    StoreError,
    UserError,
)
from podium.store import Store
from podium.store.open import open_store
from podium.types import RunStatus

T = TypeVar("T")

EXIT = {
    RunStatus.COMPLETED: 0,
    RunStatus.FAILED: 1,
    RunStatus.SUSPENDED: 4,
    RunStatus.NEEDS_ATTENTION: 4,
    RunStatus.PENDING: 4,
    RunStatus.RUNNING: 4,
    RunStatus.CANCELLED: 5,
}
BAD_INPUT = 2  # bad usage, a bad definition or bad input
STORE_ERROR = 6  # the store cannot be used, or a journal does not verify
DEFAULT_DB = ".podium/podium.db"

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)


class Options:
    """The global options (``podium --db ... --debug VERB``), set once per invocation."""

    db: str = DEFAULT_DB
    debug: bool = False


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help=f"A SQLite file or a postgresql:// URL (env PODIUM_DB, default {DEFAULT_DB})",
    ),
]


def open_cli_store() -> Store:
    """The store named by ``--db``: a SQLite file, or a ``postgresql://`` URL."""
    return open_store(Options.db)


def run_with_store(fn: Callable[[Store], Awaitable[T]]) -> T:
    """Run an async command with a store; turn Podium errors into one line + exit code."""

    async def body() -> T:
        store = open_cli_store()
        try:
            return await fn(store)
        finally:
            await store.close()

    try:
        return anyio.run(body)
    except PodiumError as error:
        if Options.debug:
            raise
        fail(str(error), exit_code(error))


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: MESSAGE`` (one line, verbatim) and exit with ``code``."""
    err.print(f"[red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def exit_code(error: PodiumError) -> int:
    """The documented exit code for a Podium error."""
    known = ((RunNotFound, 3), (NonDeterminismError, 7), (StoreError, 6), (PermissionDenied, 8))
    for kind, code in known:
        if isinstance(error, kind):
            return code
    return BAD_INPUT if isinstance(error, UserError | RunStateError) else 1


def parse_input(raw: str | None) -> Any:
    """``--input``: JSON, else plain text; ``@FILE`` reads the file."""
    if raw is None:
        return None
    if raw.startswith("@"):
        raw = Path(raw[1:]).read_text()
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # plain text input


def who() -> str:
    """The identity the CLI acts as: ``$PODIUM_USER``, else ``$USER``."""
    return os.environ.get("PODIUM_USER") or os.environ.get("USER") or "cli"


__all__ = [
    "BAD_INPUT",
    "DEFAULT_DB",
    "EXIT",
    "STORE_ERROR",
    "DbOption",
    "Options",
    "err",
    "exit_code",
    "fail",
    "open_cli_store",
    "out",
    "parse_input",
    "run_with_store",
    "who",
]
