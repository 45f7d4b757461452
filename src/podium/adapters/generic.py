"""Any async callable as a Podium node: the generic adapter.

``foreign(fn)`` makes ``async fn(input) -> output`` a node usable in every pattern. The call
runs with the node's context bound (:func:`~podium.adapters.binding.bound`), so the
:class:`~podium.adapters.binding.PodiumModel` objects the callable uses make journaled model
steps under the node's path. Its output is journaled as the node's ``run`` step once it
returns: a replay of a finished node returns that output without calling ``fn`` again, and a
run that crashed inside ``fn`` calls it again on resume with every model call it had already
made replayed from the journal (never sent twice). A failure is not journaled as the output;
it propagates as it is (a budget refusal, a suspension and an ordinary error alike).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pydantic_core

from podium.adapters.binding import bound
from podium.errors import UserError
from podium.events import StepCompleted
from podium.runtime.context import Context
from podium.types import JsonValue

ForeignFn = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ForeignNode:
    """A node that runs ``invoke(input)`` with the node's context bound for model calls."""

    invoke: ForeignFn
    name: str
    kind: str = "foreign"

    async def execute(self, ctx: Context, input: Any) -> JsonValue:
        async def run(key: str) -> StepCompleted:
            await ctx.execution.kernel.before_effect("foreign agent", key)
            with bound(ctx):
                output = await self.invoke(input)
            result: JsonValue = pydantic_core.to_jsonable_python(output)
            return StepCompleted(key=key, kind=self.kind, result=result)

        return await ctx.durable("run", expect=StepCompleted, run=run, value=_result)


def _result(done: StepCompleted) -> JsonValue:
    return done.result


def foreign(fn: ForeignFn | None = None, *, name: str | None = None) -> Any:
    """Make ``async fn(input) -> output`` a node (decorator or call). Its model calls go
    through Podium when it uses :class:`~podium.adapters.PodiumModel` objects."""

    def wrap(f: ForeignFn) -> ForeignNode:
        if not inspect.iscoroutinefunction(f) and not inspect.iscoroutinefunction(
            getattr(f, "__call__", None)  # noqa: B004 - an async callable object
        ):
            raise UserError(f"foreign {getattr(f, '__name__', f)!r} must be an async callable")
        return ForeignNode(f, name or str(getattr(f, "__name__", type(f).__name__)))

    return wrap(fn) if fn is not None else wrap
