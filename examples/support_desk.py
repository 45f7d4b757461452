"""Podium's quickstart demo: a small support desk run by three agents.

    triage (structured output) -> billing specialist (tools) -> writer

Offline by default: every agent uses a scripted model, so it needs no key and no network.
Set PODIUM_DEMO_MODEL (e.g. ``openai:gpt-4.1-mini`` or ``anthropic:claude-sonnet-4-5``) to run
the same workflow against a real provider. Run it with ``python examples/support_desk.py`` or
``podium run examples/support_desk.py:support_desk --input "..."``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Literal

from pydantic import BaseModel

from podium import Agent, Context, Effect, Model, SQLiteStore, run_sync, tool, workflow
from podium.testing import ScriptedModel, call

REAL_MODEL = os.environ.get("PODIUM_DEMO_MODEL")
ORDERS = {"A-1001": {"item": "noise-cancelling headphones", "amount": 129.0, "status": "damaged"}}


class Triage(BaseModel):
    category: Literal["billing", "technical", "other"]
    order_id: str | None
    summary: str


@tool(effect=Effect.READ)
def lookup_order(order_id: str) -> dict[str, Any]:
    """Look up an order by its id.

    Args:
        order_id: The order id, e.g. "A-1001".
    """
    return ORDERS.get(order_id, {"error": f"no order {order_id}"})


@tool(effect=Effect.AT_MOST_ONCE)
def issue_refund(order_id: str, amount: float) -> dict[str, Any]:
    """Refund an order. Moves money: runs at most once, even across crashes.

    Args:
        order_id: The order to refund.
        amount: The amount in EUR.
    """
    return {"refund_id": f"rf-{order_id}", "order_id": order_id, "amount": amount}


def _model(script: list[Any], name: str) -> Model | str:
    if REAL_MODEL:
        return REAL_MODEL
    return ScriptedModel(script, name=f"scripted:{name}", by_turn=True)


triage = Agent(
    name="triage",
    instructions="Classify the customer's message. Reply with JSON only.",
    model=_model(
        ['{"category": "billing", "order_id": "A-1001", '
         '"summary": "Headphones arrived damaged; customer wants a refund."}'],
        "triage",
    ),
    output_type=Triage,
)  # fmt: skip

billing = Agent(
    name="billing",
    instructions="Resolve billing issues. Check the order before refunding it.",
    model=_model(
        [
            call("lookup_order", order_id="A-1001"),
            call("issue_refund", order_id="A-1001", amount=129.0),
            "Refunded 129.00 EUR for order A-1001 (refund rf-A-1001).",
        ],
        "billing",
    ),
    tools=[lookup_order, issue_refund],
)

writer = Agent(
    name="writer",
    instructions="Write a short, warm reply to the customer from the case notes.",
    model=_model(
        ["Hello! We're sorry your headphones arrived damaged. We have refunded 129.00 EUR "
         "to your card (refund rf-A-1001); it should appear within 3-5 days."],
        "writer",
    ),
)  # fmt: skip


@workflow(name="support_desk")
async def support_desk(ctx: Context, message: Any) -> dict[str, Any]:
    case = await ctx.run(triage, message)
    notes = await ctx.run(billing, case) if case.category == "billing" else case.summary
    reply = await ctx.run(writer, {"case": case, "notes": notes})
    return {"category": case.category, "reply": reply}


def main() -> int:
    mode = f"real provider: {REAL_MODEL}" if REAL_MODEL else "OFFLINE - scripted models, no network"
    print(f"Podium demo: support desk ({mode})", file=sys.stderr)
    if not REAL_MODEL:
        print("  set PODIUM_DEMO_MODEL=openai:gpt-4.1-mini to use a real model", file=sys.stderr)
    db = os.environ.get("PODIUM_DB", ".podium/podium.db")
    message = "My headphones (order A-1001) arrived broken. I want my money back."
    result = run_sync(support_desk, message, store=SQLiteStore(db))
    print(f"run {result.run_id}: {result.status.value}", file=sys.stderr)
    print(f"  {result.model_calls} model calls, {result.tool_calls} tool calls, "
          f"{result.usage.total_tokens} tokens", file=sys.stderr)  # fmt: skip
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
    print(json.dumps(result.output, indent=2))
    print(f"inspect it: podium show {result.run_id}   (store: {db})", file=sys.stderr)
    return 0 if result.status.value == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
