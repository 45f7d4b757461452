"""What every ``podium`` command shares: the global options, the consoles, the exit codes, and
the one place where a command gets a store and turns a Podium error into one ``error:`` line.

The command modules (``*_cmds.py``) and :mod:`podium.cli.app` import from here; this module
imports none of them, so no command needs a function-local import to reach these helpers.

Exit codes: 0 completed · 1 run failed · 2 bad usage or definition · 3 run not found ·
4 run suspended or needs attention · 5 run cancelled · 6 store error (corrupt journal, lock) ·
7 non-deterministic replay · 8 permission denied (a decision the principal may not take, or
an approval that expired before it) · 9 run leased by another live execution. A run of another
namespace than ``--namespace`` is reported exactly like an unknown run id (exit 3).
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import anyio
import typer
from rich.console import Console
from rich.markup import escape

from podium.budget import Budget, parse_budget
from podium.errors import (
    InvalidPayloadError,
    NonDeterminismError,
    PayloadTooLargeError,
    PermissionDenied,
    PodiumError,
    RunLeased,
    RunNotFound,
    RunStateError,
    StoreError,
    UserError,
)
from podium.remote import RemoteStore, ServerClient
from podium.runtime import Runtime, tenant_budget
from podium.runtime.tenancy import EVERY, check_name
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
RUN_LEASED = 9  # another live execution holds the run's lease
DEFAULT_DB = ".podium/podium.db"

# On a terminal (or with COLUMNS set) as wide as it is; piped, 160 columns so lines stay whole.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160)
err = Console(stderr=True, soft_wrap=True)


class Options:
    """The global options (``podium --db ... --debug VERB``), set once per invocation."""

    db: str = DEFAULT_DB
    debug: bool = False
    server: str | None = None  # --server URL: a client of `podium serve` (podium.cli.remote)


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help=f"A SQLite file or a postgresql:// URL (env PODIUM_DB, default {DEFAULT_DB})",
    ),
]


# Libraries that log per request or per attempt: one line per HTTP call (httpx, at INFO) or per
# failed reconnection (psycopg's pool, a multi-line warning each time). The CLI reports what
# matters itself (the worker logs a store outage once when it starts and once when it ends).
QUIET_LOGGERS = {
    "httpx": logging.WARNING,  # the HTTP client of the OpenAI and Anthropic SDKs
    "httpx2": logging.WARNING,  # its successor, in newer SDKs
    "httpcore": logging.WARNING,
    "psycopg.pool": logging.CRITICAL,
}


def quiet_libraries() -> None:
    """Raise the level of the chatty library loggers (``--debug`` leaves them as they are)."""
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


def open_cli_store(*, read_only: bool = False) -> Store:
    """The store named by ``--db``: a SQLite file, or a ``postgresql://`` URL. A command that
    only reads opens it ``read_only``: a read-only file serves it, and nothing is written."""
    if Options.server:
        return RemoteStore(server_client())
    return open_store(Options.db, read_only=read_only)


def server_client() -> ServerClient:
    """The client of ``--server`` (its credential: ``$PODIUM_API_KEY``)."""
    assert Options.server is not None
    return ServerClient(Options.server, os.environ.get("PODIUM_API_KEY"))


def run_with_store(fn: Callable[[Store], Awaitable[T]], *, read_only: bool = False) -> T:
    """Run an async command with a store; turn Podium errors into one line + exit code."""

    async def body() -> T:
        store = open_cli_store(read_only=read_only)
        try:
            return await fn(store)
        finally:
            await store.close()

    return guarded(lambda: anyio.run(body))


def guarded(thunk: Callable[[], T]) -> T:
    """``thunk()``, with a Podium error turned into one ``error:`` line and its exit code."""
    try:
        return thunk()
    except PodiumError as error:
        if Options.debug:
            raise
        fail(str(error), exit_code(error))


async def as_bad_input(started: Awaitable[T]) -> T:
    """Await the start of a run: an input the journal refuses is bad input (exit 2), not a
    store error; nothing was written."""
    try:
        return await started
    except (InvalidPayloadError, PayloadTooLargeError) as error:
        raise UserError(f"bad input: {error}") from None


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: MESSAGE`` (one line, verbatim) and exit with ``code``."""
    err.print(f"[red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def exit_code(error: PodiumError) -> int:
    """The documented exit code for a Podium error."""
    known = (
        (RunNotFound, 3), (NonDeterminismError, 7), (StoreError, 6), (PermissionDenied, 8),
        (RunLeased, RUN_LEASED),
    )  # fmt: skip
    for kind, code in known:
        if isinstance(error, kind):
            return code
    return BAD_INPUT if isinstance(error, UserError | RunStateError) else 1


def parse_input(raw: str | None, option: str = "--input") -> Any:
    """``--input`` and the like: JSON, else plain text; ``@FILE`` reads a UTF-8 file.

    Anything the journal could not hold exactly is refused here, before a store is opened, with
    one ``error:`` line and exit code 2: a file that cannot be read or is not UTF-8, NaN or an
    infinite number, a lone surrogate, or JSON nested deeper than ``MAX_INPUT_DEPTH``.
    """
    if raw is None:
        return None
    try:
        text = _read_file(raw[1:], option) if raw.startswith("@") else raw
        value = _json_or_text(text, option)
        check_plain(value, option)
    except UserError as error:
        fail(str(error), BAD_INPUT)
    return value


MAX_INPUT_DEPTH = 100


def _read_file(name: str, option: str) -> str:
    try:
        data = Path(name).read_bytes()
    except OSError as error:
        raise UserError(f"{option}: cannot read {name}: {error.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(
            f"{option}: {name} is not UTF-8 text (byte 0x{data[error.start]:02x} at offset "
            f"{error.start})"
        ) from None


def _json_or_text(text: str, option: str) -> Any:
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except _NonFinite as error:
        raise UserError(f"{option}: {error} is not a JSON number") from None
    except RecursionError:
        raise UserError(f"{option}: JSON nested deeper than {MAX_INPUT_DEPTH} levels") from None
    except ValueError:
        return text  # plain text input


class _NonFinite(Exception):
    """``NaN``, ``Infinity`` or ``-Infinity`` in JSON input: the journal refuses them."""


def _refuse_constant(name: str) -> Any:
    raise _NonFinite(name)


def check_plain(value: Any, option: str) -> None:
    """Refuse what a journal cannot hold exactly: non-finite numbers, lone surrogates (text
    that is not UTF-8) and nesting deeper than ``MAX_INPUT_DEPTH``; iterative, so any depth is
    measured without recursing."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_INPUT_DEPTH:
                raise UserError(f"{option}: JSON nested deeper than {MAX_INPUT_DEPTH} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, float) and not math.isfinite(item):
            raise UserError(f"{option}: a number is out of range (it reads as {item})")
        elif isinstance(item, str):
            _check_text(item, option)


def _check_text(text: str, option: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise UserError(
            f"{option}: the text is not valid UTF-8 (at character {error.start})"
        ) from None


def who(name: str | None = None) -> str:
    """The identity the CLI acts as: ``--as``/``--by`` NAME, else ``$PODIUM_USER``, else
    ``$USER``."""
    return name or os.environ.get("PODIUM_USER") or os.environ.get("USER") or "cli"


# -- the tenant boundary: every verb acts in one namespace, or in every one with '*' ----------

NamespaceOption = Annotated[
    str,
    typer.Option(
        "--namespace",
        envvar="PODIUM_NAMESPACE",
        show_envvar=False,
        help="The namespace to act in (env PODIUM_NAMESPACE, default 'default'); another "
        "namespace's run is reported as not found (exit 3). '*': every namespace (an operator)",
    ),
]
AsOption = Annotated[
    str | None,
    typer.Option("--as", "--by", help="Act as this identity (env PODIUM_USER, else USER)"),
]


def runtime_in(store: Store, namespace: str, **options: Any) -> Runtime:
    """A :class:`Runtime` acting in ``namespace`` only (``'*'``: in every namespace, and it
    starts no runs)."""
    if _through_server(namespace) != namespace:  # --server: every namespace of the credential
        return Runtime(store, namespace=namespace, namespaces=EVERY, **options)
    return Runtime(store, namespace=namespace, **options)


def namespace_filter(namespace: str) -> str | None:
    """``--namespace`` as a store filter: ``'*'`` is every namespace (None); anything but a
    namespace name is a ``UserError``."""
    namespace = _through_server(namespace)
    return None if namespace == EVERY else check_name(namespace)


def _through_server(namespace: str) -> str:
    """With ``--server`` the credential's namespaces are the scope (the server enforces
    them): the default namespace widens to every one; a named one still narrows."""
    return EVERY if Options.server and namespace == "default" else namespace


NamespaceBudgetOption = Annotated[
    str | None,
    typer.Option(
        "--namespace-budget",
        help="What all runs of the run's namespace may spend together: tokens=N[,cost_usd=X] "
        "(held in the store, shared by every process)",
    ),
]


def namespace_budget(text: str | None) -> Budget | None:
    """``--namespace-budget``, checked before the store is opened (bad: exit 2)."""
    if text is None:
        return None
    try:
        what = "--namespace-budget"
        return tenant_budget.check(parse_budget(text, what), f"{what} {text!r}")
    except UserError as error:
        fail(str(error), BAD_INPUT)


__all__ = [
    "BAD_INPUT",
    "DEFAULT_DB",
    "EXIT",
    "MAX_INPUT_DEPTH",
    "STORE_ERROR",
    "AsOption",
    "DbOption",
    "NamespaceBudgetOption",
    "NamespaceOption",
    "Options",
    "as_bad_input",
    "check_plain",
    "err",
    "exit_code",
    "fail",
    "guarded",
    "namespace_budget",
    "namespace_filter",
    "open_cli_store",
    "out",
    "parse_input",
    "quiet_libraries",
    "run_with_store",
    "runtime_in",
    "server_client",
    "who",
]
