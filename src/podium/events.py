"""The journal vocabulary: everything that happens in a run, as frozen events.

Every event is a frozen, kw-only dataclass with a ``type`` discriminator; :data:`Event` is
their union and :func:`encode`/:func:`decode` the one serializer. Stored rows carry
:data:`SCHEMA_VERSION`; older versions are upgraded in :func:`decode`.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, JsonValue, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from podium.messages import ModelResponse
from podium.types import Effect, Resolution

SCHEMA_VERSION = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class ErrorFrame:
    """One frame of a journaled traceback: where, not what (no source text, no locals)."""

    file: str
    line: int
    function: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ErrorInfo:
    type: str
    message: str
    node: str | None = None  # the innermost node path the error came out of, if any
    # where it was raised: the innermost frames of the application's code (Podium's own and
    # the event loop's frames left out), outermost first; at most MAX_FRAMES
    frames: tuple[ErrorFrame, ...] = ()

    @classmethod
    def of(cls, error: BaseException, *, redact: Callable[[str], str] | None = None) -> ErrorInfo:
        """The journal's view of ``error``; ``redact`` rewrites the message (known secrets)."""
        node = getattr(error, "podium_node", None)
        message = str(error)
        return cls(
            type=type(error).__name__,
            message=redact(message) if redact is not None else message,
            node=node if isinstance(node, str) else None,
            frames=error_frames(error),
        )

    def traceback(self) -> list[str]:
        """The frames as Python prints them, then the error: for ``show``, ``logs``, --debug."""
        lines = ["Traceback (innermost application frames, most recent call last):"]
        for frame in self.frames:
            lines.append(f'  File "{frame.file}", line {frame.line}, in {frame.function}')
        return [*lines, f"{self.type}: {self.message}"] if self.frames else []

    def describe(self) -> str:
        """``Type: message (at path)``: one line for run lists and errors."""
        where = f" (at {self.node})" if self.node else ""
        return f"{self.type}: {self.message}{where}"


MAX_FRAMES = 8
_PODIUM = str(Path(__file__).resolve().parent) + os.sep
_MACHINERY = (_PODIUM, os.sep + "anyio" + os.sep, os.sep + "asyncio" + os.sep)


def error_frames(error: BaseException) -> tuple[ErrorFrame, ...]:
    """The clipped traceback of ``error``: its innermost frames outside Podium and the event
    loop (else, for an error Podium raised itself, its innermost three), paths shortened."""
    frames = traceback.extract_tb(error.__traceback__)
    own = [f for f in frames if not f.filename.startswith(_MACHINERY[0])]
    kept = [f for f in own if not any(part in f.filename for part in _MACHINERY[1:])]
    chosen = kept[-MAX_FRAMES:] if kept else frames[-3:]
    return tuple(
        ErrorFrame(file=_short_path(f.filename), line=f.lineno or 0, function=f.name)
        for f in chosen
    )


def _short_path(filename: str) -> str:
    """Relative to the working directory when inside it; from the package on when installed."""
    marker = os.sep + "site-packages" + os.sep
    if marker in filename:
        return filename.split(marker, 1)[1]
    try:
        return os.path.relpath(filename) if filename.startswith(os.getcwd() + os.sep) else filename
    except ValueError:
        return filename


# --- run lifecycle -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class RunStarted:
    workflow: str  # import reference ("module:object") or name
    input: JsonValue
    namespace: str = "default"
    tags: tuple[str, ...] = ()
    parent_run_id: str | None = None
    budget: JsonValue = None  # the run's budget limits (podium.budget.Budget fields)
    started_at: float | None = None  # on the runtime's clock (wall-time budgets)
    # a fork (Runtime.fork): the run it was forked from, the step or node it was forked at, and
    # how many events after this one it carried over from that run's journal (seq 2..carried+1)
    forked_from: str | None = None
    fork_point: str | None = None
    carried: int = 0
    type: Literal["run_started"] = "run_started"


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionStarted:
    """An executor claimed the run; a later claim by another owner fences this one out."""

    owner: str
    resumed: bool = False
    type: Literal["execution_started"] = "execution_started"


