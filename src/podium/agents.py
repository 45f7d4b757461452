"""Agent definitions: configuration only. The loop that runs them is in ``podium.runtime``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from podium.context_policy import ContextPolicy
from podium.errors import SpecError
from podium.messages import ModelSettings
from podium.models import Model
from podium.policy import ApprovalRule, UntrustedPolicy, scopes_of
from podium.retry import RetryPolicy
from podium.tools import Tool, Toolset

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True, kw_only=True, slots=True)
class Agent:
    """Instructions + model + tools + output type + limits.

    ``model`` is a :class:`~podium.models.Model` or a string such as ``openai:gpt-4.1-mini``
    (resolved when the agent first runs, wrapped in a :class:`~podium.models.RetryModel` with
    ``model_retry``). ``output_type`` is any type pydantic can validate (a ``BaseModel``, a
    dataclass, ``list[str]``...); ``None`` means plain text. An invalid structured output is
    sent back to the model with the validation error up to ``output_retries`` times.
    """

    name: str
    model: Model | str
    instructions: str = ""
    tools: Sequence[Tool] = ()
    toolsets: Sequence[Toolset] = ()  # tools listed when the agent runs (MCP servers)
    output_type: Any = None
    max_turns: int = 10
    output_retries: int = 2
    settings: ModelSettings = field(default_factory=ModelSettings)
    model_retry: RetryPolicy | None = None
    # governance: enforced by the runtime, outside the model (see docs/governance.md)
    identity: str = ""  # who this agent is in the journal and to approvers (default: name)
    scopes: frozenset[str] = frozenset()  # a tool needing a scope it lacks is not shown
    approvals: Mapping[str, ApprovalRule] = field(default_factory=dict)  # per tool, by policy
    untrusted: UntrustedPolicy = "approve"  # consequential calls after untrusted content
    guardrails: Sequence[Any] = ()  # podium.guardrails checks on input, output, tool args
    budget: Any = None  # a podium.budget.Budget for this agent (drawn from the run's)
    context: ContextPolicy | None = None  # the window kept before each model call

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise SpecError(f"agent name {self.name!r} must match {_NAME.pattern}")
        if isinstance(self.model, str) and ":" not in self.model:
            raise SpecError(
                f"agent {self.name!r}: model {self.model!r} must look like 'provider:model'"
            )
        names = [t.name for t in self.tools]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SpecError(f"agent {self.name!r}: duplicate tool names {duplicates}")
        if self.max_turns < 1:
            raise SpecError(f"agent {self.name!r}: max_turns must be >= 1")
        if self.output_retries < 0:
            raise SpecError(f"agent {self.name!r}: output_retries must be >= 0")
        object.__setattr__(self, "tools", tuple(self.tools))
        object.__setattr__(self, "toolsets", tuple(self.toolsets))
        object.__setattr__(self, "identity", self.identity or self.name)
        object.__setattr__(self, "scopes", scopes_of(self.scopes))
        object.__setattr__(self, "guardrails", tuple(self.guardrails))
        if self.untrusted not in ("approve", "refuse", "allow"):
            raise SpecError(
                f"agent {self.name!r}: untrusted must be 'approve', 'refuse' or 'allow'"
            )
        unknown = sorted(set(self.approvals) - set(names))
        if unknown and not self.toolsets:  # a toolset's tools are known when it is listed
            raise SpecError(f"agent {self.name!r}: approvals name unknown tools {unknown}")
        for rule in self.approvals.values():
            if not isinstance(rule, ApprovalRule):
                raise SpecError(f"agent {self.name!r}: approvals values must be ApprovalRule")

    def tool(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)

    def approval_for(self, tool: Tool) -> ApprovalRule | None:
        """The agent's policy for this tool wins over the tool's own rule."""
        return self.approvals.get(tool.name, tool.approval)


__all__ = ["Agent"]
