"""The step primitive and the context workflow code runs with.

Every effect goes through a step with a deterministic key, ``{node path}/{name}#{n}``, where
``n`` counts the steps of that node in the order the code asks for them. Keys are allocated
synchronously, before any await, so parallel branches never depend on scheduling.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import random as _random
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic_core
from pydantic import JsonValue

from podium.agents import Agent
from podium.budget import Ledger
from podium.clock import Clock
from podium.errors import NonDeterminismError, StepFailedError, Suspend
from podium.events import ErrorInfo, NodeFinished, NodeStarted, StepCompleted, StepFailed
from podium.messages import TextDelta
from podium.models import Model
from podium.models.limits import Admission
from podium.policy import EnvSecrets, Redactor, SecretsProvider
from podium.prices import DEFAULT_PRICES, PriceTable
from podium.runtime.journal import Journal
from podium.runtime.nodes import Node, as_node
from podium.runtime.state import ReplayState, make_key

DeltaSink = Callable[[str, TextDelta], None]


@dataclass(slots=True)
class Execution:
    """Everything one attempt at running a run shares; created by the engine."""

    journal: Journal
    clock: Clock
    namespace: str
    max_inline_sleep: float = 5.0
    on_delta: DeltaSink | None = None
    counters: dict[str, int] = field(default_factory=dict)
    cache: dict[int, Any] = field(default_factory=dict)  # per-pass objects (model clients)
    owned_models: list[Model] = field(default_factory=list)  # built from strings; closed after
    secrets: SecretsProvider = field(default_factory=EnvSecrets)
    ledger: Ledger | None = None  # the run's budget (podium.runtime.budgeting)
    started_at: float = 0.0  # when the run started, on ``clock``
    agent_override: Callable[[Agent], Agent] | None = None  # e.g. replay: recorded models
    prices: PriceTable = DEFAULT_PRICES
    redactor: Redactor = field(default_factory=Redactor)  # known secret values, this pass
    admission: Admission | None = None  # rate limits for provider requests (runtime.ratelimit)

    @property
    def state(self) -> ReplayState:
        return self.journal.state


class Context:
    """Handed to workflow code: durable steps, time, randomness, waiting, and child nodes."""

    __slots__ = ("execution", "path")

    def __init__(self, execution: Execution, path: str) -> None:
        self.execution = execution
        self.path = path

    @property
    def run_id(self) -> str:
        return self.execution.state.run_id

    def child(self, name: str) -> Context:
        return Context(self.execution, f"{self.path}/{name}")

    def next_key(self, name: str) -> str:
        """Allocate the next step key of this node and check it against the journal."""
        counters = self.execution.counters
        n = counters.get(self.path, 0) + 1
        counters[self.path] = n
        key = make_key(self.path, name, n)
        self.execution.state.check_slot(key)
        return key

    def idempotency_key(self, key: str) -> str:
        raw = f"{self.execution.namespace}|{self.run_id}|{key}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    # -- generic steps ----------------------------------------------------------------------

    async def step(
        self, name: str, fn: Callable[..., Any], *args: Any, kind: str = "function"
    ) -> JsonValue:
        """Run ``fn(*args)`` once; its JSON result (or failure) is journaled and replayed.

        Both the first run and a replay return the JSON form, so code sees the same value.
        """
        key = self.next_key(name)
        done = self.execution.state.results.get(key)
        if done is not None:
            return _replayed(key, done)
        try:
            value = fn(*args)
            if inspect.isawaitable(value):
                value = await value
            result: JsonValue = pydantic_core.to_jsonable_python(value)
        except Exception as error:
            await self.execution.journal.commit(
                StepFailed(key=key, kind=kind, error=ErrorInfo.of(error))
            )
            raise StepFailedError(key, type(error).__name__, str(error)) from error
        await self.execution.journal.commit(StepCompleted(key=key, kind=kind, result=result))
        return result

    async def record_step(self, key: str, kind: str, result: Any) -> JsonValue:
        """Journal a decision under a key allocated earlier with :meth:`next_key`."""
        value: JsonValue = pydantic_core.to_jsonable_python(result)
        await self.execution.journal.commit(StepCompleted(key=key, kind=kind, result=value))
        return value

    async def now(self) -> float:
        """The current time, journaled: a replay sees the time the first run saw."""
        value = await self.step("now", self.execution.clock.now, kind="clock")
        assert isinstance(value, int | float)
        return float(value)

    async def uuid(self) -> str:
        value = await self.step("uuid", lambda: uuidlib.uuid4().hex, kind="random")
        return str(value)

    async def random(self) -> float:
        value = await self.step("random", _random.random, kind="random")
        assert isinstance(value, float)
        return value

    async def sleep(self, seconds: float) -> None:
        """A durable timer. Long sleeps suspend the run (no task held) until ``wake_at``."""
        wake_at = await self.now() + seconds
        key = self.next_key("sleep")
        if key in self.execution.state.results:
            return
        remaining = wake_at - self.execution.clock.now()
        if remaining > self.execution.max_inline_sleep:
            raise Suspend(f"timer until {wake_at:.3f}", wake_at=wake_at, waiting_for=key)
        if remaining > 0:
            await self.execution.clock.sleep(remaining)
        await self.execution.journal.commit(StepCompleted(key=key, kind="sleep", result=wake_at))

    async def wait_for(self, signal: str) -> JsonValue:
        """Wait for an external signal (``Runtime.signal``); the run suspends meanwhile."""
        key = self.next_key(f"wait:{signal}")
        state = self.execution.state
        done = state.results.get(key)
        if done is not None:
            result = _replayed(key, done)
            return result.get("payload") if isinstance(result, dict) else None
        found = state.next_signal(signal)
        if found is None:
            raise Suspend(f"waiting for signal {signal!r}", waiting_for=signal)
        seq, received = found
        state.consumed_signals.add(seq)  # reserved now: a parallel waiter must not take it too
        payload = {"seq": seq, "payload": received.payload}
        await self.execution.journal.commit(StepCompleted(key=key, kind="signal", result=payload))
        return received.payload

    # -- child nodes ------------------------------------------------------------------------

    async def run(self, node: Node | Any, input: Any, *, name: str | None = None) -> Any:
        """Run a child node (an agent, a workflow, a function) under this node's path."""
        target = as_node(node)
        child = self.child(name or target.name)
        return await run_node(child, target, input)


