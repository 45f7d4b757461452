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
from podium.store.base import DEFAULT_MAX_EVENT_BYTES, RunFilter, RunRecord, Store, StoredEvent
from podium.store.index import check_append, encode_checked, fold, matches, new_record


@dataclass(slots=True)
class _Row:
    seq: int
    ts: float
    version: int
    body: str


@dataclass(slots=True)
class _Run:
    record: RunRecord
    rows: list[_Row] = field(default_factory=list)


class MemoryStore(Store):
    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._runs: dict[str, _Run] = {}
        self._max_event_bytes = max_event_bytes
        self.commits = 0  # number of append transactions, for tests and benchmarks

    async def append(self, run_id: str, events: Sequence[Event], *, expected_seq: int) -> int:
        await anyio.lowlevel.checkpoint()
        run = self._runs.get(run_id)
        check_append(run_id, run.record if run else None, events, expected_seq)
        bodies = [encode_checked(run_id, event, self._max_event_bytes) for event in events]
        ts = time.time()
        if run is None:
            run = _Run(record=new_record(run_id, events[0], ts))
        start = run.record.last_seq
        run.rows.extend(
            _Row(seq=start + i, ts=ts, version=SCHEMA_VERSION, body=b)
            for i, b in enumerate(bodies, 1)
        )
        run.record = fold(run.record, events, ts)
        self._runs[run_id] = run
        self.commits += 1
        return run.record.last_seq

    async def read(self, run_id: str, *, after_seq: int = 0) -> list[StoredEvent]:
        out = []
        for row in self._get(run_id).rows[max(0, after_seq) :]:
            try:
                event = decode(row.body, row.version)
            except ValueError as error:
                raise CorruptJournalError(run_id, row.seq, str(error)) from None
            out.append(StoredEvent(run_id=run_id, seq=row.seq, ts=row.ts, event=event))
        return out

    async def get_run(self, run_id: str) -> RunRecord:
        return self._get(run_id).record

    async def list_runs(self, query: RunFilter | None = None) -> list[RunRecord]:
        query = query or RunFilter()
        found = [r.record for r in self._runs.values() if matches(r.record, query)]
        found.sort(key=lambda r: (r.created_at, r.run_id), reverse=True)
        return found[: query.limit]

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
