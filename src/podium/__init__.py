"""Podium: a self-hosted control plane for teams of AI agents.

Every run is a journal: each model call, tool call and decision is an event, a run resumes by
replaying it, and the same log is the audit trail, the trace and the cost ledger.
"""

from podium.agents import Agent
from podium.context_policy import ContextOverflow, ContextPolicy
from podium.errors import (
    ModelError,
    NonDeterminismError,
    PodiumError,
    RunNotFound,
    StepFailedError,
    ToolError,
    UserError,
)
from podium.messages import ModelRequest, ModelResponse, ModelSettings, ToolCall, Usage
from podium.models import (
    FallbackModel,
    Model,
    RateLimit,
    RetryModel,
    RetryPolicy,
    Router,
    Rule,
    infer_model,
)
from podium.runtime import Context, RunResult, Runtime, Workflow, run_sync, workflow
from podium.spec import load_spec  # also lets Runtime.resume reload runs started from YAML
from podium.store import MemoryStore, RunFilter, SQLiteStore, Store
from podium.tools import Tool, ToolContext, tool
from podium.types import Effect, Resolution, RunStatus

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "Context",
    "ContextOverflow",
    "ContextPolicy",
    "Effect",
    "FallbackModel",
    "MemoryStore",
    "Model",
    "ModelError",
    "ModelRequest",
    "ModelResponse",
    "ModelSettings",
    "NonDeterminismError",
    "PodiumError",
    "RateLimit",
    "Resolution",
    "RetryModel",
    "RetryPolicy",
    "Router",
    "Rule",
    "RunFilter",
    "RunNotFound",
    "RunResult",
    "RunStatus",
    "Runtime",
    "SQLiteStore",
    "StepFailedError",
    "Store",
    "Tool",
    "ToolCall",
    "ToolContext",
    "ToolError",
    "Usage",
    "UserError",
    "Workflow",
    "__version__",
    "infer_model",
    "load_spec",
    "run_sync",
    "tool",
    "workflow",
]
