"""An in-memory store for tests and throwaway runs.

Events are stored encoded and decoded on read, exactly like the SQL backends, so a payload
that is not JSON or a corrupt row fails here the same way."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import anyio

from podium.errors import CorruptJournalError, LeaseLost, RunNotFound, StoreError
from podium.events import SCHEMA_VERSION, Event, decode
from podium.store import chain, holds, rates
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
from podium.store.chain import GENESIS
from podium.store.holds import SpendCheck, SpendHold
from podium.store.index import (
    check_acquire,
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
from podium.types import RunStatus


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
class _Claim:
    """A run's lease columns: who holds it, its epoch, until when, and how many claims."""

    owner: str | None = None  # None: not held (never claimed, or released)
    epoch: int = 0
    expires_at: float | None = None  # None: never claimed
    attempts: int = 0  # claims since the last release


@dataclass(slots=True)
class _Run:
    record: RunRecord
    rows: list[_Row] = field(default_factory=list)
    head: bytes = chain.GENESIS
    erasure: Erasure | None = None
    claim: _Claim = field(default_factory=_Claim)

    def add(self, run_id: str, ts: float, events: Sequence[Event], bodies: list[str]) -> None:
        for event, body in zip(events, bodies, strict=True):
            seq = len(self.rows) + 1
            digest = chain.digest(body)
            self.head = chain.link(self.head, run_id, seq, ts, event.type, digest)
            self.rows.append(_Row(seq, ts, SCHEMA_VERSION, event.type, body, digest, self.head))