async def run_node(
    ctx: Context, node: Node, input: Any, *, summary: Callable[[Any], Any] | None = None
) -> Any:
    """Run ``node`` at ``ctx.path`` between a ``node_started`` and a ``node_finished`` event.

    ``summary`` picks what the ``node_finished`` event records (default: the whole output).
    """
    journal = ctx.execution.journal
    state = ctx.execution.state
    if ctx.path not in state.nodes_started:
        journal.record(NodeStarted(path=ctx.path, kind=node.kind))
        state.nodes_started.add(ctx.path)
    try:
        output = await node.execute(ctx, input)
    except Exception as error:
        if getattr(error, "podium_node", None) is None and ctx.path != _root(ctx.path):
            _mark_origin(error, ctx.path)
        if ctx.path not in state.nodes_finished and not isinstance(error, NonDeterminismError):
            journal.record(NodeFinished(path=ctx.path, error=ErrorInfo.of(error)))
        raise
    if ctx.path not in state.nodes_finished:
        shown = summary(output) if summary is not None else output
        journal.record(NodeFinished(path=ctx.path, output=pydantic_core.to_jsonable_python(shown)))
    return output


def _root(path: str) -> str:
    return path.split("/", 1)[0].split("[", 1)[0]


def _mark_origin(error: Exception, path: str) -> None:
    """Remember the innermost node an error came out of (``ErrorInfo.node``)."""
    with contextlib.suppress(AttributeError):  # an exception type with __slots__: unmarked
        error.podium_node = path  # type: ignore[attr-defined]


def _replayed(key: str, done: Any) -> JsonValue:
    if isinstance(done, StepCompleted):
        return done.result
    if isinstance(done, StepFailed):
        raise StepFailedError(key, done.error.type, done.error.message)
    raise NonDeterminismError(key, f"the journal holds a {done.type} event for this key")
