"""Tools listed at run time (MCP servers): the listing is a durable step, the pin is checked
before every call.

- :func:`expand` lists each of an agent's toolsets once per agent step, through the kernel's
  one durable primitive (``ctx.durable``): the listing, with the digest of every definition, is
  journaled as a ``step_completed`` of kind ``tool_listing``, and a replay rebuilds the tools
  from the journal, never from the server — the run keeps the definitions it first saw.
- :func:`pin_refusal` reads the tool's live definition before a call; a definition that no
  longer matches its pin (a rug pull) suspends the run for a person's approval of the change,
  bound to what changed. Rejected, the call is refused (a journaled tool error); nothing reaches
  the server either way until a person said yes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pydantic_core
from pydantic import JsonValue

from podium.agents import Agent
from podium.errors import ToolError
from podium.events import StepCompleted
from podium.policy import ApprovalRule
from podium.runtime import governance
from podium.runtime.context import Context
from podium.runtime.frame import Guard
from podium.tools import Tool, Toolset

PIN_RULE = ApprovalRule(role="approver")


async def expand(ctx: Context, agent: Agent) -> Agent:
    """The agent with its toolsets' tools added (listed once per run step, then replayed)."""
    if not agent.toolsets:
        return agent
    tools = list(agent.tools)
    for toolset in agent.toolsets:
        listing = await _listing(ctx, toolset)
        tools.extend(toolset.tools(listing))
    return replace(agent, tools=tuple(tools), toolsets=())


async def _listing(ctx: Context, toolset: Toolset) -> JsonValue:
    secrets = _secrets(ctx, toolset.secret_names, toolset.name)

    async def run(key: str) -> StepCompleted:
        await ctx.execution.kernel.before_effect("tool listing", key)
        return StepCompleted(key=key, kind="tool_listing", result=await toolset.list(secrets))

    listing: JsonValue = await ctx.durable(
        f"tools:{toolset.name}", expect=StepCompleted, run=run, value=_result
    )
    return listing


def _result(done: StepCompleted) -> JsonValue:
    return done.result


def _secrets(ctx: Context, names: tuple[str, ...], owner: str) -> dict[str, str]:
    """The values of ``names`` from the secret store, taught to the redactor first."""
    execution = ctx.execution
    values: dict[str, str] = {}
    for name in names:
        value = execution.services.secrets.get(name)
        if value is None:
            raise ToolError(f"secret {name!r} of {owner!r} is not configured")
        execution.redactor.add(name, value)
        values[name] = value
    return values


async def pin_refusal(
    ctx: Context, guard: Guard, key: str, tool: Tool, arguments: dict[str, Any]
) -> tuple[str, str] | None:
    """(error type, reason) if the tool's live definition left its pin and a person did not
    approve the change; suspends the run until one decides."""
    if tool.drift is None:
        return None
    try:
        change = await tool.drift(_secrets(ctx, tool.secrets, tool.name))
    except ToolError as error:
        return "ToolError", str(error)
    if change is None:
        return None
    action: JsonValue = {
        "tool": tool.name,
        "arguments": pydantic_core.to_jsonable_python(arguments),
        "change": change,
    }
    decision = await governance.require_approval(
        ctx, f"{key}~pin", kind="tool", subject=tool.name, action=action, rule=PIN_RULE,
        requested_by=guard.agent.identity, reason=change,
    )  # fmt: skip
    if decision.decision == "approved":
        return None
    by = f" by {decision.by}" if decision.by else ""
    return "ToolDefinitionChanged", f"refused: {change} (not approved: {decision.decision}{by})"
