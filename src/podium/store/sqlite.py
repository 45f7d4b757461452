"""The embedded default store: one SQLite file in WAL mode.

Each :meth:`SQLiteStore.append` is one transaction (``BEGIN IMMEDIATE``), so a crash of the
process (``kill -9``) never loses an acknowledged append and never leaves half of one. With
``durability="normal"`` (the default) the WAL is not fsynced on every commit: that survives
process crashes but an OS crash or power loss may drop the last commits; ``"full"`` survives
those too at the cost of an fsync per commit.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread

from podium.errors import CorruptJournalError, MigrationError, RunNotFound, StoreError
from podium.events import SCHEMA_VERSION, Event, decode
from podium.store import chain, rates, sqlite_audit, sqlite_holds, sqlite_leases, sqlite_open
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
    fold_rows,
    new_record,
)
from podium.store.sqlite_audit import Found
from podium.store.sqlite_control import SQLiteControl
from podium.store.sqlite_environments import SQLiteEnvironments
from podium.store.sqlite_open import BUSY_MS as _BUSY_MS
from podium.store.sqlite_open import Durability
from podium.types import RunStatus

T = TypeVar("T")
_BUSY_RETRY_SECONDS = 300.0  # past the busy timeout, a locked database is retried this long
_INLINE_ROWS = 500  # reads of at most this many rows may run on the event loop
MIGRATIONS = (
    "sqlite_0001_init.sql",
    "sqlite_0002_spend.sql",
    "sqlite_0003_audit.sql",
    "sqlite_0004_leases.sql",
    "sqlite_0005_rates.sql",
    "sqlite_0006_control.sql",
    "sqlite_0007_holds.sql",
    "sqlite_0008_runs_page.sql",
    "sqlite_0009_environments.sql",
)
# Python steps run in a migration's transaction, after its SQL.
_AFTER: dict[str, Callable[[sqlite3.Connection], None]] = {
    "sqlite_0003_audit.sql": sqlite_audit.chain_existing
}
_COLUMNS = (
    "run_id, workflow, namespace, status, created_at, updated_at, last_seq, parent_run_id, "
    "tags, wake_at, error, tokens, cost_usd"
)
_INSERT_EVENT = (
    "INSERT INTO events (run_id, seq, ts, type, v, body, digest, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class SQLiteStore(SQLiteControl, SQLiteEnvironments, Store):
    def __init__(
        self,
        path: str | Path,
        *,
        durability: Durability = "normal",
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        read_only: bool = False,
    ) -> None:
        """Open (creating and migrating) the store at ``path``. With ``read_only`` an existing,
        migrated file is opened ``mode=ro`` and nothing is written to it (see
        :mod:`podium.store.sqlite_open`). A file that cannot serve raises :class:`StoreError`."""
        self.path = Path(path)
        self._max_event_bytes = max_event_bytes
        self._lock = threading.Lock()
        self._busy_ms = _BUSY_MS  # the connection's busy timeout now (sqlite_open sets it)
        self._limiter = anyio.CapacityLimiter(1)
        self._conn = sqlite_open.connect(
            str(path), durability=durability, read_only=read_only, migrate=migrate,
            latest=len(MIGRATIONS),
        )  # fmt: skip
        self._inline = durability == "normal"  # with an fsync per commit, never on the loop
        self.commits = 0

    # -- contract ---------------------------------------------------------------------------

    async def append(
        self,
        run_id: str,
        events: Sequence[Event],
        *,
        expected_seq: int,
        lease: Lease | None = None,
    ) -> int:
        bodies = [encode_checked(run_id, e, self._max_event_bytes) for e in events]
        digests = [chain.digest(body) for body in bodies]

        def append() -> int:
            return self._append(run_id, events, bodies, digests, expected_seq, lease)

        if self._inline:
            done = self._try_inline(append)
            if done is not None:
                return done
        return await self._run(append)

    async def read(
        self, run_id: str, *, after_seq: int = 0, verify: bool = False
    ) -> list[StoredEvent]:
        after = max(0, after_seq)
        if self._inline:  # a few events: read on the loop (see _query)
            done = self._try_inline(lambda: self._read_if_small(run_id, after, verify))
            if done is not None and done[0] is not None:
                return done[0]
        return await self._run(lambda: self._read(run_id, after, verify))

    async def get_run(self, run_id: str) -> RunRecord:
        return await self._query(lambda: self._get(run_id))

    async def list_runs(self, query: RunFilter | None = None) -> list[RunRecord]:
        q = query or RunFilter()
        if q.limit <= _INLINE_ROWS:
            return await self._query(lambda: self._list(q))
        return await self._run(lambda: self._list(q))

    async def now(self) -> float:
        return await self._run(self._now)

    async def spend(self, namespace: str) -> tuple[int, float]:
        return await self._run(lambda: sqlite_audit.spend(self._conn, namespace))

    async def hold_spend(
        self,
        hold: SpendHold,
        *,
        max_tokens: int | None,
        max_cost_usd: float | None,
        seconds: float,
    ) -> SpendCheck:
        return await self._run(
            lambda: sqlite_holds.hold(self._conn, hold, max_tokens, max_cost_usd, seconds)
        )

    async def release_spend(self, *hold_ids: str, run_id: str | None = None) -> int:
        return await self._run(lambda: sqlite_holds.release(self._conn, hold_ids, run_id))

    async def held_spend(self, namespace: str) -> tuple[int, float]:
        return await self._run(lambda: sqlite_holds.held(self._conn, namespace))

    async def audit_trail(self, run_id: str) -> AuditTrail:
        return await self._run(lambda: sqlite_audit.trail(self._conn, run_id))

    async def import_run(
        self, run_id: str, rows: Sequence[tuple[float, Event]], *, expect_head: str | None = None
    ) -> str:
        bodies = [encode_checked(run_id, event, self._max_event_bytes) for _, event in rows]
        return await self._run(lambda: self._import(run_id, rows, bodies, expect_head))

    async def delete_runs(self, namespace: str, older_than: float) -> int:
        return await self._run(lambda: sqlite_audit.delete_runs(self._conn, namespace, older_than))

    async def erase(self, run_id: str, *, reason: str, by: str = "") -> bool:
        return await self._run(lambda: sqlite_audit.erase(self._conn, run_id, reason, by))

    # -- leases (workers): each one BEGIN IMMEDIATE transaction in a worker thread ------------

    async def claim(
        self,
        owner: str,
        *,
        lease_seconds: float,
        limit: int = 1,
        namespace: str | None = None,
    ) -> list[Lease]:
        deadline = time.monotonic() + lease_seconds
        leases = await self._run(
            lambda: sqlite_leases.claim(self._conn, owner, lease_seconds, limit, namespace)
        )
        return [replace(lease, deadline=deadline) for lease in leases]

    async def renew(self, lease: Lease, *, lease_seconds: float) -> Lease:
        deadline = time.monotonic() + lease_seconds
        renewed = await self._run(lambda: sqlite_leases.renew(self._conn, lease, lease_seconds))
        return replace(renewed, deadline=deadline)

    async def create_leased(
        self, run_id: str, events: Sequence[Event], *, owner: str, lease_seconds: float
    ) -> Lease:
        bodies = [encode_checked(run_id, e, self._max_event_bytes) for e in events]
        digests = [chain.digest(body) for body in bodies]
        deadline = time.monotonic() + lease_seconds
        leases: list[Lease] = []

        def create() -> int:
            claim = sqlite_leases.NewLease(owner, lease_seconds, leases)
            return self._append(run_id, events, bodies, digests, 0, claim=claim)

        if not self._inline or self._try_inline(create) is None:
            await self._run(create)
        return replace(leases[-1], deadline=deadline)

    async def acquire(
        self, run_id: str, owner: str, *, lease_seconds: float, take_from: str | None = None
    ) -> Lease:
        deadline = time.monotonic() + lease_seconds
        lease = await self._run(
            lambda: sqlite_leases.acquire(self._conn, run_id, owner, lease_seconds, take_from)
        )
        return replace(lease, deadline=deadline)

    async def release(self, lease: Lease) -> None:
        await self._run(lambda: sqlite_leases.release(self._conn, lease))

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
        return await self._run(lambda: sqlite_leases.take_rate(self._conn, key, args, force))

    async def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- implementation (runs in a worker thread, under the connection lock) ------------------

    async def _query(self, fn: Callable[[], T]) -> T:
        """A small read (one index row, a page of runs) on the event loop when the connection
        is free, like an append (see :meth:`_try_inline`): a WAL read takes no lock a writer
        holds and lasts microseconds, less than a hop to a worker thread. Else in a thread."""
        if self._inline:
            done = self._try_inline(lambda: (fn(),))  # a 1-tuple: None is a result too
            if done is not None:
                return done[0]
        return await self._run(fn)

    def _read_if_small(
        self, run_id: str, after: int, verify: bool
    ) -> tuple[list[StoredEvent] | None]:
        found = self._find(run_id)
        if found is None or found.record.last_seq - after > _INLINE_ROWS:
            return (None,)  # unknown (the thread path raises) or large: not on the loop
        return (self._read(run_id, after, verify),)

    def _try_inline(self, fn: Callable[[], T]) -> T | None:
        """Append on the calling (event loop) thread when that cannot block: the connection is
        free and so is the database's write lock (busy timeout 0). Without an fsync a commit
        takes tens of microseconds, less than a hop to a worker thread — which, while the loop
        is busy, waits for the GIL for up to the 5 ms switch interval. None: use a thread."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            self._busy_timeout(0)  # left at 0: the thread path sets its own (no pair per call)
            try:
                return fn()
            except sqlite3.OperationalError as error:
                if _busy(error):
                    return None  # another process is writing: wait for it in a thread
                raise sqlite_open.describe(str(self.path), error) from None
            except sqlite3.DatabaseError as error:
                raise sqlite_open.describe(str(self.path), error) from None
        finally:
            self._lock.release()

    def _busy_timeout(self, ms: int) -> None:
        """Under the connection lock: make the connection wait ``ms`` for another process's
        write lock (0 on the event loop, ``_BUSY_MS`` in a worker thread)."""
        if self._busy_ms != ms:
            self._conn.execute(f"PRAGMA busy_timeout={ms}")
            self._busy_ms = ms

    async def _run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (one whole transaction) in a worker thread. Another process holding the
        write lock is waited for (busy timeout 30 s), and past that retried, so several
        processes sharing a file never see "database is locked"."""

        def locked() -> T:
            deadline = time.monotonic() + _BUSY_RETRY_SECONDS
            pause = 0.01
            while True:
                try:
                    with self._lock:
                        self._busy_timeout(_BUSY_MS)
                        return fn()
                except sqlite3.OperationalError as error:
                    if not _busy(error) or time.monotonic() > deadline:
                        raise sqlite_open.describe(str(self.path), error) from None
                except sqlite3.DatabaseError as error:
                    raise sqlite_open.describe(str(self.path), error) from None
                time.sleep(pause)
                pause = min(pause * 2, 1.0)

        return await anyio.to_thread.run_sync(locked, limiter=self._limiter)

    def _append(
        self,
        run_id: str,
        events: Sequence[Event],
        bodies: list[str],
        digests: list[bytes],
        expected_seq: int,
        lease: Lease | None = None,
        *,
        claim: sqlite_leases.NewLease | None = None,
    ) -> int:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if lease is not None:  # fenced: in this transaction, before anything is checked
                sqlite_leases.check_fence(conn, run_id, lease)
            found = self._find(run_id)
            record, head = (found.record, found.head) if found else (None, chain.GENESIS)
            check_append(run_id, record, events, expected_seq)
            ts = time.time()
            if record is None:
                record = new_record(run_id, events[0], ts)
                self._insert_record(record)
            rows = []
            for seq, event, body, digest in zip(
                range(record.last_seq + 1, record.last_seq + 1 + len(events)),
                events, bodies, digests, strict=True,
            ):  # fmt: skip
                head = chain.link(head, run_id, seq, ts, event.type, digest)
                rows.append((run_id, seq, ts, event.type, SCHEMA_VERSION, body, digest, head))
            conn.executemany(_INSERT_EVENT, rows)
            record = fold(record, events, ts)
            self._update_record(record, head)
            if claim is not None:  # created already leased (Store.create_leased)
                claim.take(conn, run_id, ts)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self.commits += 1
        return record.last_seq

    def _import(
        self,
        run_id: str,
        rows: Sequence[tuple[float, Event]],
        bodies: list[str],
        expect_head: str | None,
    ) -> str:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            check_import(run_id, self._find(run_id) is not None, rows)
            record = fold_rows(run_id, rows)
            head, stored = chain.GENESIS, []
            for seq, ((ts, event), body) in enumerate(zip(rows, bodies, strict=True), 1):
                digest = chain.digest(body)
                head = chain.link(head, run_id, seq, ts, event.type, digest)
                stored.append((run_id, seq, ts, event.type, SCHEMA_VERSION, body, digest, head))
            check_head(run_id, head.hex(), expect_head)
            self._insert_record(record)
            conn.executemany(_INSERT_EVENT, stored)
            self._update_record(record, head)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return head.hex()

    def _insert_record(self, r: RunRecord) -> None:
        self._conn.execute(
            f"INSERT INTO runs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.run_id, r.workflow, r.namespace, r.status.value, r.created_at, r.updated_at,
                r.last_seq, r.parent_run_id, json.dumps(list(r.tags)), r.wake_at, r.error,
                r.tokens, r.cost_usd,
            ),
        )  # fmt: skip

    def _update_record(self, r: RunRecord, head: bytes) -> None:
        self._conn.execute(
            "UPDATE runs SET status=?, updated_at=?, last_seq=?, wake_at=?, error=?, "
            "tokens=?, cost_usd=?, head=? WHERE run_id=?",
            (
                r.status.value, r.updated_at, r.last_seq, r.wake_at, r.error, r.tokens,
                r.cost_usd, head, r.run_id,
            ),
        )  # fmt: skip

    def _read(self, run_id: str, after_seq: int, verify: bool) -> list[StoredEvent]:
        # verifying from a later row: read the row before too, for the hash it links to
        start = after_seq - 1 if verify and after_seq > 0 else after_seq
        with sqlite_audit.snapshot(self._conn):  # the rows and the index row agree
            found = self._find(run_id)
            rows = self._conn.execute(
                "SELECT seq, ts, v, body, digest, hash FROM events WHERE run_id=? AND seq>? "
                "ORDER BY seq",
                (run_id, start),
            ).fetchall()
        if found is None:
            raise RunNotFound(run_id)
        if found.erasure is not None:
            raise RunErasedError(run_id, found.erasure)
        check = chain.Verifier(run_id) if verify else None
        if check is not None and start < after_seq:
            before = rows.pop(0) if rows and rows[0][0] == after_seq else None
            prev = before[5] if before is not None else None
            check.prev = prev if isinstance(prev, bytes) else b"(unreadable)"  # matches nothing
        out: list[StoredEvent] = []
        for expected, (seq, ts, version, body, digest, hash_) in enumerate(rows, after_seq + 1):
            if seq != expected:
                raise CorruptJournalError(run_id, expected, "sequence gap (row missing)")
            try:
                event = decode(body, version)
            except (ValueError, TypeError) as error:
                raise CorruptJournalError(run_id, seq, str(error)) from None
            if check is not None:
                check.row(seq, ts, event.type, body, digest, hash_)
            out.append(
                StoredEvent(
                    run_id=run_id, seq=seq, ts=ts, event=event,
                    digest=sqlite_audit.hex_of(digest), hash=sqlite_audit.hex_of(hash_),
                )
            )  # fmt: skip
        last = out[-1].seq if out else after_seq
        if last < found.record.last_seq:
            raise CorruptJournalError(run_id, last + 1, "row missing (the index has more events)")
        if check is not None and out:
            check.end(found.head, last)
        return out

    def _now(self) -> float:
        # SQLite's clock (the OS clock of this machine, which every process sharing the file
        # shares), to the millisecond
        (now,) = self._conn.execute("SELECT (julianday('now') - 2440587.5) * 86400.0").fetchone()
        return float(now)

    def _get(self, run_id: str) -> RunRecord:
        found = self._find(run_id)
        if found is None:
            raise RunNotFound(run_id)
        return found.record

    def _find(self, run_id: str) -> Found | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS}, head, erasure FROM runs WHERE run_id=?", (run_id,)
        ).fetchone()
        if row is None:
            return None
        if not isinstance(row[13], bytes):
            raise StoreError(f"run {run_id}: the index's head hash is unreadable: {row[13]!r}")
        return Found(_record(row), row[13], sqlite_audit.erasure_of(row[14]))

    def _list(self, q: RunFilter) -> list[RunRecord]:
        where: list[str] = []
        args: list[object] = []
        if q.statuses:
            where.append(f"status IN ({', '.join('?' * len(q.statuses))})")
            args.extend(s.value for s in q.statuses)
        for column, op, value in (
            ("workflow", "=", q.workflow),
            ("namespace", "=", q.namespace),
            ("created_at", ">=", q.created_after),
            ("created_at", "<", q.created_before),
        ):
            if value is not None:
                where.append(f"{column} {op} ?")
                args.append(value)
        if q.before is not None:
            where.append("(created_at, run_id) < (?, ?)")  # a row value: an index range
            args.extend(q.before)
        if q.tag is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE value = ?)")
            args.append(q.tag)
        sql = f"SELECT {_COLUMNS} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, run_id DESC LIMIT ?"
        args.append(q.limit)
        return [_record(row) for row in self._conn.execute(sql, args).fetchall()]


def _busy(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def _record(row: tuple[object, ...]) -> RunRecord:
    run_id, workflow, namespace, status, created, updated, last_seq, parent, tags, wake, err = row[
        :11
    ]
    tokens, cost = row[11:13]
    try:
        return RunRecord(
            run_id=str(run_id),
            workflow=str(workflow),
            namespace=str(namespace),
            status=RunStatus(str(status)),
            created_at=float(created),  # type: ignore[arg-type]
            updated_at=float(updated),  # type: ignore[arg-type]
            last_seq=int(last_seq),  # type: ignore[call-overload]
            parent_run_id=None if parent is None else str(parent),
            tags=tuple(json.loads(str(tags))),
            wake_at=None if wake is None else float(wake),  # type: ignore[arg-type]
            error=None if err is None else str(err),
            tokens=int(tokens),  # type: ignore[call-overload]
            cost_usd=float(cost),  # type: ignore[arg-type]
        )
    except (ValueError, TypeError) as error:
        raise StoreError(f"run {run_id}: index row is unreadable: {error}") from None


def migrate(conn: sqlite3.Connection) -> int:
    """Apply numbered migrations in order; refuse a database newer than this code."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, applied_at REAL)"
    )
    (current,) = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    if current > len(MIGRATIONS):
        raise MigrationError(
            f"database schema v{current} is newer than this Podium (knows v{len(MIGRATIONS)})"
        )
    folder = resources.files("podium.store.migrations")
    for version, name in enumerate(MIGRATIONS, 1):
        if version <= current:
            continue
        script = folder.joinpath(name).read_text()
        conn.execute("BEGIN IMMEDIATE")
        try:
            (again,) = conn.execute(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
            ).fetchone()
            if again < version:  # another process may have migrated meanwhile
                for statement in _statements(script):
                    conn.execute(statement)
                if name in _AFTER:
                    _AFTER[name](conn)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