@dataclass(frozen=True, kw_only=True, slots=True)
class RunSuspended:
    reason: str
    waiting_for: str = ""
    wake_at: float | None = None
    needs_attention: bool = False  # an unknown step waits for a person
    at: str = ""  # the key of the step that suspended (what ctx.patched reads as "reached")
    type: Literal["run_suspended"] = "run_suspended"


@dataclass(frozen=True, kw_only=True, slots=True)
class SignalReceived:
    name: str
    payload: JsonValue = None
    by: str = ""
    type: Literal["signal_received"] = "signal_received"


@dataclass(frozen=True, kw_only=True, slots=True)
class RunCompleted:
    output: JsonValue
    type: Literal["run_completed"] = "run_completed"


@dataclass(frozen=True, kw_only=True, slots=True)
class RunFailed:
    error: ErrorInfo
    type: Literal["run_failed"] = "run_failed"


@dataclass(frozen=True, kw_only=True, slots=True)
class RunCancelled:
    reason: str = ""
    by: str = ""
    type: Literal["run_cancelled"] = "run_cancelled"


# --- nodes ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeStarted:
    path: str
    kind: str  # "agent", "workflow", "function", later the pattern names
    type: Literal["node_started"] = "node_started"


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeFinished:
    path: str
    output: JsonValue = None
    error: ErrorInfo | None = None
    type: Literal["node_finished"] = "node_finished"


# --- steps ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class StepCompleted:
    """A generic step (function, clock, random, sleep, signal wait) and its JSON result."""

    key: str
    kind: str
    result: JsonValue
    type: Literal["step_completed"] = "step_completed"


@dataclass(frozen=True, kw_only=True, slots=True)
class StepFailed:
    key: str
    kind: str
    error: ErrorInfo
    type: Literal["step_failed"] = "step_failed"


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelCallCompleted:
    key: str
    model: str  # the model the agent asked for; response.model_name says who answered
    request_digest: str
    response: ModelResponse
    duration_ms: float = 0.0
    cost_usd: float | None = None  # from the price table; None: the model has no price
    type: Literal["model_call_completed"] = "model_call_completed"


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelCallFailed:
    """One failed attempt (retried, failed over, or final). ``response`` is what the provider
    answered when an answer arrived but was refused (e.g. negative usage), kept for audit."""

    key: str
    model: str
    attempt: int
    error: ErrorInfo
    status_code: int | None = None
    retry_after: float | None = None
    retryable: bool = False
    response: ModelResponse | None = None
    type: Literal["model_call_failed"] = "model_call_failed"


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolCallIntent:
    """Committed before an ``at_most_once`` tool runs."""

    key: str
    tool: str
    call_id: str
    arguments: JsonValue
    idempotency_key: str
    type: Literal["tool_call_intent"] = "tool_call_intent"


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolAttemptFailed:
    key: str
    tool: str
    attempt: int
    error: ErrorInfo
    type: Literal["tool_attempt_failed"] = "tool_attempt_failed"


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolCallCompleted:
    """A tool call's outcome; ``is_error`` results went back to the model as errors."""

    key: str
    tool: str
    call_id: str
    effect: Effect
    arguments: JsonValue
    result: JsonValue
    is_error: bool = False
    error_type: str | None = None
    attempts: int = 1
    duration_ms: float = 0.0
    type: Literal["tool_call_completed"] = "tool_call_completed"


@dataclass(frozen=True, kw_only=True, slots=True)
class StepUnknown:
    """An ``at_most_once`` step has an intent and no result: it may or may not have happened."""

    key: str
    tool: str
    type: Literal["step_unknown"] = "step_unknown"


@dataclass(frozen=True, kw_only=True, slots=True)
class StepResolved:
    """A person decided what an unknown step is: retry it, skip it (with a result), or fail it."""

    key: str
    action: Resolution
    result: JsonValue = None
    by: str = ""
    comment: str = ""
    type: Literal["step_resolved"] = "step_resolved"


# --- governance ------------------------------------------------------------------------------

