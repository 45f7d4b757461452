"""An agent's governance keys in a spec: approval rules, a budget and guardrails.

They mirror :class:`~podium.policy.ApprovalRule`, :class:`~podium.budget.Budget` and the
constructors of :mod:`podium.guardrails`; a key left out keeps the constructor's default. A
guardrail is a mapping with one key that says what it is (``{pii: {...}}``), as a node is, except
``{function: "module:fn", ...}`` whose options sit beside the import path.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Discriminator, Field, Tag, ValidationInfo, model_validator

from podium.guardrails._pii import KINDS as PII_KINDS
from podium.spec.fields import (
    AgentName,
    ImportPath,
    OutputType,
    Role,
    Seconds,
    SpecModel,
    check_escalation,
    problem,
)
from podium.spec.resolve import ImportProblem, resolve
from podium.tools import Tool

PositiveInt = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]
Amount = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Text = Annotated[str, Field(min_length=1)]
Untrusted = Literal["approve", "refuse", "allow"]
StageName = Literal["input", "output", "message", "tool_args"]
AnyAction = Literal["block", "redact", "flag"]
BlockOrFlag = Literal["block", "flag"]


def _short(ref: str) -> str:
    """How an agent's tool is named in ``approvals``: ``lookup`` or ``"module:lookup"``."""
    return ref.rpartition(":")[2].rpartition(".")[2]


def _tool_names(refs: list[str], info: ValidationInfo) -> set[str]:
    """The names the agent's tools give themselves (``@tool(name=...)``), once imported."""
    context = info.context if isinstance(info.context, dict) else {}
    paths = context.get("tool_paths") or {}
    names: set[str] = set()
    for ref in refs if context.get("imports") else ():
        path = ref if ":" in ref else paths.get(ref)
        with contextlib.suppress(ImportProblem):
            tool = resolve(path) if isinstance(path, str) else None
            names.update([tool.name] if isinstance(tool, Tool) else [])
    return names


def _approval_tool(value: str, info: ValidationInfo) -> str:
    tools = info.data.get("tools")
    checked = isinstance(info.context, dict) and "names" in info.context  # else: shape only
    if not checked or not isinstance(tools, list):  # or the tools are wrong, and reported
        return value
    if any(value in (ref, _short(ref)) for ref in tools):
        return value
    names = _tool_names(tools, info)
    if value in names:
        return value
    choices = {_short(ref) for ref in tools} | names
    hint = f"the agent's tools: {', '.join(sorted(choices))}" if choices else "it has no tools"
    message = f"approval rule for {value!r}, which is not a tool of this agent"
    raise problem("unknown_approval_tool", message, name=value, choices=choices, hint=hint)


ApprovalTool = Annotated[
    str,
    Field(description="A tool of the agent: as its `tools` names it, or the tool's own name"),
    AfterValidator(_approval_tool),
]


def _pii_kind(value: str) -> str:
    if value not in PII_KINDS:
        hint = f"kinds: {', '.join(PII_KINDS)}"
        message = f"unknown PII kind {value!r}"
        raise problem("pii_kind", message, name=value, choices=PII_KINDS, hint=hint)
    return value


PIIKind = Annotated[
    str, Field(json_schema_extra={"enum": list(PII_KINDS)}), AfterValidator(_pii_kind)
]


class ApprovalRuleSpec(SpecModel):
    """When a call to the tool waits for a person (a ``podium.policy.ApprovalRule``)."""

    role: Role | None = Field(default=None, description="Who may decide; default 'approver'")
    when: ImportPath | None = Field(
        default=None, description="A function (arguments) -> bool; default: every call"
    )
    expires_after: Seconds | None = Field(default=None, description="Default: never")
    on_expiry: Literal["deny", "escalate"] | None = Field(default=None, description="Default deny")
    escalate_to: Role | None = Field(default=None, description="The role asked after expiry")
    reason: str | None = Field(default=None, description="Shown to the approver")

    @model_validator(mode="after")
    def _escalation(self) -> Self:
        check_escalation(self.on_expiry, self.escalate_to, self.expires_after)
        return self


class BudgetSpec(SpecModel):
    """What one run of the agent may spend (a ``podium.budget.Budget``); unset is unlimited."""

    tokens: Count | None = None
    cost_usd: Amount | None = None
    wall_seconds: Amount | None = None
    steps: Count | None = None
    fan_out: Count | None = None
    depth: Count | None = None


class NamespaceBudgetSpec(SpecModel):
    """What all runs of the namespace may spend together, held in the store before each model
    call (a namespace budget: ``podium.runtime.tenant_budget``); unset is unlimited."""

    tokens: Count | None = None
    cost_usd: Amount | None = None


def _stages_tag(value: Any) -> str | None:
    return "<one>" if isinstance(value, str) else "<list>" if isinstance(value, list) else None


