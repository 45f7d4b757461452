"""Small governed targets for the approvals CLI tests (scripted models, offline).

``pay`` appends a line to the file named by ``$GOVERNANCE_LEDGER`` each time it really runs,
so a test can count payments across processes and resumes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from podium import Agent, Effect, tool
from podium.messages import ModelRequest, ToolMessage
from podium.patterns import Approval, Input, Parallel, Sequential
from podium.policy import ApprovalRule
from podium.testing import FunctionModel, call
from podium.testing.models import ScriptItem

BIG_PAYMENTS = ApprovalRule(
    when=lambda arguments: arguments["amount"] > 1000,
    role="finance",
    reason="payments over 1000 need finance",
)


@tool(effect=Effect.AT_MOST_ONCE, approval=BIG_PAYMENTS, threaded=False)
def pay(to: str, amount: float) -> str:
    """Pay a supplier.

    Args:
        to: Who is paid.
        amount: How much, in EUR.
    """
    ledger = os.environ.get("GOVERNANCE_LEDGER")
    if ledger:
        with Path(ledger).open("a", encoding="utf-8") as file:
            file.write(f"{to}\t{amount}\n")
    return f"paid {amount:.2f} EUR to {to}"


def _payer_model(request: ModelRequest) -> ScriptItem:
    results = [m for m in request.messages if isinstance(m, ToolMessage)]
    if not results:
        return call("pay", to="ACME Ltd", amount=2500)
    return f"payment: {results[-1].content}"


payer = Agent(
    name="payer",
    instructions="Pay the invoice you are given.",
    model=FunctionModel(_payer_model, name="scripted:payer"),
    tools=[pay],
)


def _confirm(amount: Any) -> str:
    return f"will pay {amount} EUR"


intake = Sequential(
    "intake",
    [Input("amount", question="How much should we pay ACME Ltd?", answer_type=int, role="finance"),
     _confirm],
)  # fmt: skip

review = Parallel(
    "checks",
    {"credit": Approval("sign", prompt="Raise the limit for [gold] customers?", role="risk")},
)
