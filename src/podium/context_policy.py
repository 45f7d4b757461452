"""Context policies: how an agent's conversation is kept inside its model's window.

Configuration only; the runtime applies it before every model call
(:mod:`podium.runtime.windowing`). See docs/memory.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from podium.errors import SpecError, UserError
from podium.models import Model

SUMMARY_PREFIX = "Summary of the earlier conversation:\n"


class ContextOverflow(UserError):
    """The pinned part of a conversation (system prompt, summary, pending task, the current
    turn's tool calls and results) alone does not fit the window."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ContextPolicy:
    """How an agent's messages are trimmed before each model call.

    - ``max_tokens``: the window; a request (messages, tool definitions, output schema) is never
      sent above it (counted by :func:`podium.tokens.count_tokens`: tiktoken for OpenAI models,
      else the documented estimate). When a request would exceed it, the oldest turns are
      dropped (or summarised) until it is under ``compact_to`` × ``max_tokens``, so compaction
      happens now and then, not on every call.
    - ``keep_last_turns``: keep at most the last N turns (a user message, or an assistant
      message with the results of its tool calls); older ones are dropped or summarised.
    - ``keep_tool_results``: the results of tool calls older than the last N turns are replaced
      by a short placeholder (the call and its result stay paired).
    - ``summarize_with``: a (cheap) model that folds the dropped turns into a running summary,
      kept as a system message after the system prompt. Each summary is a journaled model call,
      so a replay sees the same context.

    The system prompt and the pending task (the last user message) are never dropped, and a
    tool call is never separated from its result.
    """

    max_tokens: int
    keep_last_turns: int | None = None
    keep_tool_results: int | None = None
    summarize_with: Model | str | None = None
    summary_tokens: int = 512
    compact_to: float = 0.6

    def __post_init__(self) -> None:
        if self.max_tokens < 64:
            raise SpecError(f"context max_tokens must be >= 64, got {self.max_tokens}")
        for name in ("keep_last_turns", "keep_tool_results"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SpecError(f"context {name} must be >= 1, got {value}")
        if not 0.1 <= self.compact_to <= 1.0:
            raise SpecError(f"context compact_to must be in [0.1, 1], got {self.compact_to}")
        if self.summary_tokens < 16 or self.summary_tokens >= self.max_tokens:
            raise SpecError(
                f"context summary_tokens must be >= 16 and below max_tokens, "
                f"got {self.summary_tokens}"
            )
        model = self.summarize_with
        if isinstance(model, str) and ":" not in model:
            raise SpecError(f"context summarize_with {model!r} must look like 'provider:model'")


__all__ = ["SUMMARY_PREFIX", "ContextOverflow", "ContextPolicy"]
