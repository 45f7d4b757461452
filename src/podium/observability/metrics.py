"""Metrics from the journal: the OpenTelemetry GenAI client metrics, plus run counts, run
durations and cost.

:class:`JournalMetrics` is a ``Runtime(listeners=[...])`` listener: it records from each
committed :class:`~podium.store.StoredEvent`, through the OpenTelemetry *metrics API* only
(``opentelemetry-api``). With no SDK installed and configured, the instruments are no-ops.

- ``gen_ai.client.token.usage`` (histogram, ``{token}``): per model call, once per
  ``gen_ai.token.type`` (``input``, ``output``);
- ``gen_ai.client.operation.duration`` (histogram, ``s``): per model call, all its attempts;
- ``podium.cost`` (counter, ``{USD}``): per model call with a price;
- ``podium.runs`` (counter, ``{run}``): per run that ends, by ``podium.run.status``;
- ``podium.run.duration`` (histogram, ``s``): per run that ends, from its creation.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from opentelemetry import metrics
from opentelemetry.metrics import Meter

from podium.events import (
    TERMINAL_TYPES,
    ApprovalDecided,
    Event,
    ModelCallCompleted,
    NodeStarted,
    RunStarted,
)
from podium.messages import ModelResponse
from podium.store import Store, StoredEvent

__all__ = [
    "DURATION_BUCKETS",
    "TOKEN_BUCKETS",
    "JournalMetrics",
    "model_attributes",
    "unseen_from",
]

# the bucket boundaries the GenAI semantic conventions advise
TOKEN_BUCKETS: tuple[float, ...] = tuple(float(4**i) for i in range(14))
DURATION_BUCKETS: tuple[float, ...] = tuple(0.01 * 2**i for i in range(14))

_OUTSIDE_TYPES = frozenset(
    {"run_started", "signal_received", "step_resolved", "approval_decided", "run_cancelled"}
)


def written_by_execution(event: Event) -> bool:
    """Whether only an execution commits this event (so its listeners saw it live).

    The others (a run's creation, signals, resolutions, a person's decision, a cancellation)
    are appended from outside any execution: no listener hears them unless an execution
    catches up on them.
    """
    if isinstance(event, ApprovalDecided):
        return event.by == "podium"  # expiry and escalation are decided by the execution
    return event.type not in _OUTSIDE_TYPES


def unseen_from(events: Sequence[StoredEvent]) -> int:
    """Where the part of a journal no execution's listener saw begins.

    Everything up to the last event an execution committed was delivered to that execution's
    listeners; what follows it (a decision, a signal, a cancellation appended while the run
    was suspended) was not.
    """
    for index in range(len(events) - 1, -1, -1):
        if written_by_execution(events[index].event):
            return index + 1
    return 0


def model_attributes(model: str, response: ModelResponse | None = None) -> tuple[str, str, str]:
    """``(gen_ai.provider.name, gen_ai.request.model, gen_ai.response.model)`` of a call.

    ``model`` is the model string the agent asked for (``openai:gpt-4.1-mini``); the response,
    when there is one, says which provider and model answered.
    """
    provider, sep, name = model.partition(":")
    if not sep:
        provider, name = "", model
    if response is None:
        return provider, name, ""
    return response.provider or provider, name, response.model_name or name


class JournalMetrics:
    """Records metrics from journal events; use it as a ``Runtime`` listener.

    >>> runtime = Runtime(store, listeners=[JournalMetrics()])   # doctest: +SKIP

    A run resumed in another process should be :meth:`prime`-d first (its history says when it
    was created, for ``podium.run.duration``; without it, the duration counts from the first
    event this listener saw).
    """

    def __init__(self, meter: Meter | None = None, *, max_runs: int = 10_000) -> None:
        meter = meter or metrics.get_meter("podium")
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=list(TOKEN_BUCKETS),
        )
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self._runs = meter.create_counter(
            "podium.runs", unit="{run}", description="Runs that ended, by status"
        )
        self._run_duration = meter.create_histogram(
            "podium.run.duration", unit="s", description="Wall time of a run, creation to end"
        )
        self._cost = meter.create_counter(
            "podium.cost", unit="{USD}", description="Model cost from the price table"
        )
        self._max_runs = max_runs
        self._runs_seen: OrderedDict[str, _RunInfo] = OrderedDict()
        # attribute dicts by (model, provider, response model), built once
        self._attribute_sets: dict[tuple[str, str, str], tuple[_Attributes, ...]] = {}

    def __call__(self, stored: StoredEvent) -> None:
        info = self._info(stored)
        if info is not None:
            self._observe(info, stored, record=True)

    def replay(self, events: Sequence[StoredEvent]) -> None:
        """Fold a run's history; record only what no listener saw (see :func:`unseen_from`)."""
        cut = unseen_from(events)
        for index, stored in enumerate(events):
            info = self._info(stored)
            if info is not None:
                self._observe(info, stored, record=index >= cut)

    async def prime(self, store: Store, run_id: str) -> None:
        """Read what this listener has not seen of ``run_id`` (call before resuming it)."""
        info = self._runs_seen.get(run_id)
        self.replay(await store.read(run_id, after_seq=info.seq if info else 0))

    # -- folding ----------------------------------------------------------------------------

    def _info(self, stored: StoredEvent) -> _RunInfo | None:
        info = self._runs_seen.get(stored.run_id)
        if info is None:
            info = self._runs_seen[stored.run_id] = _RunInfo(start=stored.ts)
            while len(self._runs_seen) > self._max_runs:
                self._runs_seen.popitem(last=False)
        elif stored.seq <= info.seq:
            return None  # seen already
        info.seq = stored.seq
        return info

    def _observe(self, info: _RunInfo, stored: StoredEvent, *, record: bool) -> None:
        event = stored.event
        if isinstance(event, ModelCallCompleted):
            if record:
                self._model_call(event)
        elif isinstance(event, NodeStarted):
            if not info.workflow and "/" not in event.path and "[" not in event.path:
                info.workflow = event.path
        elif isinstance(event, RunStarted):
            info.start = stored.ts
        elif event.type in TERMINAL_TYPES:
            self._runs_seen.pop(stored.run_id, None)
            if record:
                self._run_ended(info, stored)

    def _model_call(self, event: ModelCallCompleted) -> None:
        response = event.response
        key = (event.model, response.provider, response.model_name)
        sets = self._attribute_sets.get(key)
        if sets is None:
            if len(self._attribute_sets) > 1000:
                self._attribute_sets.clear()
            sets = self._attribute_sets[key] = _attribute_sets(event.model, response)
        attributes, input_attributes, output_attributes = sets
        usage = response.usage
        self._tokens.record(usage.input_tokens, input_attributes)
        self._tokens.record(usage.output_tokens, output_attributes)
        self._duration.record(event.duration_ms / 1000, attributes)
        if event.cost_usd:
            self._cost.add(event.cost_usd, attributes)

    def _run_ended(self, info: _RunInfo, stored: StoredEvent) -> None:
        status = {"run_completed": "completed", "run_failed": "failed"}.get(
            stored.event.type, "cancelled"
        )
        attributes = {"podium.run.status": status, "podium.workflow": info.workflow}
        self._runs.add(1, attributes)
        self._run_duration.record(max(0.0, stored.ts - info.start), attributes)


_Attributes = dict[str, str]


def _attribute_sets(
    model: str, response: ModelResponse
) -> tuple[_Attributes, _Attributes, _Attributes]:
    provider, request_model, response_model = model_attributes(model, response)
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": request_model,
        "gen_ai.response.model": response_model,
    }
    return (
        attributes,
        {**attributes, "gen_ai.token.type": "input"},
        {**attributes, "gen_ai.token.type": "output"},
    )


class _RunInfo:
    __slots__ = ("seq", "start", "workflow")

    def __init__(self, start: float) -> None:
        self.seq = 0
        self.start = start
        self.workflow = ""
