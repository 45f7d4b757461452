"""A workflow for the fork tests: an agent that wires money (at_most_once), then a receipt.

Environment: STATE_DIR (what the tools and steps really did, one line per call). The model is
openai:fork-model, pointed at the fake LLM server by OPENAI_BASE_URL. ``flow_v2`` is the same
workflow with a changed receipt: the "new code" a fork continues with.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from podium import Agent, Context, Effect, tool, workflow

STATE = Path(os.environ.get("STATE_DIR", "."))


def _log(name: str, line: str) -> None:
    with (STATE / f"{name}.log").open("a") as f:
        f.write(line + "\n")


@tool(effect=Effect.AT_MOST_ONCE)
def wire(amount: int) -> str:
    """Send a wire transfer: must never happen twice."""
    _log("wire", str(amount))
    return f"wired {amount}"


agent = Agent(
    name="clerk",
    model="openai:fork-model",
    instructions="Pay what the customer asks.",
    tools=[wire],
)


def receipt(answer: str) -> str:
    _log("receipt", "v1")
    return f"receipt: {answer}"


def receipt_v2(answer: str) -> str:
    _log("receipt", "v2")
    return f"RECEIPT v2: {answer}"


@workflow(name="pay")
async def flow(ctx: Context, input: Any) -> Any:
    answer = await ctx.run(agent, input)
    return {"answer": answer, "receipt": await ctx.step("receipt", receipt, answer)}


@workflow(name="pay")
async def flow_v2(ctx: Context, input: Any) -> Any:
    answer = await ctx.run(agent, input)
    return {"answer": answer, "receipt": await ctx.step("receipt", receipt_v2, answer)}
