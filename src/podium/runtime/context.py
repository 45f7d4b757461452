"""The context workflow and pattern code runs with: the only door to the runtime.

Every effect goes through a durable step (:mod:`podium.runtime.step`) with a deterministic key,
``{node path}/{name}#{n}``, where ``n`` counts the steps of that node in the order the code
asks for them. Keys are allocated synchronously, before any await, so parallel branches never
depend on scheduling.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import random as _random
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from collections.abc import Set as AbstractSet
from functools import partial
from typing import Any, TypeVar

import pydantic_core
from pydantic import JsonValue

from podium.errors import NonDeterminismError, Suspend
from podium.events import ErrorInfo, StepCompleted, StepFailed
from podium.runtime.execution import Execution
from podium.runtime.fanout import Branch, Gathered, Stop, gather
from podium.runtime.frame import TOP, AgentFrame
from podium.runtime.nodes import Node, as_node
from podium.runtime.step import step_value
from podium.types import Effect

T = TypeVar("T")
_FUNCTION_STEP = (StepCompleted, StepFailed)


class Context:
    """Handed to workflow and pattern code: durable steps, time, randomness, waiting, child
    nodes and fan-out. The only door to the runtime: code never reaches the journal itself."""

    __slots__ = ("execution", "frame", "path")

    def __init__(self, execution: Execution, path: str, frame: AgentFrame = TOP) -> None:
        self.execution = execution
        self.path = path
        self.frame = frame  # the innermost agent: guard, ledger, delegation depth

    @property
    def run_id(self) -> str:
        return self.execution.kernel.run_id

    def child(self, name: str) -> Context:
        """The context of a child node, at ``{path}/{name}``."""
        return Context(self.execution, f"{self.path}/{name}", self.frame)

    def branch(self, label: str) -> Context:
        """The context of a branch of this node, at ``{path}[{label}]``."""
        return Context(self.execution, f"{self.path}[{label}]", self.frame)

    def framed(self, frame: AgentFrame) -> Context:
        """This node's context under another agent frame (an agent's loop, a delegation)."""
        return Context(self.execution, self.path, frame)

    def next_key(self, name: str) -> str:
        """Allocate the next step key of this node and check it against the journal."""
        return self.execution.kernel.allocate(self.path, name)

    def count(self, name: str, add: int = 1) -> int:
        """A counter of this node for this pass (labels, spawned agents): add, return it.
        Counters restart on every pass, like step keys, so they must be bumped in code order."""
        return self.execution.kernel.count(f"{self.path}/{name}[]", add)

    def idempotency_key(self, key: str) -> str:
        """The key an ``idempotent`` tool passes on (see :func:`idempotency_key`)."""
        return idempotency_key(self.execution.namespace, self.run_id, key)

    def started_nodes(self) -> AbstractSet[str]:
        """The paths of the nodes started in this run, journaled or in this pass (read-only):
        what a run-wide count derives from, so replays and other processes agree."""
        return self.execution.kernel.started_nodes()

    # -- the step primitive -----------------------------------------------------------------

    async def durable(
        self,
        name: str,
        *,
        expect: Any,
        run: Callable[[str], Awaitable[Any]],
        value: Callable[[Any], T],
        digest: str | None = None,
        effect: Effect | None = None,
        key: str | None = None,
    ) -> T:
        """One durable step (see :mod:`podium.runtime.step`): replayed if journaled (checked
        against ``expect``, ``digest`` and ``effect``), else ``run(key)`` returns the event to
        commit. ``value`` maps the event to the result, the same on both paths. ``key``: one
        allocated earlier with :meth:`next_key` (tool calls allocate theirs in order first)."""
        kernel = self.execution.kernel
        return await kernel.durable(
            key if key is not None else kernel.allocate(self.path, name),
            expect=expect, run=run, value=value, digest=digest, effect=effect,
        )  # fmt: skip

    def recorded(self, key: str, expect: Any = StepCompleted) -> Any:
        """The journaled result of ``key`` (a decision recorded with :meth:`record_step`), or
        None. For steps whose work is not one call: a branch that failed, a quorum's winners."""
        return self.execution.kernel.lookup(key, expect)

    def fixed_key(self, name: str, n: int) -> str:
        """A key of this node at counter ``n`` (0 is never allocated by :meth:`next_key`)."""
        return self.execution.kernel.fixed(self.path, name, n)

    async def patched(self, patch_id: str) -> bool:
        """Whether this run takes the code guarded by ``patch_id`` (see ``docs/kernel.md``,
        "Changing code while runs wait"): True for a run that reaches the call on new code,
        False for one that got past this point on old code; journaled, so replays agree."""
        return await self.execution.kernel.patched(self.path, patch_id)

    # -- generic steps ----------------------------------------------------------------------

    async def step(
        self, name: str, fn: Callable[..., Any], *args: Any, kind: str = "function"
    ) -> JsonValue:
        """Run ``fn(*args)`` once; its JSON result (or failure) is journaled and replayed.

        Both the first run and a replay return the JSON form, so code sees the same value.
        """

        async def run(key: str) -> StepCompleted | StepFailed:
            await self.execution.kernel.before_effect("step", key)
            try:
                value = fn(*args)
                if inspect.isawaitable(value):
                    value = await value
                result: JsonValue = pydantic_core.to_jsonable_python(value)
            except Exception as error:
                info = ErrorInfo.of(error, redact=self.execution.redactor.text)
                return StepFailed(key=key, kind=kind, error=info)
            return StepCompleted(key=key, kind=kind, result=result)

        key = self.next_key(name)
        return await self.execution.kernel.durable(
            key, expect=_FUNCTION_STEP, run=run, value=partial(step_value, key)
        )

    async def record_step(self, key: str, kind: str, result: Any) -> JsonValue:
        """Journal a decision under a key allocated earlier with :meth:`next_key`."""
        value: JsonValue = pydantic_core.to_jsonable_python(result)
        await self.execution.kernel.commit(StepCompleted(key=key, kind=kind, result=value))
        return value

    async def now(self) -> float:
        """The current time, journaled: a replay sees the time the first run saw."""
        value = await self.step("now", self.execution.services.clock.now, kind="clock")
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
        services = self.execution.services

        async def run(key: str) -> StepCompleted:
            remaining = wake_at - services.clock.now()
            if remaining > services.max_inline_sleep:
                raise Suspend(f"timer until {wake_at:.3f}", wake_at=wake_at, waiting_for=key)
            if remaining > 0:
                await services.clock.sleep(remaining)
            return StepCompleted(key=key, kind="sleep", result=wake_at)

        await self.durable("sleep", expect=StepCompleted, run=run, value=_nothing)

    async def wait_for(self, signal: str) -> JsonValue:
        """Wait for an external signal (``Runtime.signal``); the run suspends meanwhile."""
        kernel = self.execution.kernel

        async def run(key: str) -> StepCompleted:
            found = kernel.take_signal(signal)
            if found is None:
                raise Suspend(f"waiting for signal {signal!r}", waiting_for=signal)
            seq, received = found
            payload = {"seq": seq, "payload": received.payload}
            return StepCompleted(key=key, kind="signal", result=payload)

        return await self.durable(
            f"wait:{signal}", expect=_FUNCTION_STEP, run=run, value=_signal_payload
        )

    # -- child nodes ------------------------------------------------------------------------

    async def gather(
        self, count: int, branch: Branch, *, limit: int | None = None, stop: Stop | None = None
    ) -> Gathered:
        """Run ``branch(i)`` for each of ``count`` branches concurrently; see
        :mod:`podium.runtime.fanout` for the rule (suspensions collected, first error raised,
        the rest cancelled; ``stop`` ends the fan-out early)."""
        return await gather(self.execution.kernel, count, branch, limit=limit, stop=stop)

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
    kernel = ctx.execution.kernel
    kernel.node_started(ctx.path, node.kind)
    try:
        output = await node.execute(ctx, input)
    except Exception as error:
        if getattr(error, "podium_node", None) is None and ctx.path != _root(ctx.path):
            _mark_origin(error, ctx.path)
        if not isinstance(error, NonDeterminismError):
            info = ErrorInfo.of(error, redact=ctx.execution.redactor.text)
            kernel.node_finished(ctx.path, error=info)
        raise
    shown = summary(output) if summary is not None else output
    kernel.node_finished(ctx.path, output=shown)
    return output


def idempotency_key(namespace: str, run_id: str, step_key: str) -> str:
    """The idempotency key of a step: a hash of the run's recorded namespace
    (``RunStarted.namespace``, which the engine puts in the execution), its id and the step
    key. Every executor (a worker, ``podium resume``, a ``Runtime`` of any namespace) derives
    the same key for the same step, so a provider that deduplicates by it never applies a
    retried call twice."""
    raw = f"{namespace}|{run_id}|{step_key}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _root(path: str) -> str:
    return path.split("/", 1)[0].split("[", 1)[0]


def _mark_origin(error: Exception, path: str) -> None:
    """Remember the innermost node an error came out of (``ErrorInfo.node``)."""
    with contextlib.suppress(AttributeError):  # an exception type with __slots__: unmarked
        error.podium_node = path  # type: ignore[attr-defined]


def _nothing(_done: Any) -> None:
    return None


def _signal_payload(done: StepCompleted | StepFailed) -> JsonValue:
    result = step_value(done.key, done)
    return result.get("payload") if isinstance(result, dict) else None
