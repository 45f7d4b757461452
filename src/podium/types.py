"""Ids, aliases and small enums shared by every layer."""

from __future__ import annotations

import enum
import uuid
from typing import TypeAlias

from pydantic import JsonValue

__all__ = [
    "Effect",
    "JsonDict",
    "JsonValue",
    "Resolution",
    "RunId",
    "RunStatus",
    "StepKey",
    "new_run_id",
]

JsonDict: TypeAlias = dict[str, JsonValue]

RunId: TypeAlias = str
StepKey: TypeAlias = str


def new_run_id() -> RunId:
    """A fresh, sortable-enough, globally unique run id."""
    return "run_" + uuid.uuid4().hex[:20]


class Effect(enum.StrEnum):
    """What repeating a tool call does to the world.

    - ``read``: nothing; it may run again freely.
    - ``idempotent``: repeating it with the same idempotency key is harmless.
    - ``at_most_once``: an intent is journaled before it runs; a crash between intent and
      result leaves the step ``unknown`` and it is never retried automatically.
    """

    READ = "read"
    IDEMPOTENT = "idempotent"
    AT_MOST_ONCE = "at_most_once"


class RunStatus(enum.StrEnum):
    """Where a run is, as kept in the store's status index (derived from the journal)."""

    PENDING = "pending"  # runnable, nobody executing it
    RUNNING = "running"  # an executor claimed it
    SUSPENDED = "suspended"  # waiting for a signal or a timer; holds no task
    NEEDS_ATTENTION = "needs_attention"  # an at_most_once step is unknown
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


class Resolution(enum.StrEnum):
    """What a person decides for an ``unknown`` step."""

    RETRY = "retry"
    SKIP = "skip"
    FAIL = "fail"
