"""The span tree a :class:`~podium.observability.tracing.JournalTracer` folds a run into: nodes
keyed by journal path, how a path finds its parent and owner, span names, and the (opt-in,
redacted) content attributes. Pure bookkeeping; the tracer does the OpenTelemetry calls."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry.trace import (
    Link,
    Span,
    SpanContext,
    TraceFlags,
)
from opentelemetry.util.types import AttributeValue

from podium.events import (
    ApprovalRequested,
    ErrorInfo,
    RunStarted,
)
from podium.guardrails import PII
from podium.messages import ModelResponse
from podium.observability.otel import (
    span_id_of,
    trace_id_of,
)

if TYPE_CHECKING:
    pass


_log = logging.getLogger(__name__)

Attributes = dict[str, AttributeValue]

# -- the fold ---------------------------------------------------------------------------------

_PII = PII()
_CONTENT_LIMIT = 16_384


class _Node:
    """A node of the span tree: the run itself (path ``""``) or a journal node."""

    __slots__ = (
        *("attributes", "ctx", "error", "key", "kind", "last"),
        *("parent", "path", "span", "start", "title"),
    )

    def __init__(self, path: str, kind: str, start: int, parent: _Node | None) -> None:
        self.path = path
        self.kind = kind
        self.start = start  # ns; lowered to its first child's start when the span opens
        self.parent = parent
        self.last = 0  # ns: the end of the latest thing under it
        self.key = f"node:{path}" if path else "run"
        self.title = ""
        self.attributes: Attributes = {}
        self.span: Span | None = None
        self.ctx: otel_context.Context | None = None
        self.error: ErrorInfo | None = None


class _Run:
    __slots__ = (
        *("approvals", "attempts", "cost", "emit", "input_tokens", "intents", "nodes"),
        *("output_tokens", "run_id", "seq", "started", "top", "trace_id"),
    )

    def __init__(self, run_id: str, start: int) -> None:
        self.run_id = run_id
        self.trace_id = trace_id_of(run_id)
        self.seq = 0
        self.emit = True
        self.top = _Node("", "workflow", start, None)
        self.nodes: dict[str, _Node] = {}  # open nodes by path
        self.attempts: dict[str, int] = {}  # model step key -> end of its last failed attempt
        self.intents: dict[str, int] = {}  # tool step key -> when its intent was committed
        self.approvals: dict[str, tuple[int, ApprovalRequested]] = {}
        self.started: RunStarted | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost = 0.0


def _parent(run: _Run, path: str) -> _Node:
    """The innermost open node above ``path`` (cut at ``/`` or ``[``), else the run."""
    end = len(path)
    while end > 0:
        end = max(path.rfind("/", 0, end), path.rfind("[", 0, end))
        if end <= 0:
            break
        node = run.nodes.get(path[:end])
        if node is not None:
            return node
    return run.top


def _owner(run: _Run, key: str) -> _Node:
    """The node a step key belongs to: ``a/b[c]/model#1`` -> ``a/b[c]``."""
    path = key[: key.rfind("/")] if "/" in key else key
    return run.nodes.get(path) or _parent(run, path + "/")


def _under(node: _Node, ancestor: _Node) -> bool:
    parent = node.parent
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.parent
    return False


def _name_of(path: str, parent: _Node) -> str:
    """A node's own name from its path: ``desk/triage[1]`` -> ``triage``,
    ``checks[credit]`` (a branch of ``checks``) -> ``credit``."""
    rest = path[len(parent.path) :] if parent.path and path.startswith(parent.path) else path
    if rest.startswith("/"):
        rest = rest[1:]
    elif rest.startswith("[") and rest.endswith("]"):
        rest = rest[1:-1]
    cut = rest.rfind("[")
    if cut > 0 and rest.endswith("]"):
        rest = rest[:cut]  # the hop or call number
    return rest or path


def _run_title(started: RunStarted | None) -> str:
    workflow = started.workflow.rpartition(":")[2] if started is not None else ""
    return f"invoke_workflow {workflow or 'run'}"


def _parent_run_link(started: RunStarted | None) -> list[Link] | None:
    """Links from a run's span to its parent run's (a child run) and to the run it was forked
    from (a fork), by derived ids."""
    if started is None:
        return None
    links = [
        Link(_run_span(run_id), {"podium.link": kind})
        for run_id, kind in ((started.parent_run_id, "parent_run"), (started.forked_from, "fork"))
        if run_id
    ]
    return links or None


def _run_span(run_id: str) -> SpanContext:
    return SpanContext(
        trace_id_of(run_id),
        span_id_of(run_id, "run"),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )


def _redacted(value: Any) -> Any:
    return _PII.check(value, "output").value


def _clip(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= _CONTENT_LIMIT else text[:_CONTENT_LIMIT] + "…"


def _content(value: Any) -> str:
    """Captured content: PII and secrets redacted, as JSON text (or the text), clipped."""
    return _clip(_redacted(value))


def _output_messages(response: ModelResponse) -> str:
    parts: list[dict[str, Any]] = []
    if response.text:
        parts.append({"type": "text", "content": response.text})
    for call in response.tool_calls:
        parts.append(
            {"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}
        )
    message = {"role": "assistant", "parts": parts, "finish_reason": response.finish_reason}
    return _content([message])


# -- after the fact ---------------------------------------------------------------------------