class MemoryStore(Store):
    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._runs: dict[str, _Run] = {}
        self._buckets: dict[str, rates.Bucket] = {}
        self._retired: dict[str, tuple[int, float]] = {}  # spend of deleted runs
        self._holds: dict[str, tuple[SpendHold, float]] = {}  # hold id -> (hold, expires_at)
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
        # no await at all: an append is atomic, like a transaction, and costs no loop pass
        # (the journal relies on it: it writes here without a cancel shield)
        run = self._runs.get(run_id)
        if lease is not None:
            _check_fence(run_id, run.claim if run else None, lease)
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

    async def read(
        self, run_id: str, *, after_seq: int = 0, verify: bool = False
    ) -> list[StoredEvent]:
        run = self._get(run_id)
        if run.erasure is not None:
            raise RunErasedError(run_id, run.erasure)
        after_seq = max(0, after_seq)
        check = None
        if verify:
            prev = run.rows[after_seq - 1].hash if 0 < after_seq <= len(run.rows) else GENESIS
            check = chain.Verifier(run_id, prev)
        out = []
        for row in run.rows[after_seq:]:
            try:
                event = decode(row.body, row.version)
            except ValueError as error:
                raise CorruptJournalError(run_id, row.seq, str(error)) from None
            if check is not None:
                check.row(row.seq, row.ts, event.type, row.body, row.digest, row.hash)
            out.append(
                StoredEvent(
                    run_id=run_id, seq=row.seq, ts=row.ts, event=event,
                    digest=row.digest.hex(), hash=row.hash.hex(),
                )
            )  # fmt: skip
        if check is not None and after_seq < len(run.rows):
            check.end(run.head, run.record.last_seq)
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

    # -- namespace budgets: spend holds -------------------------------------------------------

    async def hold_spend(
        self,
        hold: SpendHold,
        *,
        max_tokens: int | None,
        max_cost_usd: float | None,
        seconds: float,
    ) -> SpendCheck:
        await anyio.lowlevel.checkpoint()
        # from here on no await: the check and the insert are one atomic step
        if hold.hold_id in self._holds:
            raise StoreError(f"spend hold {hold.hold_id!r} exists already")
        now = time.time()
        runs = [r.record for r in self._runs.values() if r.record.namespace == hold.namespace]
        retired = self._retired.get(hold.namespace, (0, 0.0))
        spent = (
            sum(r.tokens for r in runs) + retired[0],
            sum(r.cost_usd for r in runs) + retired[1],
        )
        check = holds.decide(
            hold, spent=spent, held=self._held(hold.namespace, now),
            max_tokens=max_tokens, max_cost_usd=max_cost_usd,
        )  # fmt: skip
        if check.granted:
            self._holds[hold.hold_id] = (hold, now + seconds)
        return check

    async def release_spend(self, *hold_ids: str, run_id: str | None = None) -> int:
        doomed = [
            key
            for key, (hold, _) in self._holds.items()
            if key in hold_ids or (run_id is not None and hold.run_id == run_id)
        ]
        for key in doomed:
            del self._holds[key]
        return len(doomed)

    async def held_spend(self, namespace: str) -> tuple[int, float]:
        return self._held(namespace, time.time())

    def _held(self, namespace: str, now: float) -> tuple[int, float]:
        live = [
            hold
            for hold, expires_at in self._holds.values()
            if hold.namespace == namespace and expires_at > now and not self._finished(hold)
        ]
        return sum(h.tokens for h in live), sum(h.cost_usd for h in live)

    def _finished(self, hold: SpendHold) -> bool:
        run = self._runs.get(hold.run_id)
        return run is not None and run.record.status.terminal

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

    # -- leases (workers) ----------------------------------------------------------------------

    async def claim(
        self,
        owner: str,
        *,
        lease_seconds: float,
        limit: int = 1,
        namespace: str | None = None,
    ) -> list[Lease]:
        await anyio.lowlevel.checkpoint()
        now, deadline = time.time(), time.monotonic() + lease_seconds
        found = [
            run
            for run in self._runs.values()
            if (namespace is None or run.record.namespace == namespace)
            and claimable(run.record, run.claim.owner, run.claim.expires_at, owner, now)
        ]
        found.sort(key=lambda run: (run.record.created_at, run.record.run_id))
        leases = []
        for run in found[: max(0, limit)]:
            claim = run.claim
            claim.owner, claim.epoch = owner, claim.epoch + 1
            claim.expires_at, claim.attempts = now + lease_seconds, claim.attempts + 1
            leases.append(
                Lease(
                    run_id=run.record.run_id, owner=owner, epoch=claim.epoch,
                    expires_at=claim.expires_at, attempts=claim.attempts, deadline=deadline,
                )
            )  # fmt: skip
        return leases

    async def renew(self, lease: Lease, *, lease_seconds: float) -> Lease:
        deadline = time.monotonic() + lease_seconds
        await anyio.lowlevel.checkpoint()
        run = self._runs.get(lease.run_id)
        claim = run.claim if run else None
        _check_fence(lease.run_id, claim, lease)
        assert claim is not None
        claim.expires_at = time.time() + lease_seconds
        return replace(
            lease, expires_at=claim.expires_at, attempts=claim.attempts, deadline=deadline
        )

    async def create_leased(
        self, run_id: str, events: Sequence[Event], *, owner: str, lease_seconds: float
    ) -> Lease:
        deadline = time.monotonic() + lease_seconds
        await self.append(run_id, events, expected_seq=0)  # no await inside: atomic
        claim = self._runs[run_id].claim
        claim.owner, claim.epoch, claim.attempts = owner, 1, 1
        claim.expires_at = time.time() + lease_seconds
        return Lease(
            run_id=run_id, owner=owner, epoch=1, expires_at=claim.expires_at, deadline=deadline
        )

    async def acquire(
        self, run_id: str, owner: str, *, lease_seconds: float, take_from: str | None = None
    ) -> Lease:
        deadline = time.monotonic() + lease_seconds
        await anyio.lowlevel.checkpoint()
        run = self._get(run_id)
        claim, now = run.claim, time.time()
        check_acquire(
            run_id, run.record.status, claim.owner, claim.expires_at, owner, now, take_from
        )
        claim.owner, claim.epoch, claim.attempts = owner, claim.epoch + 1, claim.attempts + 1
        claim.expires_at = now + lease_seconds
        return Lease(
            run_id=run_id, owner=owner, epoch=claim.epoch, expires_at=claim.expires_at,
            attempts=claim.attempts, deadline=deadline,
        )  # fmt: skip

    async def release(self, lease: Lease) -> None:
        await anyio.lowlevel.checkpoint()
        run = self._runs.get(lease.run_id)
        if run is not None and _holds(run.claim, lease):
            run.claim.owner, run.claim.expires_at, run.claim.attempts = None, time.time(), 0

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
        await anyio.lowlevel.checkpoint()
        self._buckets[key], wait = rates.take(
            self._buckets.get(key), time.time(), requests=requests, tokens=tokens,
            requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute,
            force=force,
        )  # fmt: skip
        return wait

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


def claimable(
    record: RunRecord, holder: str | None, expires_at: float | None, owner: str, now: float
) -> bool:
    """Whether ``owner`` may claim a run now (the in-memory form of the SQL backends' query).

    Runnable: ``pending``; ``suspended`` with a due ``wake_at``; ``running`` with an expired
    lease (a run that never had a lease is being executed by something else: not ours). And
    not under another owner's unexpired lease."""
    expired = expires_at is not None and expires_at <= now
    match record.status:
        case RunStatus.PENDING:
            runnable = True
        case RunStatus.SUSPENDED:
            runnable = record.wake_at is not None and record.wake_at <= now
        case RunStatus.RUNNING:
            runnable = expired
        case _:
            runnable = False
    return runnable and (holder is None or holder == owner or expired)


def _holds(claim: _Claim, lease: Lease) -> bool:
    return claim.owner is not None and (claim.owner, claim.epoch) == (lease.owner, lease.epoch)


def _check_fence(run_id: str, claim: _Claim | None, lease: Lease) -> None:
    if claim is None or lease.run_id != run_id or not _holds(claim, lease):
        now = "not claimed" if claim is None or claim.owner is None else f"at epoch {claim.epoch}"
        raise LeaseLost(run_id, f"epoch {lease.epoch} of {lease.owner}; the run is {now}")
