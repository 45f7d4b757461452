"""What runs cost: rollups of the journaled model calls by day, run, agent, model and namespace.

Everything here reads events and changes nothing. The cost of a call is the ``cost_usd`` the
runtime journaled with it (priced with the runtime's :class:`~podium.prices.PriceTable` when the
call was made); :func:`reprice` recomputes it with another table, for a what-if. A call whose
model had no price (``cost_usd`` is ``None``) counts in ``calls`` and in the tokens, never in the
cost: it is counted in ``unpriced`` instead, so a total is never silently low.

Dimensions of a rollup:

- ``day``: the UTC date (``2026-11-03``) of the event's store timestamp;
- ``run``: the run id;
- ``agent``: the path of the innermost node of kind ``agent`` holding the call's step key
  (``onboarding/checks[credit]``; the same path in several runs is one row), or ``-`` for a call
  made outside any agent;
- ``model``: the model string the call asked for (the one it was priced as);
- ``namespace``: the run's namespace.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from podium.events import ModelCallCompleted, NodeStarted, RunStarted
from podium.messages import Usage
from podium.prices import PriceTable
from podium.store import RunFilter, Store, StoredEvent

__all__ = [
    "DIMENSIONS",
    "CostReport",
    "CostRow",
    "Dimension",
    "ModelCall",
    "cost_report",
    "model_calls",
    "node_chain",
    "node_costs",
    "reprice",
    "rollup",
]

Dimension = Literal["day", "run", "agent", "model", "namespace"]
DIMENSIONS: tuple[Dimension, ...] = get_args(Dimension)
NO_AGENT = "-"


@dataclass(frozen=True, slots=True)
class ModelCall:
    """One journaled model call, with where and when it happened."""

    run_id: str
    namespace: str
    key: str
    agent: str
    model: str
    ts: float
    usage: Usage
    cost_usd: float | None

    @property
    def day(self) -> str:
        return dt.datetime.fromtimestamp(self.ts, dt.UTC).date().isoformat()

    @property
    def run(self) -> str:
        return self.run_id


@dataclass(frozen=True, slots=True)
class CostRow:
    """Calls, tokens and cost of one group (``key``); ``unpriced`` calls have no cost."""

    key: str
    calls: int = 0
    unpriced: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(slots=True)
class _Sum:
    calls: int = 0
    unpriced: int = 0
    usage: Usage = field(default_factory=Usage)
    costs: list[float] = field(default_factory=list)

    def add(self, call: ModelCall) -> None:
        self.calls += 1
        self.usage = self.usage + call.usage
        if call.cost_usd is None:
            self.unpriced += 1
        else:
            self.costs.append(call.cost_usd)

    def row(self, key: str) -> CostRow:
        u = self.usage
        return CostRow(
            key, self.calls, self.unpriced, u.input_tokens, u.cached_tokens, u.output_tokens,
            math.fsum(self.costs),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class CostReport:
    """The ``total`` and, per dimension, one row per group."""

    total: CostRow
    groups: Mapping[Dimension, tuple[CostRow, ...]]

    def rows(self, by: Dimension) -> tuple[CostRow, ...]:
        if by not in self.groups:
            raise ValueError(f"this report has no {by!r} rollup (it has {sorted(self.groups)})")
        return self.groups[by]

    def as_dict(self, by: Iterable[Dimension] | None = None) -> dict[str, Any]:
        """Plain JSON: ``{"total": {...}, "by": {dimension: [{...}, ...]}}``."""
        dims = list(self.groups) if by is None else list(by)
        return {
            "total": self.total.as_dict(),
            "by": {d: [row.as_dict() for row in self.rows(d)] for d in dims},
        }


def node_chain(path: str) -> list[str]:
    """``path`` and the paths holding it, innermost first: ``a/checks[credit]`` ->
    ``a/checks[credit]``, ``a/checks``, ``a`` (a branch ``name[label]`` belongs to the node
    ``name`` next to it)."""
    chain = [path]
    while path:
        head, _, last = path.rpartition("/")
        if last.endswith("]") and "[" in last:
            bare = last[: last.index("[")]
            chain.append(f"{head}/{bare}" if head else bare)
        if not head:
            break
        chain.append(head)
        path = head
    return chain


def _step_owner(key: str) -> str:
    return key.rsplit("/", 1)[0]


def model_calls(events: Sequence[StoredEvent]) -> list[ModelCall]:
    """The model calls of one run's journal, each with its namespace and agent.

    A fork's calls carried from the run it was forked from are that run's, paid once: they are
    not listed again."""
    namespace = "default"
    carried = 0  # a fork: seq 2..carried+1 were copied from its original
    kinds: dict[str, str] = {}
    calls: list[ModelCall] = []
    for stored in events:
        event = stored.event
        if isinstance(event, RunStarted):
            namespace, carried = event.namespace, event.carried
        elif isinstance(event, NodeStarted):
            kinds.setdefault(event.path, event.kind)
        elif isinstance(event, ModelCallCompleted) and stored.seq > carried + 1:
            chain = node_chain(_step_owner(event.key))
            agent = next((p for p in chain if kinds.get(p) == "agent"), NO_AGENT)
            calls.append(
                ModelCall(
                    stored.run_id, namespace, event.key, agent, event.model, stored.ts,
                    event.response.usage, event.cost_usd,
                )
            )  # fmt: skip
    return calls


def rollup(
    events_by_run: Mapping[str, Sequence[StoredEvent]],
    *,
    by: Iterable[Dimension] = DIMENSIONS,
    since: float | None = None,
    until: float | None = None,
) -> CostReport:
    """Sum the model calls of several runs' journals, in total and per dimension ``by``.

    ``since``/``until`` (seconds since the epoch, ``until`` exclusive) keep the calls whose
    event was stored in that interval. Rows are sorted by day for ``day``, else by cost (highest
    first), then key.
    """
    dims = list(dict.fromkeys(by))
    for dim in dims:
        if dim not in DIMENSIONS:
            raise ValueError(f"unknown rollup {dim!r}; expected one of {', '.join(DIMENSIONS)}")
    total = _Sum()
    sums: dict[Dimension, dict[str, _Sum]] = {d: {} for d in dims}
    for events in events_by_run.values():
        for call in model_calls(events):
            if (since is not None and call.ts < since) or (until is not None and call.ts >= until):
                continue
            total.add(call)
            for dim in dims:
                sums[dim].setdefault(getattr(call, dim), _Sum()).add(call)
    groups: dict[Dimension, tuple[CostRow, ...]] = {}
    for dim, found in sums.items():
        rows = [s.row(key) for key, s in found.items()]
        rows.sort(key=(lambda r: r.key) if dim == "day" else (lambda r: (-r.cost_usd, r.key)))
        groups[dim] = tuple(rows)
    return CostReport(total.row("total"), groups)


def reprice(events: Sequence[StoredEvent], prices: PriceTable) -> list[StoredEvent]:
    """``events`` with each model call's ``cost_usd`` computed again with ``prices``.

    A what-if: nothing is written. A model ``prices`` has no price for becomes unpriced.
    """
    out = []
    for stored in events:
        event = stored.event
        if isinstance(event, ModelCallCompleted):
            cost = prices.cost(event.model, event.response.usage)
            stored = dataclasses.replace(stored, event=dataclasses.replace(event, cost_usd=cost))
        out.append(stored)
    return out


async def cost_report(
    store: Store,
    *,
    namespace: str | None = None,
    since: float | None = None,
    until: float | None = None,
    by: Iterable[Dimension] = DIMENSIONS,
    prices: PriceTable | None = None,
) -> CostReport:
    """:func:`rollup` over the runs of ``store`` (of one ``namespace``, or all).

    ``since``/``until`` select the calls by when they were journaled (a run started before
    ``since`` counts with its later calls). ``prices`` reprices every call (a what-if).
    """
    query = RunFilter(namespace=namespace, created_before=until, limit=2**62)
    journals: dict[str, Sequence[StoredEvent]] = {}
    for record in await store.list_runs(query):
        if since is not None and record.updated_at < since:
            continue  # nothing in it was written after since
        events = await store.read(record.run_id)
        journals[record.run_id] = events if prices is None else reprice(events, prices)
    return rollup(journals, by=by, since=since, until=until)


def node_costs(events: Sequence[StoredEvent]) -> dict[str, CostRow]:
    """Per node path of one run: its model calls and those of every node inside it."""
    nodes = {s.event.path for s in events if isinstance(s.event, NodeStarted)}
    sums: dict[str, _Sum] = {}
    for call in model_calls(events):
        for path in dict.fromkeys(node_chain(_step_owner(call.key))):
            if path in nodes:
                sums.setdefault(path, _Sum()).add(call)
    return {path: s.row(path) for path, s in sums.items()}
