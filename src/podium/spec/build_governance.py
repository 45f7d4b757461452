"""An agent's governance keys to the objects ``podium.Agent`` takes: approval rules, a budget,
guardrails, identity, scopes and the untrusted-content policy.

Like the rest of the build, each part that fails is reported at its own path and comes back as
:data:`~podium.spec.build.MISSING`; the agent is built only if none did.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from podium.budget import Budget
from podium.guardrails import (
    PII,
    AllowList,
    DenyList,
    FunctionGuardrail,
    JudgeGuardrail,
    MaxSize,
    PromptInjection,
    Schema,
)
from podium.policy import ApprovalRule
from podium.spec.build import MISSING, Builder, Failed, options
from podium.spec.errors import Path
from podium.spec.governance import (
    AllowListOptions,
    ApprovalRuleSpec,
    DenyListOptions,
    FunctionGuard,
    JudgeOptions,
    MaxSizeOptions,
    PIIOptions,
    PromptInjectionOptions,
    SchemaOptions,
)
from podium.spec.schema import AgentSpec
from podium.tools import Tool


def agent_options(b: Builder, spec: AgentSpec, at: Path, tools: list[Tool]) -> dict[str, Any]:
    """The governance keyword arguments of ``Agent`` that the spec sets."""
    approvals = {
        key: b.attempt(_rule, b, rule, (*at, "approvals", key))
        for key, rule in spec.approvals.items()
    }
    guardrails = [
        b.attempt(_guardrail, b, guard, (*at, "guardrails", i))
        for i, guard in enumerate(spec.guardrails)
    ]
    return options(
        identity=spec.identity,
        scopes=frozenset(spec.scopes) or None,
        untrusted=spec.untrusted,
        approvals=b.attempt(_by_tool, b, approvals, spec.tools, tools, (*at, "approvals")) or None,
        guardrails=guardrails or None,
        budget=Budget(**spec.budget.model_dump()) if spec.budget else None,
    )


# -- approval rules ------------------------------------------------------------------------


def _rule(b: Builder, spec: ApprovalRuleSpec, at: Path) -> ApprovalRule:
    when = b.optional(b.callable, spec.when, (*at, "when"))
    b.require(when)
    settings = options(
        when=when,
        role=spec.role,
        expires_after=spec.expires_after,
        on_expiry=spec.on_expiry,
        escalate_to=spec.escalate_to,
        reason=spec.reason,
    )
    return b.construct(at, ApprovalRule, **settings)


def _short(ref: str) -> str:
    return ref.rpartition(":")[2].rpartition(".")[2]


def _name(tool: Tool) -> str | None:
    return None if tool is MISSING else tool.name


def _by_tool(
    b: Builder, rules: dict[str, Any], refs: list[str], tools: list[Tool], at: Path
) -> dict[str, ApprovalRule]:
    """Rules keyed by the agent's tools as the spec names them, re-keyed by ``Tool.name``."""
    by_name: dict[str, ApprovalRule] = {}
    written: dict[str, str] = {}
    for key, rule in rules.items():
        pairs = zip(refs, tools, strict=True)
        tool = next((t for ref, t in pairs if key in (ref, _short(ref), _name(t))), MISSING)
        if tool is MISSING or rule is MISSING:
            raise Failed(key)  # reported where the tool or the rule is
        if tool.name in written:
            message = (
                f"a second rule for tool {tool.name!r} (first written as {written[tool.name]!r})"
            )
            raise b.fail((*at, key), message, at_key=True)
        written[tool.name] = key
        by_name[tool.name] = rule
    return by_name


# -- guardrails ----------------------------------------------------------------------------


def _guardrail(b: Builder, spec: Any, at: Path) -> Any:
    if isinstance(spec, FunctionGuard):
        return _function(b, spec, at)
    field, info = next(iter(type(spec).model_fields.items()))
    kind = info.alias or field
    return _GUARDS[kind](b, getattr(spec, field), (*at, kind))


def _common(spec: Any, **more: Any) -> dict[str, Any]:
    return options(stages=spec.stages, name=spec.name, action=spec.action, **more)


def _pii(b: Builder, spec: PIIOptions, at: Path) -> PII:
    return b.construct(at, PII, **_common(spec, kinds=spec.kinds))


def _injection(b: Builder, spec: PromptInjectionOptions, at: Path) -> PromptInjection:
    return b.construct(at, PromptInjection, **_common(spec, threshold=spec.threshold))


def _max_size(b: Builder, spec: MaxSizeOptions, at: Path) -> MaxSize:
    sizes = {"max_chars": spec.max_chars, "max_items": spec.max_items}
    return b.construct(at, MaxSize, **_common(spec, **sizes))


def _schema(b: Builder, spec: SchemaOptions, at: Path) -> Schema:
    model = b.output_type(spec.type, (*at, "type"))
    return b.construct(at, Schema, model, **_common(spec))


def _deny_list(b: Builder, spec: DenyListOptions, at: Path) -> DenyList:
    flags = {"field": spec.field, "ignore_case": spec.ignore_case, "whole_words": spec.whole_words}
    settings = _common(spec, patterns=spec.patterns, **flags)
    return b.construct(at, DenyList, spec.terms, **settings)


def _allow_list(b: Builder, spec: AllowListOptions, at: Path) -> AllowList:
    settings = _common(spec, field=spec.field, ignore_case=spec.ignore_case)
    patterns: list[str | re.Pattern[str]] = list(spec.patterns)
    if spec.email_domains:
        emails = b.construct(at, AllowList.email_domains, *spec.email_domains, **settings)
        patterns = [*emails.patterns, *patterns]
    return b.construct(at, AllowList, spec.values, patterns=patterns, **settings)


def _judge(b: Builder, spec: JudgeOptions, at: Path) -> JudgeGuardrail:
    agent = b.built_agent(spec.agent, (*at, "agent"))
    return b.construct(at, JudgeGuardrail, agent, **_common(spec))


def _function(b: Builder, spec: FunctionGuard, at: Path) -> Any:
    at = (*at, "function")
    obj = b.resolve(spec.function, at)
    settings = _common(spec, kind=spec.kind)
    if isinstance(obj, FunctionGuardrail):  # @guardrail: the spec's options win over its own
        mine = {"name": obj.name, "stages": obj.stages, "action": obj.action, "kind": obj.kind}
        return b.construct(at, FunctionGuardrail, obj.fn, **{**mine, **settings})
    ready = isinstance(obj, JudgeGuardrail) or (hasattr(obj, "check") and hasattr(obj, "stages"))
    if ready and not isinstance(obj, type):
        if settings:
            keys = ", ".join(settings)
            raise b.fail(at, f"{spec.function!r} is a guardrail already: set {keys} in Python")
        return obj
    if not callable(obj) or isinstance(obj, type):
        raise b.fail(at, f"{spec.function!r} is not a function nor a guardrail")
    return b.construct(at, FunctionGuardrail, obj, **settings)


_GUARDS: dict[str, Callable[[Builder, Any, Path], Any]] = {
    "pii": _pii,
    "prompt_injection": _injection,
    "max_size": _max_size,
    "schema": _schema,
    "deny_list": _deny_list,
    "allow_list": _allow_list,
    "judge": _judge,
}

__all__ = ["agent_options"]
