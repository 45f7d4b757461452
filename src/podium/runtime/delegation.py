"""Tools that are not functions: running another node (delegation) and passing control (handoff).

An agent sees both as ordinary tools. Calling a :class:`NodeTool` runs a node as a child of the
agent (``desk/manager/researcher[2]``) and hands its output back as the tool result. Calling a
:class:`HandoffTool` ends the agent's turn and names who takes over; the pattern that offered
it decides what happens next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import pydantic_core
from pydantic import JsonValue

from podium.errors import FatalError, ToolError
from podium.events import ErrorInfo, ToolCallCompleted
from podium.messages import ToolCall, ToolDefinition, ToolMessage
from podium.runtime import budgeting
from podium.runtime.calls import arguments_json, parse_arguments, tool_message
from podium.runtime.context import Context, run_node
from podium.runtime.nodes import Node
from podium.types import Effect

TASK_PARAMETERS: dict[str, JsonValue] = {
    "type": "object",
    "properties": {"task": {"type": "string", "description": "What to do, in full."}},
    "required": ["task"],
    "additionalProperties": False,
}


def delegation_depth(ctx: Context) -> int:
    """How many delegations deep the code at ``ctx`` runs (0 at the top)."""
    return ctx.frame.depth


Prepare = Callable[[Context, dict[str, Any]], tuple[Node, Any, str]]
"""From the model's arguments to (node, its input, a label for its path); raise ToolError to
refuse (the message goes back to the model). Must be deterministic: it runs again on replay."""


@dataclass(frozen=True, slots=True)
class NodeTool:
    name: str
    description: str
    prepare: Prepare
    parameters: dict[str, JsonValue] = field(default_factory=lambda: dict(TASK_PARAMETERS))

    def definition(self) -> ToolDefinition:
        return ToolDefinition(
            name=self.name, description=self.description, parameters=self.parameters
        )


@dataclass(frozen=True, slots=True)
class HandoffTool:
    name: str
    target: str
    description: str

    def definition(self) -> ToolDefinition:
        return ToolDefinition(
            name=self.name,
            description=self.description,
            parameters={"type": "object", "properties": {}, "additionalProperties": True},
        )


ExtraTool = NodeTool | HandoffTool


def child_label(ctx: Context, label: str) -> str:
    """``label[n]``: the n-th child of this node with that label (allocated before any await)."""
    return f"{label}[{ctx.count(label)}]"


async def call_node_tool(ctx: Context, key: str, tool: NodeTool, call: ToolCall) -> ToolMessage:
    """Run the node behind ``tool`` as a child; its output is the journaled tool result.

    ``prepare`` and the child's label run on every pass, replay included, so labels and
    counters stay in step whatever the journal holds."""
    try:
        node, input, label = tool.prepare(ctx, _arguments(call))
    except ToolError as error:
        refused: ToolError | None = error
    else:
        refused = None
        child = ctx.child(child_label(ctx, label))

    async def run(key: str) -> ToolCallCompleted:
        budgeting.charge_step(ctx)
        if refused is not None:
            return _event(key, call, str(refused), True, type(refused).__name__)
        return await _delegate(ctx, key, call, child, node, input)

    return await ctx.durable(
        call.name, key=key, expect=ToolCallCompleted, effect=Effect.READ, run=run,
        value=partial(_message, call),
    )  # fmt: skip


async def _delegate(
    ctx: Context, key: str, call: ToolCall, child: Context, node: Node, input: Any
) -> ToolCallCompleted:
    depth = ctx.frame.depth + 1
    ledger = budgeting.current(ctx)
    if ledger is not None:
        ledger.check_depth(depth)  # BudgetExceeded stops the run
    try:
        output = await run_node(child.framed(replace(ctx.frame, depth=depth)), node, input)
    except FatalError:  # a divergence, a budget: not the worker's failure
        raise
    except Exception as error:  # a failed worker is reported to the manager, not fatal
        info = ErrorInfo.of(error, redact=ctx.execution.redactor.text)
        text = f"{child.path} failed: {info.type}: {info.message}"
        return _event(key, call, text, True, info.type)
    return _event(key, call, pydantic_core.to_jsonable_python(output), False, None)


async def complete_handoff(
    ctx: Context, key: str, tool: HandoffTool, call: ToolCall
) -> ToolMessage:
    async def run(key: str) -> ToolCallCompleted:
        budgeting.charge_step(ctx)
        return _event(key, call, f"Transferred to {tool.target}.", False, None)

    return await ctx.durable(
        call.name, key=key, expect=ToolCallCompleted, effect=Effect.READ, run=run,
        value=partial(_message, call),
    )  # fmt: skip


def _arguments(call: ToolCall) -> dict[str, Any]:
    value = parse_arguments(call)  # strict JSON (ToolArgumentsError), like any tool's
    if not isinstance(value, dict):
        raise ToolError(f"arguments of {call.name!r} must be a JSON object")
    return value


def _message(call: ToolCall, done: ToolCallCompleted) -> ToolMessage:
    return tool_message(call, done.result, done.is_error)


def _event(
    key: str, call: ToolCall, result: Any, is_error: bool, error_type: str | None
) -> ToolCallCompleted:
    return ToolCallCompleted(
        key=key, tool=call.name, call_id=call.id, effect=Effect.READ,
        arguments=arguments_json(call), result=result, is_error=is_error,
        error_type=error_type, attempts=1, duration_ms=0.0,
    )  # fmt: skip
