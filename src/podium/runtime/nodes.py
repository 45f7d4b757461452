"""Nodes: anything that can run inside a workflow (agents, workflow functions, later patterns).

A node has a ``name``, a ``kind`` and ``execute(ctx, input)``. Plain objects become nodes
through :func:`as_node`; higher layers register adapters for their own types (the agent loop
registers :class:`~podium.agents.Agent`).
"""

from __future__ import annotations

import inspect
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


_ADAPTERS: dict[type, Callable[[Any], Node]] = {}


def register_node_adapter(kind: type, adapter: Callable[[Any], Node]) -> None:
    _ADAPTERS[kind] = adapter


def as_node(obj: Any) -> Node:
    for kind, adapter in _ADAPTERS.items():
        if isinstance(obj, kind):
            return adapter(obj)
    if isinstance(obj, Node):
        return obj
    if inspect.iscoroutinefunction(obj):
        return Workflow(obj, obj.__name__)
    raise UserError(f"{obj!r} is not a node: expected an Agent, a Workflow or an async function")