Stages = Annotated[
    Annotated[StageName, Tag("<one>")]
    | Annotated[list[StageName], Field(min_length=1), Tag("<list>")],
    Discriminator(
        _stages_tag,
        custom_error_type="stages",
        custom_error_message="stages is input, output, message, tool_args or a list of them",
    ),
]


class _Options(SpecModel):
    stages: Stages | None = Field(default=None, description="Default: every stage")
    name: Text | None = Field(default=None, description="Default: the kind")


class PIIOptions(_Options):
    kinds: Annotated[list[PIIKind], Field(min_length=1)] | None = Field(
        default=None, description="Default: every kind"
    )
    action: AnyAction | None = Field(default=None, description="Default 'redact'")


class PromptInjectionOptions(_Options):
    threshold: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = Field(
        default=None, description="Default 1.0"
    )
    action: AnyAction | None = Field(default=None, description="Default 'flag'")


class MaxSizeOptions(_Options):
    max_chars: PositiveInt | None = None
    max_items: PositiveInt | None = None
    action: BlockOrFlag | None = Field(default=None, description="Default 'block'")


class SchemaOptions(_Options):
    type: OutputType = Field(description="What the value must validate as")
    action: BlockOrFlag | None = Field(default=None, description="Default 'block'")


class DenyListOptions(_Options):
    terms: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list, description="Regular expressions")
    field: str | None = Field(default=None, description="A dotted path; default: every string")
    ignore_case: bool | None = Field(default=None, description="Default true")
    whole_words: bool | None = Field(default=None, description="Default true")
    action: AnyAction | None = Field(default=None, description="Default 'block'")


class AllowListOptions(_Options):
    values: list[str | int | float | bool] = Field(default_factory=list)
    patterns: list[str] = Field(
        default_factory=list, description="Regular expressions, fully matched"
    )
    email_domains: list[Text] = Field(default_factory=list, description="Emails at these domains")
    field: str | None = Field(default=None, description="A dotted path; default: every leaf")
    ignore_case: bool | None = Field(default=None, description="Default true")
    action: AnyAction | None = Field(default=None, description="Default 'block'")


class JudgeOptions(_Options):
    agent: AgentName = Field(description="The agent that judges; it answers {safe, reason}")
    action: BlockOrFlag | None = Field(default=None, description="Default 'block'")


class PIIGuard(SpecModel):
    pii: PIIOptions


class PromptInjectionGuard(SpecModel):
    prompt_injection: PromptInjectionOptions


class MaxSizeGuard(SpecModel):
    max_size: MaxSizeOptions


class SchemaGuard(SpecModel):
    schema_: SchemaOptions = Field(alias="schema")


class DenyListGuard(SpecModel):
    deny_list: DenyListOptions


class AllowListGuard(SpecModel):
    allow_list: AllowListOptions


class JudgeGuard(SpecModel):
    judge: JudgeOptions


class FunctionGuard(_Options):
    function: ImportPath = Field(description="fn(value) or fn(value, stage) -> bool, str or None")
    action: BlockOrFlag | None = Field(default=None, description="Default 'block'")
    kind: Text | None = Field(default=None, description="Default 'custom'")


GUARD_TYPES: dict[str, type[SpecModel]] = {
    "pii": PIIGuard,
    "prompt_injection": PromptInjectionGuard,
    "max_size": MaxSizeGuard,
    "schema": SchemaGuard,
    "deny_list": DenyListGuard,
    "allow_list": AllowListGuard,
    "function": FunctionGuard,
    "judge": JudgeGuard,
}


def guard_kind(value: Any) -> str | None:
    """The tag of a guardrail mapping: its one key that names a guardrail kind."""
    if not isinstance(value, dict):
        return None
    kinds = [key for key in value if key in GUARD_TYPES]
    return f"<{kinds[0]}>" if len(kinds) == 1 else None


GuardrailSpec = Annotated[
    Annotated[PIIGuard, Tag("<pii>")]
    | Annotated[PromptInjectionGuard, Tag("<prompt_injection>")]
    | Annotated[MaxSizeGuard, Tag("<max_size>")]
    | Annotated[SchemaGuard, Tag("<schema>")]
    | Annotated[DenyListGuard, Tag("<deny_list>")]
    | Annotated[AllowListGuard, Tag("<allow_list>")]
    | Annotated[FunctionGuard, Tag("<function>")]
    | Annotated[JudgeGuard, Tag("<judge>")],
    Discriminator(
        guard_kind, custom_error_type="guardrail_kind", custom_error_message="not a guardrail"
    ),
]

__all__ = [
    "GUARD_TYPES",
    "ApprovalRuleSpec",
    "ApprovalTool",
    "BudgetSpec",
    "GuardrailSpec",
    "Text",
    "Untrusted",
    "guard_kind",
]
