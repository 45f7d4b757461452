"""Running an agent's guardrails at the four stages, and journaling every trip.

``input`` (what the agent is asked), ``output`` (its final answer), ``message`` (text from
outside the agent entering its context: tool results, other agents' answers, a handed-over
conversation) and ``tool_args`` (a call's arguments). Pure guardrails run first; judge
guardrails (an agent deciding) run as child nodes, so their model calls are journaled and
replayed like any other. Each guardrail that found something is journaled once as a
``guardrail_tripped`` event (what it did and why — never the matched text).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pydantic

from podium.agents import Agent
from podium.events import GuardrailTripped as TripEvent
from podium.guardrails import (
    Finding,
    Guardrail,
    JudgeGuardrail,
    Stage,
    Verdict,
    run_guardrails,
)
from podium.runtime.context import Context, run_node
from podium.runtime.nodes import as_node


class JudgeAnswer(pydantic.BaseModel):
    """What a judge guardrail agent answers."""

    safe: bool
    reason: str = ""


async def screen(ctx: Context, agent: Agent, value: Any, stage: Stage, key: str) -> Verdict:
    """The combined verdict of ``agent``'s guardrails on ``value`` at ``stage``."""
    if not agent.guardrails:
        return Verdict(action="pass", value=value)
    pure: list[Guardrail] = [g for g in agent.guardrails if not isinstance(g, JudgeGuardrail)]
    verdict = run_guardrails(pure, value, stage) if pure else Verdict(action="pass", value=value)
    for judge in agent.guardrails:
        if verdict.blocked:
            break
        if isinstance(judge, JudgeGuardrail) and stage in judge.stages:
            verdict = _combine(verdict, await _judge(ctx, judge, verdict.value, stage))
    _journal(ctx, verdict, stage, key)
    return verdict


async def _judge(ctx: Context, judge: JudgeGuardrail, value: Any, stage: Stage) -> Verdict:
    agent = judge.agent
    if isinstance(agent, Agent) and agent.output_type is None:
        agent = dataclasses.replace(agent, output_type=JudgeAnswer)
    child = ctx.child(f"guard:{judge.name}:{stage}")
    raw = await run_node(child, as_node(agent), {"stage": stage, "value": value})
    answer = raw if isinstance(raw, JudgeAnswer) else JudgeAnswer.model_validate(raw)
    return judge.verdict(value, stage, tripped=not answer.safe, reason=answer.reason)


def _combine(first: Verdict, second: Verdict) -> Verdict:
    rank = {"pass": 0, "flag": 1, "redact": 2, "block": 3}
    action = first.action if rank[first.action] >= rank[second.action] else second.action
    findings: tuple[Finding, ...] = first.findings + second.findings
    return Verdict(action=action, value=second.value, findings=findings)


def _journal(ctx: Context, verdict: Verdict, stage: Stage, key: str) -> None:
    kernel = ctx.execution.kernel
    for name, action, reasons in verdict.by_guardrail():
        # journaled once: a replay finds the trip of the first pass
        kernel.once(
            (key, name, stage),
            TripEvent(key=key, guardrail=name, stage=stage, action=action, reasons=reasons),
        )
