"""The store contract: an append-only journal per run plus a status index derived from it."""

from __future__ import annotations

import abc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from podium.errors import InvalidPayloadError, PayloadTooLargeError, RunStateError
from podium.events import Event, encode
from podium.store.control import ControlStore
from podium.store.environments import EnvironmentStore
from podium.store.holds import SpendCheck, SpendHold
from podium.types import RunStatus

DEFAULT_MAX_EVENT_BYTES = 8 * 1024 * 1024


def encode_checked(run_id: str, event: Event, limit: int) -> str:
    """The event's stored body, or the error an append of it raises (nothing written)."""
    try:
        body = encode(event)
    except ValueError as error:
        raise InvalidPayloadError(run_id, event.type, str(error)) from None
    if len(body) * 4 > limit:  # a character is at most 4 UTF-8 bytes: count only when needed
        size = len(body.encode())
        if size > limit:
            raise PayloadTooLargeError(run_id, event.type, size, limit)
    return body


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredEvent:
    run_id: str
    seq: int  # 1-based, gap-free per run
    ts: float  # store clock, seconds since the epoch
    event: Event
    digest: str = ""  # hex SHA-256 of the stored body ("" for events not read from a store)
    hash: str = ""  # hex audit-chain hash of this row (see podium.store.chain)


@dataclass(frozen=True, kw_only=True, slots=True)
class RunRecord:
    """One row of the status index. Every field is a fold over the run's events."""

    run_id: str
    workflow: str
    namespace: str
    status: RunStatus
    created_at: float
    updated_at: float
    last_seq: int
    parent_run_id: str | None = None
    tags: tuple[str, ...] = ()
    wake_at: float | None = None
    error: str | None = None
    tokens: int = 0  # model tokens spent (input + output)
    cost_usd: float = 0.0  # model cost journaled with each call


@dataclass(frozen=True, kw_only=True, slots=True)
class RunFilter:
    statuses: tuple[RunStatus, ...] = ()
    workflow: str | None = None
    namespace: str | None = None
    tag: str | None = None
    created_after: float | None = None
    created_before: float | None = None
    limit: int = 100
    # keyset cursor: only rows strictly after (created_at, run_id) in newest-first order, so a
    # page boundary never moves when newer runs are inserted
    before: tuple[float, str] | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class Erasure:
    """Who erased a run's content, when and why (kept in the index row)."""

    at: float
    by: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditRow:
    """One journal row as stored, not decoded: verification must work on any body."""

    seq: int
    ts: float
    type: str
    body: str | bytes
    digest: str  # hex, as stored
    hash: str  # hex, as stored
    erased: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditTrail:
    """A run's rows and what its index row says about them, read in one snapshot."""

    run_id: str
    last_seq: int  # the index's last sequence
    head: str  # the index's copy of the last row's hash (hex)
    rows: tuple[AuditRow, ...]
    erasure: Erasure | None = None


class RunErasedError(RunStateError):
    """The run's content was erased: its events are tombstones and cannot be read."""

    def __init__(self, run_id: str, erasure: Erasure) -> None:
        by = f" by {erasure.by}" if erasure.by else ""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(erasure.at))
        super().__init__(
            f"run {run_id} was erased at {when}{by} ({erasure.reason}): its events are "
            "tombstones; `podium audit verify` still checks its chain"
        )
        self.run_id = run_id
        self.erasure = erasure


@dataclass(frozen=True, kw_only=True, slots=True)
class Lease:
    """A worker's claim on a run: the fencing token its writes carry.

    ``epoch`` increments every time the run is claimed; a write with an older epoch is refused
    (:class:`~podium.errors.LeaseLost`). ``expires_at`` is on the store's clock (the database's
    for PostgreSQL); ``attempts`` counts the claims of the run (a run that keeps killing its
    worker is dead-lettered after a limit). ``deadline`` is on THIS process's monotonic clock
    (``time.monotonic()``): the start of the request that granted or renewed the lease plus its
    length, so the lease certainly holds until then whatever the store's clock says (0: not
    known; see :mod:`podium.runtime.leasing`).
    """

    run_id: str
    owner: str
    epoch: int
    expires_at: float
    attempts: int = 1
    deadline: float = field(default=0.0, compare=False)


