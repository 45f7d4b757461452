"""Guardrails: pure checks on what goes into and comes out of agents and tools.

The runtime runs them at four stages: ``input`` (a run's or an agent's input), ``output`` (an
agent's final output), ``message`` (text passed between agents: a handoff, a worker's result)
and ``tool_args`` (a tool call's arguments). Each guardrail answers a :class:`Verdict`:
``pass``, ``flag`` (note it and go on), ``redact`` (go on with the repaired value) or ``block``
(stop; the runtime raises :class:`GuardrailTripped`). :func:`run_guardrails` applies a list in
order: redactions compose, a block stops at once.

>>> verdict = run_guardrails(
...     [PII(), DenyList(["confidential"], action="redact")],
...     {"body": "Confidential: call +44 20 7946 0958"},
...     "tool_args",
... )
>>> verdict.action, verdict.value
('redact', {'body': '[REDACTED:denied_term]: call [REDACTED:phone]'})
>>> [finding.message for finding in verdict.findings]
['phone number at arguments.body', 'denied term at arguments.body']

Findings say what was found and where (``arguments.body``, ``input.items[2]``), never the
matched text, so they can be journaled and shown safely. Nothing here does I/O or calls a
model: :class:`JudgeGuardrail` only holds the configuration of a check the runtime performs
with an agent.
"""

from podium.guardrails._checks import AllowList, DenyList, MaxSize, Schema
from podium.guardrails._core import (
    STAGES,
    Action,
    Finding,
    Guardrail,
    GuardrailSpecError,
    GuardrailTripped,
    Outcome,
    Stage,
    Verdict,
    run_guardrails,
)
from podium.guardrails._function import FunctionGuardrail, GuardResult, JudgeGuardrail, guardrail
from podium.guardrails._injection import PromptInjection
from podium.guardrails._pii import PII, iban_valid, luhn_valid

__all__ = [
    "PII",
    "STAGES",
    "Action",
    "AllowList",
    "DenyList",
    "Finding",
    "FunctionGuardrail",
    "GuardResult",
    "Guardrail",
    "GuardrailSpecError",
    "GuardrailTripped",
    "JudgeGuardrail",
    "MaxSize",
    "Outcome",
    "PromptInjection",
    "Schema",
    "Stage",
    "Verdict",
    "guardrail",
    "iban_valid",
    "luhn_valid",
    "run_guardrails",
]
