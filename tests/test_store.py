"""The store conformance suite on every backend, plus what only SQLite promises."""

from __future__ import annotations

import itertools
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from importlib import resources
from pathlib import Path

import anyio
import pytest

from podium.errors import ConcurrencyError, MigrationError
from podium.events import NodeFinished, NodeStarted, RunStarted, SignalReceived, StepCompleted
from podium.store import MemoryStore, SQLiteStore, Store
from podium.store.sqlite import MIGRATIONS
from podium.testing.conformance import StoreConformance, StoreFactory


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        async def make(*, max_event_bytes: int) -> Store:
            return MemoryStore(max_event_bytes=max_event_bytes)

        return make

    async def corrupt_row(self, store: Store, run_id: str, seq: int, body: str) -> None:
        assert isinstance(store, MemoryStore)
        store.corrupt(run_id, seq, body)

    async def delete_row(self, store: Store, run_id: str, seq: int) -> None:
        pytest.skip("MemoryStore keeps rows in a list indexed by seq; a row cannot go missing")


class TestSQLiteStore(StoreConformance):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreFactory:
        names = itertools.count()

        async def make(*, max_event_bytes: int) -> Store:
            path = tmp_path / f"store-{next(names)}.db"
            return SQLiteStore(path, max_event_bytes=max_event_bytes)

        return make

    async def corrupt_row(self, store: Store, run_id: str, seq: int, body: str) -> None:
        sql = "UPDATE events SET body=? WHERE run_id=? AND seq=?"
        assert _write(store, sql, (body, run_id, seq)) == 1

    async def delete_row(self, store: Store, run_id: str, seq: int) -> None:
        assert _write(store, "DELETE FROM events WHERE run_id=? AND seq=?", (run_id, seq)) == 1


def _write(store: Store, sql: str, args: tuple[object, ...]) -> int:
    assert isinstance(store, SQLiteStore)
    with closing(sqlite3.connect(store.path)) as conn:
        count = conn.execute(sql, args).rowcount
        conn.commit()
    return count


def _query(path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


# -- SQLite only ----------------------------------------------------------------------------

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "podium.db"


def _start() -> RunStarted:
    return RunStarted(workflow="wf", input=None)


async def test_wal_mode_is_on(db: Path) -> None:
    async with SQLiteStore(db) as store:
        await store.append("r", [_start()], expected_seq=0)
        assert _query(db, "PRAGMA journal_mode") == [("wal",)]


def test_migrations_are_numbered_and_all_listed() -> None:
    numbers = [int(name.split("_")[1]) for name in MIGRATIONS]
    assert numbers == list(range(1, len(MIGRATIONS) + 1))
    assert all(name.startswith("sqlite_") and name.endswith(".sql") for name in MIGRATIONS)
    folder = resources.files("podium.store.migrations")
    shipped = {p.name for p in folder.iterdir() if p.name.endswith(".sql")}
    assert shipped == set(MIGRATIONS), "a migration file is not listed in MIGRATIONS"


async def test_migrations_are_recorded_once_and_reopen_keeps_data(db: Path) -> None:
    async with SQLiteStore(db) as store:
        await store.append("r", [_start(), SignalReceived(name="s")], expected_seq=0)
    recorded = _query(db, "SELECT version, applied_at FROM schema_migrations ORDER BY version")
    assert [version for version, _ in recorded] == list(range(1, len(MIGRATIONS) + 1))
    async with SQLiteStore(db) as store:
        assert [s.event for s in await store.read("r")] == [_start(), SignalReceived(name="s")]
        assert await store.append("r", [SignalReceived(name="t")], expected_seq=2) == 3
    assert _query(db, "SELECT version, applied_at FROM schema_migrations") == recorded


async def test_newer_schema_is_refused(db: Path) -> None:
    async with SQLiteStore(db):
        pass
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (len(MIGRATIONS) + 1, 0.0))
        conn.commit()
    with pytest.raises(MigrationError, match="newer"):
        SQLiteStore(db)


