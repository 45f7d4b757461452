"""The store conformance suite on PostgreSQL, plus what only PostgresStore promises: migrations
under an advisory lock, JSONB bodies the audit chain covers, the one-statement append, leases on
the database's clock, NOTIFY. Every store gets a schema of its own, dropped after the test.

Needs a PostgreSQL server (``PODIUM_TEST_POSTGRES_URL``, default the local one): skipped
without one, failed under CI."""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

if os.environ.get("CI", "").strip().lower() not in ("1", "true", "yes"):
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[dev]')")

import psycopg
from psycopg import sql

from podium import events as ev
from podium.errors import (
    ConcurrencyError,
    InvalidPayloadError,
    LeaseLost,
    MigrationError,
    StoreError,
    UserError,
)
from podium.observability.audit import verify
from podium.store import Lease, SQLiteStore, Store
from podium.store.open import open_store
from podium.store.postgres import PostgresStore
from podium.store.postgres_schema import MIGRATION_FOLDER, MIGRATIONS
from podium.testing.conformance import StoreConformance, StoreFactory
from podium.testing.lease_conformance import LeaseConformance
from podium.types import RunStatus

pytestmark = [pytest.mark.postgres, pytest.mark.anyio]


class Schemas:
    """Fresh schema names for one test; every one is dropped at its end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.made: list[str] = []

    def new(self) -> str:
        self.made.append(f"podium_test_{secrets.token_hex(6)}")
        return self.made[-1]

    def store(self, schema: str | None = None, **options: Any) -> PostgresStore:
        return PostgresStore(self.url, schema=schema or self.new(), **options)

    def drop(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            for schema in self.made:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )


@pytest.fixture
def schemas(postgres_url: str) -> Iterator[Schemas]:
    made = Schemas(postgres_url)
    yield made
    made.drop()


async def _sql(store: Store, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    """Run SQL in the store's schema on a connection of its own; the rows it returns."""
    assert isinstance(store, PostgresStore)
    async with await psycopg.AsyncConnection.connect(
        store._conninfo, autocommit=True
    ) as conn:  # the store's own URL and search_path
        cur = await conn.execute(statement.encode(), args)
        return await cur.fetchall() if cur.description else [(cur.rowcount,)]


class TestPostgresStore(StoreConformance):
    @pytest.fixture
    def store_factory(self, schemas: Schemas) -> StoreFactory:
        async def make(*, max_event_bytes: int) -> Store:
            return await schemas.store(max_event_bytes=max_event_bytes, max_size=4).connect()

        return make

    async def corrupt_row(self, store: Store, run_id: str, seq: int, body: str) -> None:
        update = "UPDATE events SET body_text = %s WHERE run_id = %s AND seq = %s"
        assert await _sql(store, update, body, run_id, seq) == [(1,)]

    async def delete_row(self, store: Store, run_id: str, seq: int) -> None:
        delete = "DELETE FROM events WHERE run_id = %s AND seq = %s"
        assert await _sql(store, delete, run_id, seq) == [(1,)]


class TestPostgresLeases(LeaseConformance):
    @pytest.fixture
    def store_factory(self, schemas: Schemas) -> StoreFactory:
        async def make(*, max_event_bytes: int) -> Store:
            return await schemas.store(max_event_bytes=max_event_bytes, max_size=4).connect()

        return make

    async def reconnect(self, store: Store) -> Store:
        assert isinstance(store, PostgresStore)
        return PostgresStore(store._conninfo, schema=store.schema)


# -- PostgreSQL only ----------------------------------------------------------------------------


@pytest.fixture
async def store(schemas: Schemas) -> AsyncIterator[PostgresStore]:
    async with await schemas.store().connect() as opened:
        assert isinstance(opened, PostgresStore)
        yield opened


def _start(namespace: str = "default") -> ev.RunStarted:
    return ev.RunStarted(workflow="wf", input={"x": 1}, namespace=namespace)


def _nodes(count: int, prefix: str = "n") -> list[ev.Event]:
    return [ev.NodeStarted(path=f"{prefix}{i}", kind="function") for i in range(count)]


def test_migrations_are_numbered_and_all_listed() -> None:
    from importlib import resources

    numbers = [int(name.split("_")[1]) for name in MIGRATIONS]
    assert numbers == list(range(1, len(MIGRATIONS) + 1))
    folder = resources.files("podium.store.migrations").joinpath(MIGRATION_FOLDER)
    shipped = {p.name for p in folder.iterdir() if p.name.endswith(".sql")}
    assert shipped == set(MIGRATIONS), "a migration file is not listed in MIGRATIONS"


