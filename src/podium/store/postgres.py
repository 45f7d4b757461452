"""The server store: PostgreSQL through psycopg 3 (async) and a connection pool.

``PostgresStore("postgresql://user@host/db", schema="podium")`` connects on first use (or on
``await store.connect()``): it opens an :class:`~psycopg_pool.AsyncConnectionPool` whose
connections run in autocommit mode with ``search_path`` set to the schema, and migrates the
schema (numbered files, one transaction under an advisory lock: see
:mod:`podium.store.postgres_schema`). Installing it: ``pip install -e '.[postgres]'``.

An append is one atomic write. The index row it was computed from (its last sequence, the head
of its chain, its lease) is usually in this store's cache, because this store wrote the run's
last rows; then the append is ONE conditional statement (:mod:`podium.store.postgres_sql`): it
writes only if the row is still what the cache says, and ``SELECT ... FOR UPDATE`` is not needed.
Otherwise, or when that statement wrote nothing, the append runs in a transaction that locks the
run's row (``SELECT ... FOR UPDATE``), checks the append (:func:`~podium.store.index.check_append`)
and the lease, and writes the same statement; refusals (``ConcurrencyError``, ``LeaseLost``,
a closed journal) come from there. Either way the chain is computed from the head the write is
conditional on, so no two appends can chain from the same row.

Workers claim runs with ``FOR UPDATE SKIP LOCKED`` on the database's clock; an append that
leaves a run runnable sends ``NOTIFY podium_runnable``, which :meth:`PostgresStore.wait_runnable`
listens for (a wake-up hint: ``claim`` is the truth).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from podium.errors import (
    ConcurrencyError,
    CorruptJournalError,
    InvalidPayloadError,
    LeaseLost,
    RunNotFound,
    StoreError,
)
from podium.events import SCHEMA_VERSION, Event, decode
from podium.store import chain, postgres_audit, postgres_holds, postgres_leases, rates
from podium.store import postgres_sql as q
from podium.store.base import (
    DEFAULT_MAX_EVENT_BYTES,
    AuditTrail,
    Lease,
    RunErasedError,
    RunFilter,
    RunRecord,
    Store,
    StoredEvent,
)
from podium.store.holds import SpendCheck, SpendHold
from podium.store.index import (
    check_append,
    check_head,
    check_import,
    encode_checked,
    fold,
    new_record,
)
from podium.store.postgres_control import PostgresControl
from podium.store.postgres_environments import PostgresEnvironments
from podium.store.postgres_schema import CONNECT_TIMEOUT, conninfo, describe, migrate, split_url

Pool = AsyncConnectionPool[AsyncConnection[TupleRow]]
_CACHE_SIZE = 4096  # index rows kept for the one-statement append


@dataclass(frozen=True, slots=True)
class _Write:
    """An append (or import) ready to write: the new index row and the statement's
    parameters."""

    record: RunRecord
    head: bytes
    params: dict[str, Any]
    create: bool


CONNECT_SECONDS = float(CONNECT_TIMEOUT)


def _restarting(error: psycopg.OperationalError) -> bool:
    """The server is there but not accepting connections yet (or any more): 57P03."""
    text = str(error)
    return "starting up" in text or "shutting down" in text or "in recovery mode" in text


class PostgresStore(PostgresControl, PostgresEnvironments, Store):
    """A :class:`~podium.store.Store` in PostgreSQL. ``schema``: the schema of its tables
    (created if missing; default: the connection's ``search_path``, usually ``public``; a
    ``?schema=`` parameter of ``url`` works too). ``min_size``/``max_size``: the pool's
    connections. ``timeout``: seconds to wait for a connection.

    ``durability="full"`` (the default) acknowledges an append once its commit is flushed to
    disk (PostgreSQL's default). ``"normal"`` turns ``synchronous_commit`` off for the store's
    sessions: like SQLite's ``"normal"``, a crash of Podium loses nothing acknowledged, but a
    crash of the database server or its machine may drop the last commits (up to about three
    times ``wal_writer_delay``); the database stays consistent either way."""

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        durability: Literal["normal", "full"] = "full",
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 30.0,
    ) -> None:
        url, self._schema = split_url(url, schema)
        self._conninfo = conninfo(url, self._schema, synchronous_commit=durability == "full")
        self._where = describe(url)
        self.schema = self._schema or ""  # the real one once connected
        self._max_event_bytes = max_event_bytes
        self._sizes = (min_size, max_size)
        self._timeout = timeout
        self._pool: Pool | None = None
        self._opening: anyio.Lock | None = None
        self._closed = False
        self._cache: dict[str, tuple[RunRecord, bytes]] = {}
        self._listener: postgres_leases.Listener | None = None
        self.commits = 0  # append transactions, for tests and benchmarks

    # -- connecting ---------------------------------------------------------------------------

    async def connect(self) -> PostgresStore:
        """Open the pool and migrate the schema now (otherwise: on first use)."""
        await self._get_pool()
        return self

    async def _get_pool(self) -> Pool:
        if self._pool is not None:
            return self._pool
        if self._closed:
            raise StoreError(f"{self._where}: the store is closed")
        if self._opening is None:
            self._opening = anyio.Lock()
        async with self._opening:
            if self._pool is None:
                self._pool = await self._open_pool()
        return self._pool

    async def _open_pool(self) -> Pool:
        min_size, max_size = self._sizes
        pool: Pool = AsyncConnectionPool(
            self._conninfo,
            kwargs={"autocommit": True},
            min_size=min_size,
            max_size=max_size,
            timeout=self._timeout,
            open=False,
            name="podium",
        )
        try:
            with self._errors("cannot connect to"):
                # one attempt first, bounded by connect_timeout: an unreachable or unresolvable
                # server is one error now, not a pool retrying until its timeout
                await self._probe()
                await pool.open(wait=True, timeout=self._timeout)
                async with pool.connection() as conn:
                    self.schema = await migrate(conn, self._schema)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await pool.close()
            raise
        return pool

    async def _probe(self) -> None:
        """Connect, within ``CONNECT_SECONDS`` (libpq may try more than one address). A server
        that answers it is starting up or shutting down (a restart) is asked again meanwhile;
        one that does not resolve, refuses or says nothing fails at once or at the deadline."""
        try:
            with anyio.fail_after(CONNECT_SECONDS):
                while True:
                    try:
                        probe = await AsyncConnection.connect(self._conninfo, autocommit=True)
                        break
                    except psycopg.OperationalError as error:
                        if not _restarting(error):
                            raise
                        await anyio.sleep(0.2)
        except TimeoutError:
            raise StoreError(
                f"cannot connect to {self._where}: no answer within {CONNECT_SECONDS:g} s"
            ) from None
        await probe.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[TupleRow]]:
        pool = self._pool or await self._get_pool()
        with self._errors():
            async with pool.connection() as conn:
                yield conn

    @contextmanager
    def _errors(self, doing: str = "") -> Iterator[None]:
        """psycopg's errors as Podium's: the store failed."""
        try:
            yield
        except psycopg.Error as error:
            what = f"{doing} {self._where}" if doing else self._where
            said = " ".join(str(error).split())  # libpq's hints come on more lines
            raise StoreError(f"{what}: {type(error).__name__}: {said}") from error

    async def close(self) -> None:
        self._closed = True
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    # -- journal ------------------------------------------------------------------------------

    async def append(
        self,
        run_id: str,
        events: Sequence[Event],
        *,
        expected_seq: int,
        lease: Lease | None = None,
    ) -> int:
        bodies = [self._encode(run_id, event) for event in events]
        digests = [chain.digest(body) for body in bodies]
        cached = self._cache.get(run_id)
        write: _Write | None = None
        if expected_seq == 0 and lease is None and events and events[0].type == "run_started":
            write = self._plan(run_id, None, chain.GENESIS, events, bodies, digests)
        elif cached is not None and cached[0].last_seq == expected_seq:
            check_append(run_id, cached[0], events, expected_seq)
            write = self._plan(run_id, cached[0], cached[1], events, bodies, digests)
        async with self._connection() as conn:
            if write is None or not await self._write(conn, write, lease):
                write = await self._locked_append(
                    conn, run_id, events, bodies, digests, expected_seq, lease
                )
        self._remember(run_id, write)
        self.commits += 1
        return write.record.last_seq

    async def _locked_append(
        self,
        conn: AsyncConnection[TupleRow],
        run_id: str,
        events: Sequence[Event],
        bodies: list[str],
        digests: list[bytes],
        expected_seq: int,
        lease: Lease | None,
    ) -> _Write:
        """The append in a transaction holding the run's row: the checks see the truth."""
        self._cache.pop(run_id, None)
        async with conn.transaction():
            cur = await conn.execute(q.LOCK_RUN, (run_id,))
            row = await cur.fetchone()
            record = None if row is None else q.record_of(row)
            if lease is not None and (
                row is None or (row[14], row[15]) != (lease.owner, lease.epoch)
            ):
                held = "no such run" if row is None else f"epoch {row[15]}, owner {row[14]}"
                raise LeaseLost(run_id, f"it has {held}, this lease has epoch {lease.epoch}")
            check_append(run_id, record, events, expected_seq)
            head = chain.GENESIS if row is None else bytes(row[13])
            write = self._plan(run_id, record, head, events, bodies, digests)
            if not await self._write(conn, write, lease):
                if record is not None:
                    raise StoreError(f"run {run_id}: the index row changed under its lock")
                cur = await conn.execute(q.LAST_SEQ, (run_id,))  # created meanwhile
                actual = await cur.fetchone()
                raise ConcurrencyError(run_id, 0, 0 if actual is None else int(actual[0]))
        return write

    def check_event(self, run_id: str, event: Event) -> None:
        self._encode(run_id, event)

    def _encode(self, run_id: str, event: Event) -> str:
        body = encode_checked(run_id, event, self._max_event_bytes)
        if q.nul_escape(body):
            raise InvalidPayloadError(
                run_id, event.type, "PostgreSQL cannot store the character U+0000"
            )
        return body

    def _plan(
        self,
        run_id: str,
        record: RunRecord | None,
        head: bytes,
        events: Sequence[Event],
        bodies: list[str],
        digests: list[bytes],
        times: Sequence[float] | None = None,
    ) -> _Write:
        """Chain the rows from ``head`` and fold the index row (``times``: an import's)."""
        create, imported = record is None, times is not None
        if times is None:
            now = time.time() if record is None else max(time.time(), record.updated_at)
            times = [now] * len(events)
        if record is None:
            record = new_record(run_id, events[0], times[0])
        prev_seq, prev_head = record.last_seq, head
        seqs = list(range(prev_seq + 1, prev_seq + 1 + len(events)))
        hashes = []
        for seq, ts, event, digest in zip(seqs, times, events, digests, strict=True):
            head = chain.link(head, run_id, seq, ts, event.type, digest)
            hashes.append(head)
        if imported:
            for ts, event in zip(times, events, strict=True):
                record = fold(record, [event], ts)  # as fold_rows: one row at a time
        else:
            record = fold(record, events, times[0])
        params: dict[str, Any] = {
            "run_id": run_id, "workflow": record.workflow, "namespace": record.namespace,
            "status": record.status.value, "created_at": record.created_at,
            "updated_at": record.updated_at, "last_seq": record.last_seq,
            "parent_run_id": record.parent_run_id, "tags": list(record.tags),
            "wake_at": record.wake_at, "error": record.error, "tokens": record.tokens,
            "cost_usd": record.cost_usd, "head": head, "expected_seq": prev_seq,
            "prev_head": prev_head, "v": SCHEMA_VERSION,
        }  # fmt: skip
        if len(events) == 1:
            params.update(
                seq=seqs[0], ts=times[0], type=events[0].type, body=bodies[0], digest=digests[0],
                hash=hashes[0],
            )  # fmt: skip
        else:
            params.update(
                seqs=seqs, tss=list(times), types=[event.type for event in events], bodies=bodies,
                digests=digests, hashes=hashes,
            )  # fmt: skip
        return _Write(record=record, head=head, params=params, create=create)

    async def _write(
        self,
        conn: AsyncConnection[TupleRow],
        write: _Write,
        lease: Lease | None,
        *,
        notify: bool = True,
    ) -> bool:
        """Run the one statement of ``write``; False if its condition did not hold.
        ``notify=False``: no NOTIFY even if the run is left runnable (it is leased)."""
        params = write.params
        notify = notify and q.runnable(write.record)
        if notify:  # after connecting: self.schema is known
            params = {**params, "payload": q.payload(self.schema, write.record.run_id)}
        if lease is not None:
            params = {**params, "lease_epoch": lease.epoch, "lease_owner": lease.owner}
        fenced = lease is not None and not write.create
        sql = q.WRITE_SQL[(write.create, fenced, notify, "seq" in params)]
        cur = await conn.execute(sql, params, prepare=True)
        row = await cur.fetchone()
        return row is not None and row[0] == 1

    def _remember(self, run_id: str, write: _Write) -> None:
        cache = self._cache
        cache.pop(run_id, None)
        if write.record.status.terminal:
            return
        if len(cache) >= _CACHE_SIZE:
            del cache[next(iter(cache))]  # the least recently written
        cache[run_id] = (write.record, write.head)

    async def read(
        self, run_id: str, *, after_seq: int = 0, verify: bool = False
    ) -> list[StoredEvent]:
        after_seq = max(0, after_seq)
        # verifying from a later row: read the row before too, for the hash it links to
        start = after_seq - 1 if verify and after_seq > 0 else after_seq
        async with self._connection() as conn:
            cur = await conn.execute(q.READ, (start, run_id))
            rows = await cur.fetchall()
        if not rows:
            raise RunNotFound(run_id)
        last_seq, raw_erasure, head = rows[0][:3]
        erasure = q.erasure_of(raw_erasure)
        if erasure is not None:
            raise RunErasedError(run_id, erasure)
        check = _verifier(run_id, rows, after_seq) if verify else None
        out: list[StoredEvent] = []
        expected = after_seq
        for *_, seq, ts, version, body, digest, hash_ in rows:
            if seq is None:
                break
            expected += 1
            if seq != expected:
                raise CorruptJournalError(run_id, expected, "sequence gap (row missing)")
            try:
                event = decode(body, version)
            except (ValueError, TypeError) as error:
                raise CorruptJournalError(run_id, seq, str(error)) from None
            if check is not None:
                check.row(seq, ts, event.type, body, _raw(digest), _raw(hash_))
            out.append(
                StoredEvent(
                    run_id=run_id, seq=seq, ts=ts, event=event,
                    digest=q.hex_of(digest), hash=q.hex_of(hash_),
                )
            )  # fmt: skip
        if expected < last_seq:
            raise CorruptJournalError(run_id, expected + 1, "row missing (the index has more)")
        if check is not None and out:
            check.end(_raw(head), expected)
        return out

    async def get_run(self, run_id: str) -> RunRecord:
        async with self._connection() as conn:
            cur = await conn.execute(q.GET_RUN, (run_id,))
            row = await cur.fetchone()
        if row is None:
            raise RunNotFound(run_id)
        return q.record_of(row)

    async def list_runs(self, query: RunFilter | None = None) -> list[RunRecord]:
        sql, args = q.list_sql(query or RunFilter())
        async with self._connection() as conn:
            cur = await conn.execute(sql, args)
            return [q.record_of(row) for row in await cur.fetchall()]

    async def now(self) -> float:
        async with self._connection() as conn:
            cur = await conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8")
            row = await cur.fetchone()
        assert row is not None
        return float(row[0])

    async def hold_spend(
        self,
        hold: SpendHold,
        *,
        max_tokens: int | None,
        max_cost_usd: float | None,
        seconds: float,
    ) -> SpendCheck:
        async with self._connection() as conn:
            return await postgres_holds.hold(conn, hold, max_tokens, max_cost_usd, seconds)

    async def release_spend(self, *hold_ids: str, run_id: str | None = None) -> int:
        async with self._connection() as conn:
            return await postgres_holds.release(conn, hold_ids, run_id)

    async def held_spend(self, namespace: str) -> tuple[int, float]:
        async with self._connection() as conn:
            return await postgres_holds.held(conn, namespace)

    async def spend(self, namespace: str) -> tuple[int, float]:
        async with self._connection() as conn:
            return await postgres_audit.spend(conn, namespace)

    # -- audit and retention -------------------------------------------------------------------

    async def audit_trail(self, run_id: str) -> AuditTrail:
        async with self._connection() as conn:
            return await postgres_audit.trail(conn, run_id)

    async def import_run(
        self, run_id: str, rows: Sequence[tuple[float, Event]], *, expect_head: str | None = None
    ) -> str:
        check_import(run_id, False, rows)
        events = [event for _, event in rows]
        bodies = [self._encode(run_id, event) for event in events]
        digests = [chain.digest(body) for body in bodies]
        write = self._plan(
            run_id, None, chain.GENESIS, events, bodies, digests, [ts for ts, _ in rows]
        )
        check_head(run_id, write.head.hex(), expect_head)
        async with self._connection() as conn:
            if not await self._write(conn, write, None):
                check_import(run_id, True, rows)
        return write.head.hex()

    async def delete_runs(self, namespace: str, older_than: float) -> int:
        async with self._connection() as conn:
            return await postgres_audit.delete_runs(conn, namespace, older_than)

    async def erase(self, run_id: str, *, reason: str, by: str = "") -> bool:
        async with self._connection() as conn:
            return await postgres_audit.erase(conn, run_id, reason, by)

    # -- leases (workers) ----------------------------------------------------------------------

    async def claim(
        self,
        owner: str,
        *,
        lease_seconds: float,
        limit: int = 1,
        namespace: str | None = None,
    ) -> list[Lease]:
        async with self._connection() as conn:
            return await postgres_leases.claim(conn, owner, lease_seconds, limit, namespace)

    async def renew(self, lease: Lease, *, lease_seconds: float) -> Lease:
        async with self._connection() as conn:
            return await postgres_leases.renew(conn, lease, lease_seconds)

    async def create_leased(
        self, run_id: str, events: Sequence[Event], *, owner: str, lease_seconds: float
    ) -> Lease:
        bodies = [self._encode(run_id, event) for event in events]
        digests = [chain.digest(body) for body in bodies]
        deadline = time.monotonic() + lease_seconds
        check_append(run_id, None, events, 0)
        write = self._plan(run_id, None, chain.GENESIS, events, bodies, digests)
        async with self._connection() as conn, conn.transaction():
            if not await self._write(conn, write, None, notify=False):
                cur = await conn.execute(q.LAST_SEQ, (run_id,))  # it exists already
                actual = await cur.fetchone()
                raise ConcurrencyError(run_id, 0, 0 if actual is None else int(actual[0]))
            lease = await postgres_leases.lease_new(conn, run_id, owner, lease_seconds, deadline)
        self._remember(run_id, write)
        self.commits += 1
        return lease

    async def acquire(
        self, run_id: str, owner: str, *, lease_seconds: float, take_from: str | None = None
    ) -> Lease:
        async with self._connection() as conn:
            return await postgres_leases.acquire(conn, run_id, owner, lease_seconds, take_from)

    async def release(self, lease: Lease) -> None:
        async with self._connection() as conn:
            await postgres_leases.release(conn, lease, self.schema)

    async def take_rate(
        self,
        key: str,
        *,
        requests: float,
        tokens: float,
        requests_per_minute: float | None,
        tokens_per_minute: float | None,
        force: bool = False,
    ) -> float:
        args = rates.RateArgs(
            requests=requests, tokens=tokens, requests_per_minute=requests_per_minute,
            tokens_per_minute=tokens_per_minute,
        )  # fmt: skip
        async with self._connection() as conn:
            return await postgres_leases.take_rate(conn, key, args, force)

    async def wait_runnable(self, timeout: float) -> bool:  # noqa: ASYNC109 (a poll interval)
        """Wait up to ``timeout`` seconds for a run of this store's schema to become runnable
        (``NOTIFY podium_runnable``, sent by an append that leaves a run pending or suspended
        with a wake time, and by a release); True if one may have. A hint, not a claim: call
        :meth:`claim` after either answer, and poll anyway (a notification can be lost with
        its connection). The first call starts listening, on a connection of its own outside
        the pool; a notification sent before that is not seen. One waiter at a time."""
        await self._get_pool()
        if self._listener is None:
            self._listener = postgres_leases.Listener(self._conninfo, self.schema)
        with self._errors("cannot listen to"):
            return await self._listener.wait(timeout)


def _raw(value: object) -> object:
    """A bytea column as bytes (psycopg may hand back a memoryview)."""
    return bytes(value) if isinstance(value, memoryview) else value


def _verifier(run_id: str, rows: list[TupleRow], after_seq: int) -> chain.Verifier:
    """A verifier for a read after ``after_seq``, whose rows start with that row (popped
    here: it gives the hash the next row links to)."""
    check = chain.Verifier(run_id)
    if after_seq > 0:
        before = rows.pop(0) if rows and rows[0][3] == after_seq else None
        prev = _raw(before[8]) if before is not None else None
        check.prev = prev if isinstance(prev, bytes) else b"(missing)"  # matches nothing
    return check
