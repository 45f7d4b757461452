"""Real `podium worker` processes for the worker tests: a fleet sharing one database (a SQLite
file or a PostgreSQL schema), a ledger that the tools of tests/apps/worker_app.py append to, and
an effects folder (one file per applied charge, named by its idempotency key)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import anyio

from podium import Runtime
from podium.events import ExecutionStarted
from podium.runtime import load_target
from podium.store import Store
from podium.store.open import open_store

APP = Path(__file__).parent / "apps" / "worker_app.py"
TARGET = f"{APP}:flow"


async def start_runs(store: Store, count: int) -> list[str]:
    runtime = Runtime(store)
    flow = load_target(TARGET)
    return [await runtime.start(flow, i, ref=TARGET) for i in range(count)]


async def owners(store: Store, run_id: str) -> list[str]:
    return [
        s.event.owner for s in await store.read(run_id) if isinstance(s.event, ExecutionStarted)
    ]


def read_ledger(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class Fleet:
    """`podium worker` processes sharing a database, a ledger and an effects folder.

    ``db`` is a SQLite file path or a ``postgresql://...?schema=...`` URL; the journal and the
    status index are read straight from the database (sqlite3 or psycopg), not through Podium.
    """

    def __init__(self, tmp_path: Path, db: str | None = None) -> None:
        self.tmp = tmp_path
        self.db = db or str(tmp_path / "podium.db")
        self.postgres = self.db.startswith(("postgresql://", "postgres://"))
        self.ledger_path = tmp_path / "ledger.jsonl"
        self.effects = tmp_path / "effects"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.base_env = {
            **os.environ,
            "WORKER_LEDGER": str(self.ledger_path),
            "WORKER_EFFECTS": str(self.effects),
            "PODIUM_ALLOW_MODEL_REQUESTS": "0",
        }

    def start(
        self, name: str, *options: str, step: float = 0.02, charge: float = 0.0
    ) -> subprocess.Popen[bytes]:
        env = {
            **self.base_env,
            "WORKER_STEP_SECONDS": str(step),
            "WORKER_CHARGE_SECONDS": str(charge),
        }
        command = [sys.executable, "-m", "podium", "--db", self.db, "worker"]
        command += ["--owner", name, "--poll", "0.1", *options]
        with (self.tmp / f"{name}.log").open("wb") as log:  # the child keeps its own copy
            proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def start_ready(self, name: str, *options: str, **kwargs: float) -> subprocess.Popen[bytes]:
        """Start a worker and wait until it has opened the store and begun claiming."""
        proc = self.start(name, *options, **kwargs)
        self.wait(lambda: f"worker {name} " in self.log(name), why=f"{name} to start")
        return proc

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text() if path.exists() else ""

    def create(self, count: int) -> list[str]:
        async def go() -> list[str]:
            store = open_store(self.db)
            async with store:
                return await start_runs(store, count)

        return anyio.run(go)

    def ledger(self) -> list[dict[str, Any]]:
        return read_ledger(self.ledger_path)

    def _query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if not self.postgres:
            with closing(sqlite3.connect(self.db)) as conn:
                return conn.execute(sql.replace("%s", "?"), args).fetchall()
        import psycopg

        base, _, query = self.db.partition("?")
        schema = dict(p.split("=", 1) for p in query.split("&") if p).get("schema", "public")
        with psycopg.connect(base, autocommit=True) as pg:
            pg.execute(f'SET search_path TO "{schema}"')
            return pg.execute(sql, args).fetchall()  # type: ignore[arg-type]

    def journal(self, run_id: str) -> list[tuple[float, dict[str, Any]]]:
        body = "body_text" if self.postgres else "body"
        rows = self._query(f"SELECT ts, {body} FROM events WHERE run_id=%s ORDER BY seq", run_id)
        return [(ts, json.loads(text)) for ts, text in rows]

    def status(self, run_id: str) -> str:
        rows = self._query("SELECT status FROM runs WHERE run_id=%s", run_id)
        return str(rows[0][0])

    def statuses(self) -> dict[str, str]:
        return {r: s for r, s in self._query("SELECT run_id, status FROM runs")}

    def started_by(self, run_id: str) -> list[tuple[float, str]]:
        """(commit time, owner) of each execution_started of the run."""
        return [
            (ts, e["owner"]) for ts, e in self.journal(run_id) if e["type"] == "execution_started"
        ]

    def wait(self, what: Callable[[], bool], timeout: float = 30, why: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not _holds(what):
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {n}\n{self.log(n)[-4000:]}" for n in self.procs)
                raise AssertionError(f"timed out waiting for {why}\n{logs}")
            time.sleep(0.02)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
            proc.wait()


def _holds(what: Callable[[], bool]) -> bool:
    try:
        return what()
    except Exception:  # e.g. the database is restarting: not yet
        return False


def assert_one_owner_at_a_time(ledger: list[dict[str, Any]]) -> None:
    """Per run, the intervals in which tools ran never overlap across processes."""
    by_run: dict[str, list[tuple[float, float, int]]] = {}
    for r in ledger:
        if r["kind"] == "work":
            by_run.setdefault(r["run"], []).append((r["start"], r["end"], r["pid"]))
    for run_id, spans in by_run.items():
        spans.sort()
        for (_, end, pid), (start, _, next_pid) in itertools.pairwise(spans):
            assert pid == next_pid or end <= start, f"{run_id}: {pid} and {next_pid} overlap"


# -- PostgreSQL: a schema per test, and restarting the server ---------------------------------

CAN_RESTART = (
    shutil.which("pg_ctlcluster") is not None and hasattr(os, "geteuid") and (os.geteuid() == 0)
)


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A ``?schema=`` URL of a fresh schema, dropped afterwards (the server is started again
    first if a test left it down)."""
    import psycopg

    schema = f"podium_fleet_{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}schema={schema}"
    finally:
        if CAN_RESTART and "online" not in _clusters():
            pg_ctl("start")
        wait_for_postgres(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _clusters() -> str:
    return subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout


def pg_ctl(action: str, *options: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action, *options]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def wait_for_postgres(url: str, timeout: float = 60) -> None:
    """Wait until PostgreSQL accepts connections (after a restart)."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
