"""Targets that fail in application code, for the kept-traceback tests (offline)."""

from __future__ import annotations

from typing import Any

from podium import Agent, Context, ToolContext, tool, workflow
from podium.testing import ScriptedModel, call


def lookup(table: dict[str, int], key: str) -> int:
    return table[key]


@workflow(name="keys")
async def keys(ctx: Context, input: Any) -> Any:
    return lookup({}, "missing-key")


def _send(token: str, amount: int) -> None:
    raise RuntimeError(f"gateway refused token {token} for {amount}")


@tool(threaded=False, secrets=["PAYMENTS_TOKEN"])
def charge(amount: int, ctx: ToolContext) -> str:
    """Charge the card."""
    _send(ctx.secrets["PAYMENTS_TOKEN"], amount)
    return "charged"


payer = Agent(
    name="payer",
    model=ScriptedModel([call("charge", amount=5), "could not charge"], by_turn=True),
    tools=[charge],
)
