"""Escalation to a person: on failure after retries, and on low reported confidence."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from podium import Agent, Runtime
from podium.errors import ModelHTTPError
from podium.patterns import Escalation
from podium.policy import Principal
from podium.testing import ScriptedModel
from podium.types import RunStatus

pytestmark = pytest.mark.anyio
CLERK = Principal("pat", frozenset({"support"}))


class Answer(pydantic.BaseModel):
    text: str
    confidence: float


async def _answer_and_resume(runtime: Runtime, run_id: str, flow: Any, answer: Any) -> Any:
    inbox = await runtime.approvals(role="support")
    assert len(inbox) == 1
    request = inbox[0].request
    assert request.kind == "input"
    await runtime.decide(inbox[0].approval_id, "answer", by=CLERK, answer=answer)
    return request, await runtime.resume(run_id, flow)


async def test_a_failing_node_is_handed_to_a_person() -> None:
    broken = Agent(name="bot", model=ScriptedModel([ModelHTTPError(500, "down")]))
    flow = Escalation("desk", broken, role="support")
    runtime = Runtime()
    first = await runtime.run(flow, "refund?")
    assert first.status is RunStatus.SUSPENDED
    request, done = await _answer_and_resume(runtime, first.run_id, flow, "Refund approved.")
    assert request.action["context"]["reason"] == "failed"  # type: ignore[index]
    assert "ModelHTTPError" in request.action["context"]["error"]  # type: ignore[index]
    assert done.status is RunStatus.COMPLETED
    assert done.output == "Refund approved."


async def test_low_confidence_is_handed_to_a_person_and_high_confidence_is_not() -> None:
    unsure = Agent(
        name="bot",
        model=ScriptedModel(['{"text": "maybe", "confidence": 0.3}'], by_turn=True),
        output_type=Answer,
    )
    flow = Escalation("desk", unsure, role="support", min_confidence=0.7)
    runtime = Runtime()
    first = await runtime.run(flow, "q")
    assert first.status is RunStatus.SUSPENDED
    request, done = await _answer_and_resume(runtime, first.run_id, flow, "certainly")
    assert request.action["context"]["confidence"] == 0.3  # type: ignore[index]
    assert done.output == "certainly"

    sure = Agent(
        name="bot",
        model=ScriptedModel(['{"text": "yes", "confidence": 0.9}'], by_turn=True),
        output_type=Answer,
    )
    result = await runtime.run(Escalation("desk", sure, min_confidence=0.7), "q")
    assert result.status is RunStatus.COMPLETED
    assert result.output == {"text": "yes", "confidence": 0.9}