class Store(ControlStore, EnvironmentStore, abc.ABC):
    """Where journals live. Implementations must pass :mod:`podium.testing.conformance`.

    - :meth:`append` is atomic: all events and the index update commit, or nothing does.
    - ``expected_seq`` is the last sequence the writer has seen (0 creates the run, whose first
      event must be :class:`~podium.events.RunStarted`); a mismatch raises
      :class:`~podium.errors.ConcurrencyError` and writes nothing.
    - :meth:`read` raises :class:`~podium.errors.CorruptJournalError` naming the run and
      sequence of the first row it cannot decode, and :class:`RunErasedError` for an erased run;
      with ``verify=True``, :class:`~podium.errors.TamperedJournalError` for a broken chain.
    - Every row carries the digest of its body and its audit-chain hash
      (:mod:`podium.store.chain`), computed in the append's transaction.
    """

    _max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES

    @property
    def max_event_bytes(self) -> int:
        """The largest encoded event this store accepts."""
        return self._max_event_bytes

    def check_event(self, run_id: str, event: Event) -> None:
        """Raise what :meth:`append` would raise for this event's payload
        (:class:`~podium.errors.InvalidPayloadError`,
        :class:`~podium.errors.PayloadTooLargeError`), writing nothing: the runtime asks
        before it acts on something it must then record."""
        encode_checked(run_id, event, self.max_event_bytes)

    @abc.abstractmethod
    async def append(
        self,
        run_id: str,
        events: Sequence[Event],
        *,
        expected_seq: int,
        lease: Lease | None = None,
    ) -> int:
        """Append ``events`` after ``expected_seq``; return the new last sequence.

        With ``lease``, the append is fenced: it is refused with
        :class:`~podium.errors.LeaseLost` (nothing written) unless the run is still claimed
        with that lease's epoch.
        """

    @abc.abstractmethod
    async def read(
        self, run_id: str, *, after_seq: int = 0, verify: bool = False
    ) -> list[StoredEvent]:
        """Events of a run with ``seq > after_seq``, in order. Unknown run: ``RunNotFound``.

        With ``verify`` (what an executor replays), every row read is checked against its
        digest and its link to the row before it (:class:`~podium.store.chain.Verifier`), and
        a read to the end against the index's head: a broken chain raises
        :class:`~podium.errors.TamperedJournalError` naming the first bad seq.
        """

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> RunRecord:
        """The index row of a run. Unknown run: ``RunNotFound``."""

    @abc.abstractmethod
    async def list_runs(self, query: RunFilter | None = None) -> list[RunRecord]:
        """Index rows matching ``query``, newest first."""

    async def now(self) -> float:
        """The store's clock now, in seconds since the epoch: the time decisions are checked
        against (an approval's expiry), the same for every process using the store. This
        default is this process's clock (right for a store inside one process); SQL backends
        ask the database."""
        return time.time()

    async def spend(self, namespace: str) -> tuple[int, float]:
        """Tokens and cost spent by every run of ``namespace`` (for tenant budgets), including
        runs :meth:`delete_runs` removed.

        This default folds the index rows (a backend that deletes runs must add theirs); SQL
        backends answer with one aggregate query.
        """
        records = await self.list_runs(RunFilter(namespace=namespace, limit=2**62))
        return sum(r.tokens for r in records), sum(r.cost_usd for r in records)

    # -- namespace budgets: spend holds (podium.store.holds) ------------------------------------

    async def hold_spend(
        self,
        hold: SpendHold,
        *,
        max_tokens: int | None,
        max_cost_usd: float | None,
        seconds: float,
    ) -> SpendCheck:
        """Hold ``hold`` against its namespace's limits, atomically with the check: granted only
        if :meth:`spend` plus the namespace's live holds plus ``hold`` stays within
        ``max_tokens`` and ``max_cost_usd`` (None: unlimited); else nothing is written. A granted
        hold lives ``seconds`` on the store's clock, or until its run finishes, or until
        :meth:`release_spend`. The same ``hold_id`` twice: ``StoreError``."""
        raise NotImplementedError(f"{type(self).__name__} does not support namespace budgets")

    async def release_spend(self, *hold_ids: str, run_id: str | None = None) -> int:
        """Drop the holds ``hold_ids`` (and every hold of ``run_id``); how many were dropped.
        Unknown ids are ignored."""
        return 0  # a store without holds has none to drop

    async def held_spend(self, namespace: str) -> tuple[int, float]:
        """Tokens and cost the live holds of ``namespace`` keep."""
        return 0, 0.0

    # -- audit and retention -------------------------------------------------------------------

    @abc.abstractmethod
    async def audit_trail(self, run_id: str) -> AuditTrail:
        """The run's rows undecoded, with the index's last sequence and head, in one snapshot.
        Unknown run: ``RunNotFound``."""

    @abc.abstractmethod
    async def import_run(
        self, run_id: str, rows: Sequence[tuple[float, Event]], *, expect_head: str | None = None
    ) -> str:
        """Create ``run_id`` from ``(ts, event)`` rows, keeping their timestamps; return the
        head hash (hex). Atomic: an existing run (``RunStateError``), a first event that is not
        ``run_started``, a payload the store refuses, or a head other than ``expect_head``
        (``StoreError``) writes nothing."""

    @abc.abstractmethod
    async def delete_runs(self, namespace: str, older_than: float) -> int:
        """Delete the finished runs (completed, failed, cancelled) of ``namespace`` last updated
        before ``older_than`` (epoch seconds), events and index rows; return how many. Their
        tokens and cost stay counted in :meth:`spend`. Other runs are never touched."""

    @abc.abstractmethod
    async def erase(self, run_id: str, *, reason: str, by: str = "") -> bool:
        """Replace every event body of a finished run with its tombstone, keeping digests,
        hashes and the index row; record the :class:`Erasure`. False if it already was erased
        (nothing written). A run that is not finished: ``RunStateError``."""

    # -- leases (workers) ----------------------------------------------------------------------

    async def claim(
        self,
        owner: str,
        *,
        lease_seconds: float,
        limit: int = 1,
        namespace: str | None = None,
    ) -> list[Lease]:
        """Claim up to ``limit`` runnable runs for ``owner``, oldest first.

        Runnable: ``pending`` (new, or made runnable by a signal, a decision or a resolution),
        ``suspended`` with a due ``wake_at``, or ``running`` with an expired lease (its worker
        died). Runs under another owner's unexpired lease are skipped, never waited for. Each
        claim increments the run's epoch and attempts; the lease expires ``lease_seconds``
        after the store's clock now.
        """
        raise NotImplementedError(f"{type(self).__name__} does not support workers")

    async def create_leased(
        self, run_id: str, events: Sequence[Event], *, owner: str, lease_seconds: float
    ) -> Lease:
        """Create ``run_id`` (``events`` start with ``run_started``, as an append with
        ``expected_seq=0``) ALREADY leased by ``owner``, in one transaction: no claimer ever
        sees it unleased. The lease has epoch 1 and expires ``lease_seconds`` after the store's
        clock now; if its owner dies, the run is claimable once it expired (a ``pending`` run
        under an unexpired lease is skipped by :meth:`claim`)."""
        raise NotImplementedError(f"{type(self).__name__} does not support leases")

    async def acquire(
        self, run_id: str, owner: str, *, lease_seconds: float, take_from: str | None = None
    ) -> Lease:
        """Lease one run for ``owner`` (an explicit resume), whatever its status unless it
        finished: the epoch and attempts increment as for a claim.

        Refused with :class:`~podium.errors.RunLeased` (nothing changes) while ANOTHER owner
        holds an unexpired lease on it — unless that owner is ``take_from`` (the caller knows
        it is dead); ``RunNotFound`` for an unknown run, ``RunStateError`` for a finished one
        (completed, failed, cancelled)."""
        raise NotImplementedError(f"{type(self).__name__} does not support leases")

    async def renew(self, lease: Lease, *, lease_seconds: float) -> Lease:
        """Extend a lease still held; :class:`~podium.errors.LeaseLost` if it moved on."""
        raise NotImplementedError(f"{type(self).__name__} does not support workers")

    async def release(self, lease: Lease) -> None:
        """Give a run back (its lease ends now) if the lease is still held; else nothing."""
        raise NotImplementedError(f"{type(self).__name__} does not support workers")

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
        """Take from the shared rate-limit bucket ``key`` (see :func:`podium.store.rates.take`):
        0.0 if ``requests`` and ``tokens`` were taken, else the seconds to wait before trying
        again (nothing taken). Atomic across every process using this store."""
        raise NotImplementedError(f"{type(self).__name__} does not support shared rate limits")

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and other resources."""

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
