"""The durable-step kernel: the one place that reads replay state.

Every step of every kind — a function step, the clock, a random id, a timer, a signal, a model
call, a tool call, a node tool or a handoff, a human decision, a fan-out's bookkeeping — goes
through :meth:`Kernel.durable` (``Context.durable``), which

1. allocates the step's key (``{node path}/{name}#{n}``, synchronously, before any await) and
   checks that the journal holds no other step at that position (the *slot*);
2. looks the key up and, when the journal holds it, checks the event type, the request digest
   and the effect class, and returns the journaled value (a journaled failure is raised
   again) without running anything;
3. otherwise runs the step, commits the event it produced, and returns the same value a replay
   will return.

An open ``at_most_once`` intent is honoured here too: code that now declares the tool with
another effect class fails closed (``NonDeterminismError``) and the step is marked ``unknown``,
never run again. :class:`~podium.runtime.state.ReplayState` is the pure fold these checks read;
no other module reads it (``tests/test_kernel.py`` scans the package to keep it so).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from typing import Any, TypeVar

import pydantic_core

from podium.budget import Spend
from podium.errors import NonDeterminismError, StepFailedError, Suspend
from podium.events import (
    ApprovalDecided,
    ApprovalRequested,
    ErrorInfo,
    Event,
    NodeFinished,
    NodeStarted,
    SignalReceived,
    StepCompleted,
    StepFailed,
    StepResolved,
    StepResult,
    StepUnknown,
)
from podium.runtime.journal import Journal
from podium.runtime.state import ReplayState, make_key
from podium.types import Effect

T = TypeVar("T")
E = TypeVar("E", bound=StepResult)

Expect = type[E] | tuple[type[StepResult], ...]


class Kernel:
    """The replay rule of one execution pass, over its journal and the state folded from it."""

    __slots__ = ("counters", "journal", "state")

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.state: ReplayState = journal.state
        self.counters: dict[str, int] = {}

    @property
    def run_id(self) -> str:
        return self.state.run_id

    # -- keys ---------------------------------------------------------------------------------

    def allocate(self, path: str, name: str) -> str:
        """The next step key of the node at ``path``, checked against the journal's slot."""
        counters = self.counters
        n = counters.get(path, 0) + 1
        counters[path] = n
        key = make_key(path, name, n)
        self.state.check_slot(key)
        return key

    def fixed(self, path: str, name: str, n: int) -> str:
        """A key at a fixed counter (``n`` = 0 is never allocated), checked like the others."""
        key = make_key(path, name, n)
        self.state.check_slot(key)
        return key

    def count(self, slot: str, add: int = 1) -> int:
        """A per-pass counter (child labels, spawned agents): ``add`` to it, return it."""
        n = self.counters.get(slot, 0) + add
        self.counters[slot] = n
        return n

    def started_nodes(self) -> AbstractSet[str]:
        """The paths of the nodes started in this run: journaled, or started in this pass
        (a node is added as it starts, before its first await)."""
        return self.state.nodes_started

    # -- the step -----------------------------------------------------------------------------

    def lookup(
        self, key: str, expect: Any, *, digest: str | None = None, effect: Effect | None = None
    ) -> Any:
        """The journaled result of ``key`` (checked), or None if the step has not finished."""
        done = self.state.results.get(key)
        if done is None:
            return None
        if not isinstance(done, expect):
            raise NonDeterminismError(key, f"the journal holds a {done.type} event here")
        if digest is not None and getattr(done, "request_digest", digest) != digest:
            what = done.type.split("_", 1)[0]  # model_call_completed: the model request
            raise NonDeterminismError(
                key, f"the {what} request differs from the journaled one (changed code or input)"
            )
        held = getattr(done, "effect", None)
        if effect is not None and held is not None and held is not effect:
            raise NonDeterminismError(
                key,
                f"the journal holds a {held.value} step here; the code now declares it "
                f"{effect.value}",
            )
        return done

    async def durable(
        self,
        key: str,
        *,
        expect: Any,
        run: Callable[[str], Awaitable[Any]],
        value: Callable[[Any], T],
        digest: str | None = None,
        effect: Effect | None = None,
    ) -> T:
        """Replay ``key`` if it is journaled, else ``run(key)`` and commit the event it returns.

        ``value`` turns the journaled event into what the step returns, the same on the first
        run and on a replay (and raises a journaled failure again).
        """
        done = self.lookup(key, expect, digest=digest, effect=effect)
        if done is not None:
            return value(done)
        if effect is not None and effect is not Effect.AT_MOST_ONCE and key in self.state.intents:
            await self._changed_effect(key, effect)
        try:
            event = await run(key)
        except Suspend as suspended:
            suspended.at = suspended.at or key  # journaled: how far this pass reached
            raise
        await self.journal.commit(event)
        return value(event)

    async def _changed_effect(self, key: str, effect: Effect) -> None:
        """An at_most_once intent is open at ``key`` but the code now declares another effect:
        the tool may have run, so it must not run again. Mark it unknown; fail closed."""
        intent = self.state.pending_intent(key)
        if intent is None:
            return  # resolved by an operator (retry, skip, fail): the code may run it
        if key not in self.state.unknown:
            await self.journal.commit(StepUnknown(key=key, tool=intent.tool))
        raise NonDeterminismError(
            key,
            f"the journal holds an open at_most_once intent of {intent.tool!r} here; the code "
            f"now declares it {effect.value}, so it is left unknown instead of run again",
        )

    # -- code changes while runs wait -----------------------------------------------------------

    async def patched(self, path: str, patch_id: str) -> bool:
        """Whether the node at ``path`` takes the code guarded by patch ``patch_id``.

        The decision is journaled once under ``{path}/patch:{id}#0``, a key outside the node's
        counters (so old runs' keys do not shift), and replayed ever after. The first pass to
        reach the call decides: False if the journal shows this node already got past this
        point on older code (a step, an intent or a suspension at a later counter), else True.
        """
        if not patch_id or any(c in patch_id for c in "/#[]"):
            raise ValueError(f"patch id {patch_id!r}: give a non-empty id without / # [ ]")
        key = make_key(path, f"patch:{patch_id}", 0)
        past = self.state.reached.get(path, 0) > self.counters.get(path, 0)

        async def run(key: str) -> StepCompleted:
            return StepCompleted(key=key, kind="patch", result=not past)

        return await self.durable(key, expect=StepCompleted, run=run, value=_patch_value)

    # -- at_most_once ---------------------------------------------------------------------------

    async def intent_gate(self, key: str, tool: str) -> StepResolved | None:
        """Before an at_most_once call: suspend on an open intent (marking it unknown), or
        return the operator's latest resolution of the step (None: run it)."""
        state = self.state
        if state.pending_intent(key) is not None:
            if key not in state.unknown:
                await self.journal.commit(StepUnknown(key=key, tool=tool))
            raise Suspend(f"step {key} is unknown: it may or may not have run", waiting_for=key)
        return state.latest_resolution(key)

    # -- signals --------------------------------------------------------------------------------

    def take_signal(self, name: str) -> tuple[int, SignalReceived] | None:
        """The oldest signal ``name`` no step consumed yet, reserved at once (a parallel
        waiter must not take it too)."""
        found = self.state.next_signal(name)
        if found is not None:
            self.state.consumed_signals.add(found[0])
        return found

    # -- human decisions -------------------------------------------------------------------

    def approval(
        self, key: str, digest: str
    ) -> tuple[ApprovalRequested | None, ApprovalDecided | None, int]:
        """The latest approval request at ``key`` (its action checked against ``digest``),
        its decision, and how many requests were made there."""
        state = self.state
        ids = state.approvals_by_key.get(key)
        if not ids:
            return None, None, 0
        request = state.approvals[ids[-1]]
        if request.digest != digest:
            raise NonDeterminismError(key, "the action differs from the one sent for approval")
        return request, state.decisions.get(request.approval_id), len(ids)

    # -- buffered bookkeeping -------------------------------------------------------------

    def node_started(self, path: str, kind: str) -> None:
        if path not in self.state.nodes_started:
            self.journal.record(NodeStarted(path=path, kind=kind))
            self.state.nodes_started.add(path)

    def node_finished(
        self, path: str, *, output: Any = None, error: ErrorInfo | None = None
    ) -> None:
        """Buffer ``node_finished`` (the output as JSON) unless a pass already recorded it."""
        if path not in self.state.nodes_finished:
            shown = pydantic_core.to_jsonable_python(output) if output is not None else None
            self.journal.record(NodeFinished(path=path, output=shown, error=error))

    def once(self, mark: tuple[str, str, str], event: Event) -> None:
        """Buffer a guardrail trip once per (key, guardrail, stage), on every pass."""
        if mark not in self.state.trips:
            self.state.trips.add(mark)
            self.journal.record(event)

    # -- the journal ----------------------------------------------------------------------

    def before_effect(self, effect: str, key: str) -> Awaitable[None]:
        """The lease check right before an external effect of step ``key`` (see
        :meth:`Journal.before_effect`): every layer that reaches the world calls it."""
        return self.journal.before_effect(effect, key)

    async def commit(self, *events: Event) -> None:
        await self.journal.commit(*events)

    async def flush(self) -> None:
        await self.journal.flush()

    @contextmanager
    def parallel(self, branches: int) -> Iterator[None]:
        with self.journal.parallel(branches):
            yield

    @property
    def has_unknown(self) -> bool:
        return bool(self.state.unknown)

    def spend_under(self, path: str) -> tuple[int, float, int]:
        return self.state.spend_under(path)

    def spent(self) -> Spend:
        return self.state.spent()


def step_value(key: str, done: StepCompleted | StepFailed) -> Any:
    """What a function step returns: its journaled JSON result, or its failure raised again."""
    if isinstance(done, StepFailed):
        raise StepFailedError(key, done.error.type, done.error.message)
    return done.result


def _patch_value(done: StepCompleted) -> bool:
    return done.result is True


def open_intent(state: ReplayState, key: str) -> bool:
    """Whether ``key`` is an at_most_once step waiting for an operator (``Runtime.resolve``)."""
    return state.pending_intent(key) is not None
