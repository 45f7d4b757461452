"""The one fan-out primitive: run branches concurrently under one rule.

Used by Parallel, Map, Quorum, Graph supersteps and an agent's concurrent tool calls (through
``Context.gather``). The rule, written once:

- a branch that suspends (``Suspend``) lets its siblings finish; the suspension is collected;
- a branch that raises stops everything: the scope is cancelled and the first error is raised
  after the group (unwrapped, never an exception group);
- ``stop(index, value)``, if given, is asked after each branch that returned; True cancels the
  branches still running (a quorum reached);
- values come back in branch order, never in completion order; a branch that did not finish
  (cancelled, suspended) leaves :data:`MISSING`.

Keys are never allocated here: each branch has a path of its own, so a replay finds each
branch's work however the branches were scheduled. One branch runs inline (no task group).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from podium.errors import Suspend
from podium.runtime.step import Kernel

MISSING: Any = object()
"""The value of a branch that did not finish."""

Branch = Callable[[int], Awaitable[Any]]
Stop = Callable[[int, Any], bool]


@dataclass(slots=True)
class Gathered:
    """What a fan-out returned: values in branch order, and the suspensions collected."""

    values: list[Any]
    suspended: list[Suspend] = field(default_factory=list)

    def finished(self) -> list[tuple[int, Any]]:
        """(index, value) of the branches that returned, in branch order."""
        return [(i, v) for i, v in enumerate(self.values) if v is not MISSING]

    def raise_suspended(self) -> None:
        """Suspend the run if any branch did (the first suspension names what it waits for)."""
        if self.suspended:
            raise self.suspended[0]


async def gather(
    kernel: Kernel,
    count: int,
    branch: Branch,
    *,
    limit: int | None = None,
    stop: Stop | None = None,
) -> Gathered:
    """Run ``branch(0)`` ... ``branch(count - 1)`` concurrently (at most ``limit`` at once)."""
    out = Gathered([MISSING] * count)
    if count == 1 and limit is None:
        await _inline(out, branch)
        return out
    errors: list[Exception] = []
    limiter = anyio.CapacityLimiter(limit) if limit else None

    async def one(index: int, scope: anyio.CancelScope) -> None:
        try:
            if limiter is None:
                value = await branch(index)
            else:
                async with limiter:
                    value = await branch(index)
        except Suspend as signal:  # let the siblings finish; suspend after the group
            out.suspended.append(signal)
            return
        except Exception as error:  # the first error wins; stop the siblings
            errors.append(error)
            scope.cancel()
            return
        out.values[index] = value
        if stop is not None and stop(index, value):
            scope.cancel()

    with kernel.parallel(count):
        async with anyio.create_task_group() as group:
            for index in range(count):
                group.start_soon(one, index, group.cancel_scope)
            group.start_soon(_flush_when_started, kernel)
    if errors:
        raise errors[0]
    return out


async def _inline(out: Gathered, branch: Branch) -> None:
    try:
        out.values[0] = await branch(0)
    except Suspend as signal:
        out.suspended.append(signal)


async def _flush_when_started(kernel: Kernel) -> None:
    """Scheduled after the branches, so it runs once each has started and is waiting (on a
    model, a tool...): commit their buffered ``node_started`` events now, while they wait,
    instead of on the critical path when the first of them finishes."""
    await kernel.flush()