async def test_two_connections_share_the_journal(db: Path) -> None:
    async with SQLiteStore(db) as one, SQLiteStore(db) as two:
        await one.append("r", [_start()], expected_seq=0)
        assert (await two.get_run("r")).last_seq == 1
        assert await two.append("r", [SignalReceived(name="b")], expected_seq=1) == 2
        with pytest.raises(ConcurrencyError):
            await one.append("r", [SignalReceived(name="a")], expected_seq=1)
        assert [s.event for s in await one.read("r")] == [_start(), SignalReceived(name="b")]
        assert [r.run_id for r in await one.list_runs()] == ["r"]


async def test_two_connections_race(db: Path) -> None:
    async with SQLiteStore(db) as one, SQLiteStore(db) as two:
        await one.append("r", [_start()], expected_seq=0)
        wins: list[str] = []

        async def attempt(store: Store, name: str) -> None:
            try:
                await store.append("r", [SignalReceived(name=name)], expected_seq=1)
                wins.append(name)
            except ConcurrencyError:
                pass

        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(attempt, one, f"one-{i}")
                tg.start_soon(attempt, two, f"two-{i}")
        assert len(wins) == 1
        assert [s.seq for s in await two.read("r")] == [1, 2]


_WRITER = textwrap.dedent(
    """
    import sys, anyio
    from podium.events import NodeFinished, NodeStarted, RunStarted, StepCompleted
    from podium.store import SQLiteStore

    async def main():
        store = SQLiteStore(sys.argv[1])
        seq = await store.append("crash", [RunStarted(workflow="w", input=None)], expected_seq=0)
        print(seq, flush=True)
        for n in range(1, 1_000_000):
            batch = [
                NodeStarted(path=f"b{n}", kind="batch"),
                StepCompleted(key=f"b{n}", kind="k", result={"n": n, "pad": "x" * 200}),
                NodeFinished(path=f"b{n}", output=n),
            ]
            seq = await store.append("crash", batch, expected_seq=seq)
            print(seq, flush=True)

    anyio.run(main)
    """
)


def _acked_before_kill(db: Path, wanted: int) -> list[int]:
    """Run the writer, SIGKILL it after ``wanted`` acknowledgements; every seq it acked."""
    command = [sys.executable, "-c", _WRITER, str(db)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        acked: list[int] = []
        deadline = time.monotonic() + 60
        while len(acked) < wanted and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acked.append(int(line))
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()  # not communicate(): it would skip readline()'s buffer
        assert proc.stderr is not None
        errors = proc.stderr.read()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, errors
    assert len(acked) >= wanted, errors
    return acked + [int(line) for line in rest.split()]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
async def test_kill_9_loses_no_acknowledged_append(db: Path) -> None:
    acked = _acked_before_kill(db, wanted=200)
    assert acked == list(range(1, 3 * len(acked) - 1, 3))
    async with SQLiteStore(db) as store:
        stored = await store.read("crash")
        last = (await store.get_run("crash")).last_seq
    assert last >= acked[-1]
    assert [s.seq for s in stored] == list(range(1, last + 1))
    assert (last - 1) % 3 == 0, "a partial batch was committed"
    for n, i in enumerate(range(1, last, 3), 1):
        assert [s.event for s in stored[i : i + 3]] == [
            NodeStarted(path=f"b{n}", kind="batch"),
            StepCompleted(key=f"b{n}", kind="k", result={"n": n, "pad": "x" * 200}),
            NodeFinished(path=f"b{n}", output=n),
        ]


async def test_an_append_waits_for_another_writer_instead_of_failing(db: Path) -> None:
    """Appends normally commit on the event loop with a busy timeout of 0; when another
    connection (another process) holds the write lock, the append waits for it in a thread
    instead of reporting "database is locked" — and the loop stays free meanwhile."""
    store = SQLiteStore(db)
    await store.append("run_a", [_start()], expected_seq=0)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # hold the write lock
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as group:
        group.start_soon(tick)
        with anyio.fail_after(10):
            async with anyio.create_task_group() as writers:
                writers.start_soon(_append_one, store)
                await anyio.sleep(0.2)
                before_release = ticks
                other.execute("COMMIT")
        group.cancel_scope.cancel()
    other.close()
    assert before_release >= 5  # the loop kept running while the append waited
    assert [s.seq for s in await store.read("run_a")] == [1, 2]
    await store.close()


async def _append_one(store: Store) -> None:
    await store.append("run_a", [NodeStarted(path="a", kind="agent")], expected_seq=1)
