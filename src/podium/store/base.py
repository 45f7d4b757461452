"""The store contract: an append-only journal per run plus a status index derived from it."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field

from podium.events import Event
from podium.types import RunStatus

DEFAULT_MAX_EVENT_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredEvent:
    run_id: str
    seq: int  # 1-based, gap-free per run
    ts: float  # store clock, seconds since the epoch
    event: Event


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
    extra: dict[str, str] = field(default_factory=dict)


class Store(abc.ABC):
    """Where journals live. Implementations must pass :mod:`podium.testing.conformance`.

    - :meth:`append` is atomic: all events and the index update commit, or nothing does.
    - ``expected_seq`` is the last sequence the writer has seen (0 creates the run, whose first
      event must be :class:`~podium.events.RunStarted`); a mismatch raises
      :class:`~podium.errors.ConcurrencyError` and writes nothing.
    - :meth:`read` raises :class:`~podium.errors.CorruptJournalError` naming the run and
      sequence of the first row it cannot decode.
    """

    @abc.abstractmethod
    async def append(self, run_id: str, events: Sequence[Event], *, expected_seq: int) -> int:
        """Append ``events`` after ``expected_seq``; return the new last sequence."""

    @abc.abstractmethod
    async def read(self, run_id: str, *, after_seq: int = 0) -> list[StoredEvent]:
        """Events of a run with ``seq > after_seq``, in order. Unknown run: ``RunNotFound``."""

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> RunRecord:
        """The index row of a run. Unknown run: ``RunNotFound``."""

    @abc.abstractmethod
    async def list_runs(self, query: RunFilter | None = None) -> list[RunRecord]:
        """Index rows matching ``query``, newest first."""

    async def spend(self, namespace: str) -> tuple[int, float]:
        """Tokens and cost spent by every run of ``namespace`` (for tenant budgets).

        This default folds the index rows; SQL backends answer with one aggregate query.
        """
        records = await self.list_runs(RunFilter(namespace=namespace, limit=2**62))
        return sum(r.tokens for r in records), sum(r.cost_usd for r in records)

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and other resources."""

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
