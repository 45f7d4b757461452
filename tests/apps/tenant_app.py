"""Targets for the tenant-boundary and hardening tests (scripted models, offline).

``pay`` appends a line to the file named by ``$TENANT_LEDGER`` each time it really runs, so a
test can count payments across processes. Its approval (role ``finance``) expires after an hour
and is then escalated to ``cfo``; tests back-date the clock of the runtime that asks, so the
request is already past its expiry on the store's clock.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from podium import Agent, Context, Effect, tool, workflow
from podium.messages import ModelRequest, ToolMessage
from podium.policy import ApprovalRule
from podium.testing import FunctionModel, call
from podium.testing.models import ScriptItem

ESCALATING = ApprovalRule(
    role="finance",
    expires_after=3600,
    on_expiry="escalate",
    escalate_to="cfo",
    reason="payments need finance",
)
DENYING = ApprovalRule(role="finance", expires_after=3600, reason="refunds need finance")


def _ledger(line: str) -> None:
    path = os.environ.get("TENANT_LEDGER")
    if path:
        with Path(path).open("a", encoding="utf-8") as file:
            file.write(line + "\n")


@tool(effect=Effect.AT_MOST_ONCE, approval=ESCALATING, threaded=False)
def pay(to: str, amount: float) -> str:
    """Pay a supplier.

    Args:
        to: Who is paid.
        amount: How much, in EUR.
    """
    _ledger(f"pay\t{to}\t{amount}")
    return f"paid {amount:.2f} EUR to {to}"


@tool(effect=Effect.AT_MOST_ONCE, approval=DENYING, threaded=False)
def refund(to: str, amount: float) -> str:
    """Refund a customer.

    Args:
        to: Who is refunded.
        amount: How much, in EUR.
    """
    _ledger(f"refund\t{to}\t{amount}")
    return f"refunded {amount:.2f} EUR to {to}"


def _script(tool_name: str) -> Any:
    def answer(request: ModelRequest) -> ScriptItem:
        results = [m for m in request.messages if isinstance(m, ToolMessage)]
        if not results:
            return call(tool_name, to="ACME Ltd", amount=2500)
        return f"done: {results[-1].content}"

    return answer


payer = Agent(
    name="payer",
    instructions="Pay the invoice you are given.",
    model=FunctionModel(_script("pay"), name="scripted:payer"),
    tools=[pay],
)

refunder = Agent(
    name="refunder",
    instructions="Refund the customer.",
    model=FunctionModel(_script("refund"), name="scripted:refunder"),
    tools=[refund],
)


@workflow(name="waiter")
async def waiter(ctx: Context, input: Any) -> Any:
    got = await ctx.wait_for("go")
    _ledger(f"waiter\t{input}\t{got}")
    return {"input": input, "got": got}
