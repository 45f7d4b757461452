"""What the governance specs import: a refund tool, scripted models, predicates, guardrails.

Models answer by turn, so a resumed run gets the same answers after replay.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import pydantic

from podium import Effect, Runtime, tool
from podium.events import ApprovalRequested
from podium.guardrails import PII, guardrail
from podium.policy import Principal
from podium.runtime import RunResult
from podium.spec import load_spec
from podium.testing import ScriptedModel, call


@tool(effect=Effect.READ, scopes=["payments"])
def refund(order_id: str, amount: int) -> str:
    """Refund an order."""
    return f"refunded {amount} on {order_id}"


@tool(effect=Effect.READ, name="order_status")
def status_of_order(order_id: str) -> str:
    """Where an order is."""
    return f"{order_id} shipped"


def refund_model() -> ScriptedModel:
    return ScriptedModel(
        [call("refund", order_id="A-1", amount=50), "Refunded 50 on A-1."], by_turn=True
    )


def wordy_model() -> ScriptedModel:
    return ScriptedModel(["one two three four five six"] * 5, by_turn=True)


def judge_model() -> ScriptedModel:
    return ScriptedModel(['{"safe": true}'] * 5)


def over_ten(arguments: Mapping[str, Any]) -> bool:
    return int(arguments.get("amount", 0)) > 10


def no_secrets(value: Any) -> bool | str:
    return "secret" not in str(value) or "mentions a secret"


async def async_check(value: Any) -> bool:
    return True


@guardrail(stages="output", action="flag")
def short_output(value: Any) -> bool:
    return len(str(value)) < 100


EMAILS_ONLY = PII(["email"])
NOT_A_GUARD = 42


class Quote(pydantic.BaseModel):
    amount: int
    currency: str


def flaky(text: Any) -> str:
    raise RuntimeError("cannot answer")


def decide_each(
    spec: Path, input: Any, answers: list[Any]
) -> tuple[RunResult, list[ApprovalRequested]]:
    """Run a spec, then approve (``None``) or answer each request in turn, resuming after each
    with the spec loaded again (as another process would)."""
    everyone = Principal("carol", frozenset({"cfo", "manager", "clerk"}))

    async def go() -> tuple[RunResult, list[ApprovalRequested]]:
        runtime, requests = Runtime(), []
        result = await runtime.run(load_spec(spec), input)
        for answer in answers:
            assert result.status.value == "suspended", result.error
            [pending] = await runtime.approvals()
            requests.append(pending.request)
            verdict = "approve" if answer is None else "answer"
            await runtime.decide(pending.approval_id, verdict, by=everyone, answer=answer)
            result = await runtime.resume(result.run_id, load_spec(spec))
        return result, requests

    return anyio.run(go)