ApprovalKind = Literal["tool", "approval", "input"]
Decision = Literal["approved", "rejected", "answered", "expired", "escalated"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ApprovalRequested:
    """A person must decide before ``key`` can go on; the run suspends meanwhile.

    ``digest`` binds the request to the exact action (tool + canonical arguments, or the
    approval node's prompt + input); a decision for another digest is refused.
    """

    key: str
    approval_id: str
    kind: ApprovalKind
    subject: str  # the tool, or the approval/input node
    action: JsonValue
    digest: str
    role: str  # who may decide
    requested_by: str  # the agent identity (or node path) that asked
    reason: str = ""
    provenance: tuple[str, ...] = ()  # untrusted sources in that agent's context
    expires_at: float | None = None
    on_expiry: Literal["deny", "escalate"] = "deny"
    escalate_to: str | None = None
    answer_schema: JsonValue = None
    type: Literal["approval_requested"] = "approval_requested"


@dataclass(frozen=True, kw_only=True, slots=True)
class ApprovalDecided:
    approval_id: str
    key: str = ""  # the step it unblocks
    decision: Decision
    digest: str
    by: str
    role: str = ""
    comment: str = ""
    answer: JsonValue = None
    type: Literal["approval_decided"] = "approval_decided"


@dataclass(frozen=True, kw_only=True, slots=True)
class GuardrailTripped:
    """A guardrail found something: what it did (block, redact, flag) and why (no matched text)."""

    key: str  # the step or node it guarded
    guardrail: str
    stage: str  # input, output, message, tool_args
    action: str
    reasons: tuple[str, ...]
    type: Literal["guardrail_tripped"] = "guardrail_tripped"


Event = Annotated[
    RunStarted
    | ExecutionStarted
    | RunSuspended
    | SignalReceived
    | RunCompleted
    | RunFailed
    | RunCancelled
    | NodeStarted
    | NodeFinished
    | StepCompleted
    | StepFailed
    | ModelCallCompleted
    | ModelCallFailed
    | ToolCallIntent
    | ToolAttemptFailed
    | ToolCallCompleted
    | StepUnknown
    | StepResolved
    | ApprovalRequested
    | ApprovalDecided
    | GuardrailTripped,
    Field(discriminator="type"),
]

StepResult = StepCompleted | StepFailed | ModelCallCompleted | ToolCallCompleted
TERMINAL_TYPES = frozenset({"run_completed", "run_failed", "run_cancelled"})

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event, config=ConfigDict(ser_json_inf_nan="constants"))
# the union's serializer, not one per event class: matching the union is what refuses a set or
# bytes in a JSON field (a class's own serializer would write them as a list or a string)
_SERIALIZER = _ADAPTER.serializer


def encode(event: Event) -> str:
    """The one serializer: an event as compact JSON text.

    Raises ``ValueError`` for anything that is not plain JSON (sets, bytes, objects, NaN and
    infinities) instead of coercing it silently.
    """
    try:  # the union's serializer itself (the adapter's dump_json is a Python layer on it)
        raw = _SERIALIZER.to_json(event, warnings="error")
    except PydanticSerializationError as error:
        raise ValueError(str(error).splitlines()[0]) from None
    if b"NaN" in raw or b"Infinity" in raw:  # cheap screen; confirm outside strings
        json.loads(raw, parse_constant=_no_constant)
    return raw.decode()


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def decode(body: str | bytes, version: int = SCHEMA_VERSION) -> Event:
    """Parse a stored event. Raises ``ValueError`` with the reason if it cannot be read."""
    if version > SCHEMA_VERSION:
        raise ValueError(f"event schema v{version} is newer than this Podium (v{SCHEMA_VERSION})")
    try:
        return _ADAPTER.validate_json(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{first['msg']} at {where or 'top level'}") from None


def event_type(event: Event) -> str:
    return event.type


__all__ = [
    "SCHEMA_VERSION",
    "TERMINAL_TYPES",
    "ApprovalDecided",
    "ApprovalKind",
    "ApprovalRequested",
    "Decision",
    "ErrorFrame",
    "ErrorInfo",
    "Event",
    "ExecutionStarted",
    "GuardrailTripped",
    "ModelCallCompleted",
    "ModelCallFailed",
    "NodeFinished",
    "NodeStarted",
    "RunCancelled",
    "RunCompleted",
    "RunFailed",
    "RunStarted",
    "RunSuspended",
    "SignalReceived",
    "StepCompleted",
    "StepFailed",
    "StepResolved",
    "StepResult",
    "StepUnknown",
    "ToolAttemptFailed",
    "ToolCallCompleted",
    "ToolCallIntent",
    "decode",
    "encode",
    "event_type",
]