async def test_stores_starting_together_migrate_once(schemas: Schemas) -> None:
    schema = schemas.new()
    stores = [schemas.store(schema) for _ in range(6)]
    try:
        async with anyio.create_task_group() as tg:
            for one in stores:
                tg.start_soon(one.connect)
        applied = await _sql(stores[0], "SELECT version, name FROM schema_migrations")
        assert applied == [(v, name) for v, name in enumerate(MIGRATIONS, 1)]
        await stores[0].append("r", [_start()], expected_seq=0)
        assert (await stores[-1].get_run("r")).last_seq == 1
    finally:
        for one in stores:
            await one.close()


async def test_a_newer_schema_is_refused(schemas: Schemas, store: PostgresStore) -> None:
    newer = len(MIGRATIONS) + 1
    await _sql(store, "INSERT INTO schema_migrations (version, name) VALUES (%s, 'x')", newer)
    with pytest.raises(MigrationError, match="newer"):
        await schemas.store(store.schema).connect()


async def test_bodies_are_jsonb_and_the_chain_covers_them(store: PostgresStore) -> None:
    await store.append("r", [_start(), *_nodes(3)], expected_seq=0)
    rows = await _sql(
        store, "SELECT body->>'path', jsonb_typeof(body) FROM events WHERE run_id='r' ORDER BY seq"
    )
    assert rows == [(None, "object"), ("n0", "object"), ("n1", "object"), ("n2", "object")]
    # JSONB normalises the text: what was hashed is kept beside it
    (same,) = await _sql(store, "SELECT bool_and(body_text::jsonb = body) FROM events")
    assert same == (True,)
    assert verify(await store.audit_trail("r")).ok
    # an edit of the JSONB alone is found at its sequence
    await _sql(store, "UPDATE events SET body = jsonb_set(body, '{path}', '\"x\"') WHERE seq = 3")
    result = verify(await store.audit_trail("r"))
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert "digest" in result.problem
    assert [s.seq for s in await store.read("r")] == [1, 2, 3, 4]  # reads use the hashed text


async def test_a_nul_character_is_refused_and_nothing_written(store: PostgresStore) -> None:
    await store.append("r", [_start()], expected_seq=0)
    with pytest.raises(InvalidPayloadError, match="U\\+0000"):
        await store.append("r", [ev.SignalReceived(name="s", payload="a\x00b")], expected_seq=1)
    assert (await store.get_run("r")).last_seq == 1
    literal = ev.SignalReceived(name="s", payload="\\u0000 is six characters")
    assert await store.append("r", [literal], expected_seq=1) == 2
    assert (await store.read("r", after_seq=1))[0].event == literal


async def test_stale_caches_of_two_stores_never_fork_the_chain(schemas: Schemas) -> None:
    schema = schemas.new()
    async with schemas.store(schema) as one, schemas.store(schema) as two:
        await one.append("r", [_start()], expected_seq=0)
        await two.append("r", _nodes(1, "a"), expected_seq=1)
        # one's cache says seq 1: its append must still see seq 2 and refuse or chain after it
        with pytest.raises(ConcurrencyError) as caught:
            await one.append("r", _nodes(1, "b"), expected_seq=1)
        assert (caught.value.expected, caught.value.actual) == (1, 2)
        assert await one.append("r", _nodes(1, "c"), expected_seq=2) == 3
        assert await two.append("r", _nodes(1, "d"), expected_seq=3) == 4
        assert await one.append("r", _nodes(1, "e"), expected_seq=4) == 5
        result = verify(await two.audit_trail("r"))
        assert (result.ok, result.events) == (True, 5)
        assert (one.commits, two.commits) == (3, 2)


