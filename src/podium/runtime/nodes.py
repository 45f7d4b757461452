"""Nodes: anything that can run inside a workflow (agents, functions, workflows, patterns).

A node has a ``name``, a ``kind`` and ``execute(ctx, input)``. Plain objects become nodes
through :func:`as_node`: an ``async def f(ctx, input)`` is a :class:`Workflow`, any other
function ``f(input)`` (sync or async) is a :class:`FunctionNode` whose call is one journaled
step. Higher layers register adapters for their own types (the agent loop registers
:class:`~podium.agents.Agent`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from podium.errors import UserError

if TYPE_CHECKING:
    from podium.runtime.context import Context


@runtime_checkable
class Node(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    async def execute(self, ctx: Context, input: Any) -> Any: ...


WorkflowFn = Callable[["Context", Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Workflow:
    """An async function ``(ctx, input) -> output`` run durably as a node."""

    fn: WorkflowFn
    name: str
    kind: str = "workflow"

    async def execute(self, ctx: Context, input: Any) -> Any:
        return await self.fn(ctx, input)


def workflow(fn: WorkflowFn | None = None, *, name: str | None = None) -> Any:
    """Decorate ``async def f(ctx, input)`` to make it a workflow node.

    Code between steps must be deterministic: anything that touches the world (models,
    tools, time, randomness, sleeping) goes through ``ctx``.
    """

    def wrap(f: WorkflowFn) -> Workflow:
        if not inspect.iscoroutinefunction(f):
            raise UserError(f"workflow {getattr(f, '__name__', f)!r} must be an async function")
        return Workflow(f, name or f.__name__)

    return wrap(fn) if fn is not None else wrap


@dataclass(frozen=True, slots=True)
class FunctionNode:
    """Plain code ``fn(input) -> output`` run as one step: journaled once, replayed after.

    The output is its JSON form (on the first run and on replay alike), so what follows
    sees the same value either way.
    """

    fn: Callable[[Any], Any]
    name: str
    kind: str = "function"

    async def execute(self, ctx: Context, input: Any) -> Any:
        return await ctx.step("call", self.fn, input)


def function(fn: Callable[[Any], Any] | None = None, *, name: str | None = None) -> Any:
    """Make ``fn(input) -> output`` (sync or async) a node whose call is journaled."""

    def wrap(f: Callable[[Any], Any]) -> FunctionNode:
        return FunctionNode(f, name or _name_of(f))

    return wrap(fn) if fn is not None else wrap


_ADAPTERS: dict[type, Callable[[Any], Node]] = {}


def register_node_adapter(kind: type, adapter: Callable[[Any], Node]) -> None:
    _ADAPTERS[kind] = adapter


def as_node(obj: Any) -> Node:
    if isinstance(obj, Workflow | FunctionNode):
        return obj
    for kind, adapter in _ADAPTERS.items():
        if isinstance(obj, kind):
            return adapter(obj)
    if isinstance(obj, Node):
        return obj
    if inspect.iscoroutinefunction(obj) and _takes_context(obj):
        return Workflow(obj, obj.__name__)
    if callable(obj) and not isinstance(obj, type):
        return FunctionNode(obj, _name_of(obj))
    raise UserError(
        f"{obj!r} is not a node: expected an Agent, a pattern, a workflow or a function"
    )


def _name_of(fn: Any) -> str:
    """A path-safe name: ``<lambda>`` becomes ``lambda``."""
    raw = str(getattr(fn, "__name__", type(fn).__name__))
    return re.sub(r"[^A-Za-z0-9_.:-]", "", raw)[:64] or "function"


def _takes_context(fn: Callable[..., Any]) -> bool:
    """``async def f(ctx, input)`` is a workflow; ``async def f(input)`` is a function."""
    try:
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return True
    return len(params) >= 2
