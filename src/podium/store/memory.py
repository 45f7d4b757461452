"""An in-memory store for tests and throwaway runs.

Events are stored encoded and decoded on read, exactly like the SQL backends, so a payload
that is not JSON or a corrupt row fails here the same way."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio

from podium.errors import CorruptJournalError, RunNotFound
from podium.events import SCHEMA_VERSION, Event, decode
from podium.store import chain
from podium.store.base import (
    DEFAULT_MAX_EVENT_BYTES,
    AuditRow,
    AuditTrail,
    Erasure,
    Lease,
    RunErasedError,
    RunFilter,
    RunRecord,
    Store,
    StoredEvent,
)
from podium.store.index import (
    check_append,
    check_erase,
    check_head,
    check_import,
    encode_checked,
    fold,
    fold_rows,
    matches,
    new_record,
)


@dataclass(slots=True)
class _Row:
    seq: int
    ts: float
    version: int
    type: str
    body: str
    digest: bytes
    hash: bytes


@dataclass(slots=True)
class _Run:
    record: RunRecord
    rows: list[_Row] = field(default_factory=list)
    head: bytes = chain.GENESIS
    erasure: Erasure | None = None

    def add(self, run_id: str, ts: float, events: Sequence[Event], bodies: list[str]) -> None:
        for event, body in zip(events, bodies, strict=True):
            seq = len(self.rows) + 1
            digest = chain.digest(body)
            self.head = chain.link(self.head, run_id, seq, ts, event.type, digest)
            self.rows.append(_Row(seq, ts, SCHEMA_VERSION, event.type, body, digest, self.head))


class MemoryStore(Store):
    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._runs: dict[str, _Run] = {}
        self._retired: dict[str, tuple[int, float]] = {}  # spend of deleted runs
        self._max_event_bytes = max_event_bytes
        self.commits = 0  # number of append transactions, for tests and benchmarks

    async def append(
        self,
        run_id: str,
        events: Sequence[Event],
        *,
        expected_seq: int,
        lease: Lease | None = None,
    ) -> int:
        if lease is not None:
            raise NotImplementedError(f"{type(self).__name__} does not support fenced writes yet")
        await anyio.lowlevel.checkpoint()
        run = self._runs.get(run_id)
        check_append(run_id, run.record if run else None, events, expected_seq)
        bodies = [encode_checked(run_id, event, self._max_event_bytes) for event in events]
        ts = time.time()
        if run is None:
            run = _Run(record=new_record(run_id, events[0], ts))
        run.add(run_id, ts, events, bodies)
        run.record = fold(run.record, events, ts)
        self._runs[run_id] = run
        self.commits += 1
        return run.record.last_seq

    async def read(self, run_id: str, *, after_seq: int = 0) -> list[StoredEvent]:
        run = self._get(run_id)
        if run.erasure is not None:
            raise RunErasedError(run_id, run.erasure)
        out = []
        for row in run.rows[max(0, after_seq) :]:
            try:
                event = decode(row.body, row.version)
            except ValueError as error:
                raise CorruptJournalError(run_id, row.seq, str(error)) from None
            out.append(
                StoredEvent(
                    run_id=run_id, seq=row.seq, ts=row.ts, event=event,
                    digest=row.digest.hex(), hash=row.hash.hex(),
                )
            )  # fmt: skip
        return out

    async def get_run(self, run_id: str) -> RunRecord:
        return self._get(run_id).record

    async def list_runs(self, query: RunFilter | None = None) -> list[RunRecord]:
        query = query or RunFilter()
        found = [r.record for r in self._runs.values() if matches(r.record, query)]
        found.sort(key=lambda r: (r.created_at, r.run_id), reverse=True)
        return found[: query.limit]

    async def spend(self, namespace: str) -> tuple[int, float]:
        tokens, cost = await super().spend(namespace)
        retired_tokens, retired_cost = self._retired.get(namespace, (0, 0.0))
        return tokens + retired_tokens, cost + retired_cost

    # -- audit and retention -------------------------------------------------------------------

    async def audit_trail(self, run_id: str) -> AuditTrail:
        await anyio.lowlevel.checkpoint()
        run = self._get(run_id)
        erased = run.erasure is not None
        rows = tuple(
            AuditRow(
                seq=r.seq, ts=r.ts, type=r.type, body=r.body, digest=r.digest.hex(),
                hash=r.hash.hex(), erased=erased,
            )
            for r in run.rows
        )  # fmt: skip
        return AuditTrail(
            run_id=run_id,
            last_seq=run.record.last_seq,
            head=run.head.hex(),
            rows=rows,
            erasure=run.erasure,
        )

    async def import_run(
        self, run_id: str, rows: Sequence[tuple[float, Event]], *, expect_head: str | None = None
    ) -> str:
        await anyio.lowlevel.checkpoint()
        check_import(run_id, run_id in self._runs, rows)
        run = _Run(record=fold_rows(run_id, rows))
        for ts, event in rows:
            run.add(run_id, ts, [event], [encode_checked(run_id, event, self._max_event_bytes)])
        check_head(run_id, run.head.hex(), expect_head)
        self._runs[run_id] = run
        return run.head.hex()

    async def delete_runs(self, namespace: str, older_than: float) -> int:
        await anyio.lowlevel.checkpoint()
        doomed = [
            run_id
            for run_id, run in self._runs.items()
            if run.record.namespace == namespace
            and run.record.status.terminal
            and run.record.updated_at < older_than
        ]
        tokens, cost = self._retired.get(namespace, (0, 0.0))
        for run_id in doomed:
            record = self._runs.pop(run_id).record
            tokens, cost = tokens + record.tokens, cost + record.cost_usd
        if doomed:
            self._retired[namespace] = (tokens, cost)
        return len(doomed)

    async def erase(self, run_id: str, *, reason: str, by: str = "") -> bool:
        await anyio.lowlevel.checkpoint()
        run = self._get(run_id)
        check_erase(run_id, run.record.status)
        if run.erasure is not None:
            return False
        for row in run.rows:
            row.body = chain.tombstone(row.type)
        run.erasure = Erasure(at=time.time(), by=by, reason=reason)
        return True

    async def close(self) -> None:
        await anyio.lowlevel.checkpoint()

    def corrupt(self, run_id: str, seq: int, body: str) -> None:
        """Overwrite a stored row (for corruption tests)."""
        self._get(run_id).rows[seq - 1].body = body

    def _get(self, run_id: str) -> _Run:
        run = self._runs.get(run_id)
        if run is None:
            raise RunNotFound(run_id)
        return run
