"""Small targets for CLI tests (scripted models, offline)."""

from __future__ import annotations

from typing import Any

from podium import Agent, Context, workflow
from podium.patterns import Parallel, Sequential
from podium.testing import ScriptedModel, call
from podium.tools import tool


@tool(threaded=False)
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


calculator = Agent(
    name="calc",
    model=ScriptedModel([call("add", a=2, b=3), "the sum is 5"], by_turn=True),
    tools=[add],
)


@workflow(name="waiter")
async def waiter(ctx: Context, input: Any) -> Any:
    decision = await ctx.wait_for("go")
    return {"input": input, "decision": decision}


@workflow(name="broken")
async def broken(ctx: Context, input: Any) -> Any:
    raise ValueError("this workflow always fails")


def _bracketed(x: Any) -> str:
    return f"[{x}] list[str]"


checks = Parallel("checks", {"credit": _bracketed, "fraud": _bracketed})
bracket_text = Sequential("brackets", [_bracketed])
