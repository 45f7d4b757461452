"""A deployable workflow for the server tests (offline: a scripted model).

``payer`` pays the invoice named in its input; ``pay`` needs an ``approver``'s approval. The
reply quotes the input, so a canary planted in a run's input shows in its events and output.
``VERSION`` changes between deployments in the version-pinning test.
"""

from __future__ import annotations

from typing import Any

from podium import Agent, Effect, tool
from podium.messages import ModelRequest, ToolMessage, UserMessage
from podium.policy import ApprovalRule
from podium.testing import FunctionModel, call
from podium.testing.models import ScriptItem

VERSION = "v1"


@tool(effect=Effect.AT_MOST_ONCE, approval=ApprovalRule(role="approver"), threaded=False)
def pay(to: str, amount: float) -> str:
    """Pay a supplier.

    Args:
        to: Who is paid.
        amount: How much, in EUR.
    """
    return f"paid {amount:.2f} EUR to {to} ({VERSION})"


def _answer(request: ModelRequest) -> ScriptItem:
    asked = next((m.content for m in request.messages if isinstance(m, UserMessage)), "")
    results = [m for m in request.messages if isinstance(m, ToolMessage)]
    if not results:
        return call("pay", to=str(asked)[:80], amount=2500)
    return f"done: {results[-1].content}"


def _model() -> Any:
    return FunctionModel(_answer, name="scripted:payer")


payer = Agent(
    name="payer",
    instructions="Pay the invoice you are given.",
    model=_model(),
    tools=[pay],
)
