"""The spec document: models, tools, agents, limits and the workflow tree, as pydantic models.

The published JSON Schema (``schema/podium-spec.schema.json``, ``podium schema``) is generated
from these models, so an editor completes and checks exactly what the loader accepts.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag

from podium.spec.fields import (
    MODEL_STRING_PATTERN,
    ImportPath,
    MCPServerRef,
    ModelRef,
    Name,
    OutputType,
    SpecModel,
    ToolRef,
    exact_int,
)
from podium.spec.governance import (
    ApprovalRuleSpec,
    ApprovalTool,
    BudgetSpec,
    GuardrailSpec,
    NamespaceBudgetSpec,
    Text,
    Untrusted,
)
from podium.spec.mcp import MCPServerSpec
from podium.spec.nodes import Node, PositiveInt

NonNegativeInt = Annotated[int, Field(ge=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


class ModelImport(SpecModel):
    import_: ImportPath = Field(
        alias="import",
        description="A podium.models.Model, or a function of no arguments that returns one",
    )


def _model_tag(value: Any) -> str | None:
    return "<string>" if isinstance(value, str) else "<import>" if isinstance(value, dict) else None


ModelDef = Annotated[
    Annotated[
        Annotated[str, Field(pattern=MODEL_STRING_PATTERN, description="'provider:model'")],
        Tag("<string>"),
    ]
    | Annotated[ModelImport, Tag("<import>")],
    Discriminator(
        _model_tag,
        custom_error_type="model_def",
        custom_error_message="a model is 'provider:model' or {import: 'module:attribute'}",
    ),
]
AgentModel = Annotated[
    Annotated[ModelRef, Tag("<string>")] | Annotated[ModelImport, Tag("<import>")],
    Discriminator(
        _model_tag,
        custom_error_type="model_def",
        custom_error_message="a model is a name in `models`, 'provider:model' or {import: ...}",
    ),
]


class Settings(SpecModel):
    """Model settings sent with every request of the agent."""

    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    max_tokens: PositiveInt | None = None
    timeout: Annotated[float, Field(gt=0)] | None = Field(default=None, description="Seconds")


class Retry(SpecModel):
    """Retries of failed model calls (exponential backoff with jitter)."""

    max_attempts: PositiveInt = 3
    initial_delay: NonNegativeFloat = 0.5
    max_delay: NonNegativeFloat = 30.0
    multiplier: Annotated[float, Field(ge=1)] = 2.0
    jitter: bool = True


class ContextSpec(SpecModel):
    """How the agent's conversation is kept inside its model's window (see docs/memory.md)."""

    max_tokens: PositiveInt = Field(description="The window: no request is sent above it")
    keep_last_turns: PositiveInt | None = Field(
        default=None, description="Keep at most the last N turns (older: dropped or summarised)"
    )
    keep_tool_results: PositiveInt | None = Field(
        default=None, description="Tool results older than the last N turns become a placeholder"
    )
    summarize_with: AgentModel | None = Field(
        default=None, description="A (cheap) model that summarises the dropped turns"
    )
    summary_tokens: PositiveInt = Field(default=512, description="The summary's size limit")
    compact_to: Annotated[float, Field(ge=0.1, le=1.0)] = Field(
        default=0.6, description="Compaction trims down to this fraction of max_tokens"
    )


class AgentSpec(SpecModel):
    """An agent; its name is its key in `agents`."""

    model: AgentModel
    instructions: str = ""
    tools: list[ToolRef] = Field(default_factory=list)
    mcp: list[MCPServerRef] = Field(
        default_factory=list, description="Names in `mcp_servers` whose tools it may use"
    )
    output_type: OutputType | None = Field(default=None, description="Default: plain text")
    max_turns: PositiveInt | None = Field(default=None, description="Default limits.max_turns")
    output_retries: NonNegativeInt | None = Field(
        default=None, description="Default limits.output_retries"
    )
    settings: Settings | None = None
    retry: Retry | None = None
    identity: Text | None = Field(
        default=None, description="Who the agent is in the journal and to approvers; default: name"
    )
    scopes: list[Text] = Field(
        default_factory=list, description="Granted scopes; a tool needing another is not shown"
    )
    untrusted: Untrusted | None = Field(
        default=None,
        description="Consequential calls after untrusted content: approve (default), refuse, allow",
    )
    approvals: dict[ApprovalTool, ApprovalRuleSpec] = Field(
        default_factory=dict, description="tool -> when a call to it waits for a person"
    )
    budget: BudgetSpec | None = Field(default=None, description="What one run of it may spend")
    guardrails: list[GuardrailSpec] = Field(
        default_factory=list, description="Checks on input, output, messages and tool arguments"
    )
    context: ContextSpec | None = Field(
        default=None, description="Context-window policy: budget, pruning, summaries"
    )


class Limits(SpecModel):
    """Defaults for every agent and fan-out that does not set its own."""

    max_turns: PositiveInt = Field(default=10, description="Model turns per agent run")
    output_retries: NonNegativeInt = Field(default=2, description="Re-asks for invalid output")
    max_concurrency: PositiveInt | None = Field(
        default=None, description="Branches run at once by parallel and map (default: all)"
    )


class SpecDocument(SpecModel):
    """A Podium spec: what the workflow is made of and how it is wired."""

    version: Annotated[Literal[1], BeforeValidator(exact_int)] = Field(
        description="The spec format version; 1"
    )
    description: str = ""
    models: dict[Name, ModelDef] = Field(default={}, description="Named models agents refer to")
    tools: dict[Name, ImportPath] = Field(default={}, description="Named tools: 'module:tool'")
    mcp_servers: dict[Name, MCPServerSpec] = Field(
        default_factory=dict, description="MCP servers whose tools agents list at run time"
    )
    agents: dict[Name, AgentSpec] = Field(default_factory=dict)
    limits: Limits = Limits()
    namespace_budget: NamespaceBudgetSpec | None = Field(
        default=None,
        description="What all runs of the run's namespace may spend together (tokens, cost_usd)",
    )
    workflow: Node = Field(description="The root node: an agent, a function or a pattern")


def schema_text() -> str:
    """The JSON Schema as published in ``schema/podium-spec.schema.json``."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a spec file, for editors and other tools."""
    schema = SpecDocument.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "Podium spec",
    }


__all__ = ["AgentSpec", "Limits", "ModelImport", "SpecDocument", "json_schema", "schema_text"]