async def test_a_cached_append_takes_no_lock_transaction(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked: list[str] = []
    original = store._locked_append

    async def counting(*args: Any) -> Any:
        locked.append(args[1])
        return await original(*args)

    monkeypatch.setattr(store, "_locked_append", counting)
    await store.append("r", [_start()], expected_seq=0)
    for seq in range(1, 21):
        await store.append("r", _nodes(1, f"s{seq}-"), expected_seq=seq)
    assert locked == []  # one conditional statement each
    with pytest.raises(ConcurrencyError):
        await store.append("r", _nodes(1), expected_seq=3)
    assert locked == ["r"]  # a refusal is decided under the lock
    assert verify(await store.audit_trail("r")).ok


async def test_close_closes_the_pool(schemas: Schemas) -> None:
    store = await schemas.store().connect()
    await store.append("r", [_start()], expected_seq=0)
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.get_run("r")
    await store.close()  # twice is fine


async def test_an_unreachable_server_is_a_store_error() -> None:
    store = PostgresStore("postgresql://nobody@127.0.0.1:1/none", timeout=1.0)
    with pytest.raises(StoreError, match=r"cannot connect to PostgreSQL at 127\.0\.0\.1:1/none"):
        await store.connect()
    await store.close()


def test_open_store_takes_a_path_or_a_url(tmp_path: Path, postgres_url: str) -> None:
    sqlite = open_store(tmp_path / "p.db")
    assert isinstance(sqlite, SQLiteStore)
    anyio.run(sqlite.close)
    pg = open_store(postgres_url + "?schema=podium_x", max_event_bytes=1000)
    assert isinstance(pg, PostgresStore)
    assert (pg.schema, pg._max_event_bytes) == ("podium_x", 1000)
    assert "schema" not in pg._conninfo.split("search_path")[0]
    assert isinstance(open_store("postgres://u@h/db"), PostgresStore)
    with pytest.raises(UserError, match="scheme"):
        open_store("mysql://u@h/db")
    with pytest.raises(UserError, match="schema"):
        open_store(postgres_url + "?schema=no;drop")


# -- leases ---------------------------------------------------------------------------------------


async def _db_now(store: PostgresStore) -> float:
    rows = await _sql(store, "SELECT extract(epoch FROM clock_timestamp())::float8")
    return float(rows[0][0])


async def _runs(store: PostgresStore, *specs: tuple[str, list[ev.Event]]) -> None:
    for run_id, rest in specs:
        await store.append(run_id, [_start(), *rest], expected_seq=0)


async def test_claim_takes_runnable_runs_oldest_first(store: PostgresStore) -> None:
    past, future = 1_000.0, 4_000_000_000.0
    await _runs(
        store,
        ("pending", []),
        ("due", [ev.RunSuspended(reason="timer", wake_at=past)]),
        ("later", [ev.RunSuspended(reason="timer", wake_at=future)]),
        ("waiting", [ev.RunSuspended(reason="signal")]),
        ("running", [ev.ExecutionStarted(owner="in-process")]),  # never leased: not a worker's
        ("done", [ev.RunCompleted(output=1)]),
        ("other-ns", []),
    )
    await _sql(store, "UPDATE runs SET namespace = 'other' WHERE run_id = 'other-ns'")
    now = await _db_now(store)
    leases = await store.claim("w1", lease_seconds=30, limit=10, namespace="default")
    assert [lease.run_id for lease in leases] == ["pending", "due"]
    for lease in leases:
        assert (lease.owner, lease.epoch, lease.attempts) == ("w1", 1, 1)
        assert now + 29 < lease.expires_at < now + 31  # the database's clock
    assert await store.claim("w2", lease_seconds=30, limit=10, namespace="default") == []
    assert [lease.run_id for lease in await store.claim("w2", lease_seconds=30)] == ["other-ns"]


async def test_claim_limit_and_concurrent_claimers_never_share(schemas: Schemas) -> None:
    schema = schemas.new()
    async with schemas.store(schema) as one, schemas.store(schema) as two:
        for i in range(30):
            await one.append(f"r{i:02d}", [_start()], expected_seq=0)
        first = await one.claim("w0", lease_seconds=30, limit=2)
        assert [lease.run_id for lease in first] == ["r00", "r01"]
        got: list[Lease] = []

        async def worker(store: PostgresStore, name: str) -> None:
            for n in itertools.count():  # a new owner per call: an owner re-claims its own
                leases = await store.claim(f"{name}.{n}", lease_seconds=30, limit=3)
                if not leases:
                    return
                got.extend(leases)

        async with anyio.create_task_group() as tg:
            for i, store in enumerate((one, two, one, two)):
                tg.start_soon(worker, store, f"w{i + 1}")
        assert sorted(lease.run_id for lease in got) == [f"r{i:02d}" for i in range(2, 30)]


async def test_an_expired_lease_moves_on_and_fences_the_old_worker(store: PostgresStore) -> None:
    await store.append("r", [_start()], expected_seq=0)
    (old,) = await store.claim("w1", lease_seconds=0.3)
    await store.append("r", [ev.ExecutionStarted(owner="w1")], expected_seq=1, lease=old)
    assert await store.claim("w2", lease_seconds=30) == []  # running under a live lease
    await anyio.sleep(0.4)
    (new,) = await store.claim("w2", lease_seconds=30)  # running, lease expired: its worker died
    assert (new.run_id, new.epoch, new.attempts) == ("r", 2, 2)
    before = await store.get_run("r")
    with pytest.raises(LeaseLost):
        await store.append("r", _nodes(1), expected_seq=2, lease=old)
    with pytest.raises(LeaseLost):
        await store.renew(old, lease_seconds=30)
    await store.release(old)  # no longer held: nothing happens
    assert await store.get_run("r") == before
    assert await store.append("r", _nodes(1), expected_seq=2, lease=new) == 3
    renewed = await store.renew(new, lease_seconds=60)
    assert renewed.expires_at > new.expires_at
    assert (renewed.epoch, renewed.attempts) == (2, 2)


async def test_a_fenced_append_checks_the_lease_even_from_a_fresh_store(
    schemas: Schemas,
) -> None:
    schema = schemas.new()
    async with schemas.store(schema) as one, schemas.store(schema) as two:
        await one.append("r", [_start()], expected_seq=0)
        (lease,) = await one.claim("w1", lease_seconds=30)
        stale = Lease(run_id="r", owner="w1", epoch=lease.epoch - 1, expires_at=0)
        with pytest.raises(LeaseLost):
            await one.append("r", _nodes(1), expected_seq=1, lease=stale)  # cached path
        with pytest.raises(LeaseLost):
            await two.append("r", _nodes(1), expected_seq=1, lease=stale)  # locked path
        with pytest.raises(LeaseLost):
            await two.append("nope", [_start()], expected_seq=0, lease=lease)
        assert await two.append("r", _nodes(1), expected_seq=1, lease=lease) == 2
        assert await one.append("r", _nodes(1, "m"), expected_seq=2, lease=lease) == 3
        await one.release(lease)
        with pytest.raises(LeaseLost):  # released: no longer claimed with that epoch
            await one.append("r", _nodes(1, "x"), expected_seq=3, lease=lease)
        assert await one.append("r", _nodes(1, "x"), expected_seq=3) == 4  # unfenced: fine


async def test_release_makes_a_run_claimable_at_once(store: PostgresStore) -> None:
    await store.append("r", [_start()], expected_seq=0)
    (lease,) = await store.claim("w1", lease_seconds=300)
    await store.append("r", [ev.ExecutionStarted(owner="w1")], expected_seq=1, lease=lease)
    await store.release(lease)
    (again,) = await store.claim("w2", lease_seconds=300)
    assert (again.run_id, again.epoch, again.attempts) == ("r", 2, 1)  # a clean hand-back
    assert (await store.get_run("r")).status is RunStatus.RUNNING


# -- NOTIFY ---------------------------------------------------------------------------------------


async def test_wait_runnable_wakes_on_a_runnable_append(schemas: Schemas) -> None:
    schema = schemas.new()
    async with schemas.store(schema) as worker, schemas.store(schema) as api:
        assert await worker.wait_runnable(0.05) is False  # starts listening
        await api.append("r", [_start()], expected_seq=0)  # pending: runnable
        assert await worker.wait_runnable(5) is True
        (lease,) = await worker.claim("w", lease_seconds=30)
        await worker.append("r", [ev.ExecutionStarted(owner="w")], expected_seq=1, lease=lease)
        await worker.append("r", _nodes(3), expected_seq=2, lease=lease)  # running: no notify
        await worker.append("r", [ev.RunSuspended(reason="signal")], expected_seq=5, lease=lease)
        assert await worker.wait_runnable(0.2) is False
        await api.append("r", [ev.SignalReceived(name="go")], expected_seq=6)  # pending again
        assert await worker.wait_runnable(5) is True
        async with schemas.store() as elsewhere:  # another schema: not this store's runs
            await elsewhere.append("x", [_start()], expected_seq=0)
            assert await worker.wait_runnable(0.3) is False


async def test_a_search_path_in_the_url_is_used_as_is(schemas: Schemas) -> None:
    schema = schemas.new()
    url = f"{schemas.url}?options=-csearch_path%3D{schema}"
    with pytest.raises(MigrationError, match="no schema"):  # not created without schema=
        await PostgresStore(url).connect()
    with psycopg.connect(schemas.url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    async with PostgresStore(url) as first, schemas.store(schema) as worker:
        assert await worker.wait_runnable(0.05) is False
        await first.append("r", [_start()], expected_seq=0)  # connects on this first use
        assert first.schema == schema
        assert await worker.wait_runnable(5) is True  # the notification names the schema
        assert [s.seq for s in await worker.read("r")] == [1]


async def test_an_export_moves_between_postgres_and_sqlite_with_the_same_chain(
    store: PostgresStore, tmp_path: Path
) -> None:
    import io

    from podium.observability.audit import export_jsonl, import_jsonl

    events: list[ev.Event] = [_start(), *_nodes(3), ev.RunCompleted(output={"ü": [1.5, None]})]
    await store.append("r", events[:2], expected_seq=0)
    await store.append("r", events[2:], expected_seq=2)
    buffer = io.StringIO()
    exported = await export_jsonl(store, "r", buffer)
    async with SQLiteStore(tmp_path / "p.db") as lite:
        assert await import_jsonl(lite, io.StringIO(buffer.getvalue())) == exported
        assert await lite.audit_trail("r") == await store.audit_trail("r")
        again = io.StringIO()
        await export_jsonl(lite, "r", again)
    await _sql(store, "DELETE FROM runs WHERE run_id = 'r'")
    assert await import_jsonl(store, io.StringIO(again.getvalue())) == exported
    assert [s.event for s in await store.read("r")] == events
