"""Traces from the journal: OpenTelemetry spans following the GenAI semantic conventions.

Spans are built from journal events, the single source of truth: live by
:class:`JournalTracer`, a ``Runtime(listeners=[...])`` listener that receives every event as it
is committed, or after the fact by :func:`trace_run`. This module needs only
``opentelemetry-api``; :func:`configure_from_env` installs the SDK and the OTLP/HTTP exporter
(the ``otel`` extra) when the standard ``OTEL_*`` environment variables ask for it, and does
nothing otherwise (no exporter, no network).

The tree (node paths give it: ``onboarding/checks[credit]`` is a child of
``onboarding/checks``, ``desk/triage[1]`` of ``desk``):

- ``invoke_workflow {name}``: the run (its root workflow node), creation to end;
- ``invoke_agent {agent}``, ``invoke_workflow {name}`` (a sub-workflow) and ``{kind} {name}``
  for pattern and function nodes (``parallel checks``, ``handoff desk``);
- ``chat {model}``: one span per model attempt (failed ones too), under its node;
- ``execute_tool {tool}``: one per tool call;
- ``await_approval {subject}`` / ``await_input {subject}``: a request to a person, from the
  request to the decision.

Ids are derived, not drawn: the trace id from the run id, each span id from the run id and
what the span stands for (a node path, a step key, an approval id). The API cannot choose
ids, so spans carry a *hint* that :func:`id_generator` (an SDK ``IdGenerator``, installed by
:func:`configure_from_env`) honours; then a run resumed in another process continues the same
trace and its spans find their parents. With another id generator, ids are random: parents
are still right within one process (node spans are real open spans), but a resumed run
starts a new trace.

Times come from the events: a node span opens at its ``node_started`` event (or at its first
child, whichever is earlier: the event is buffered until the node's first commit) and closes
at the end of its last child; a model or tool span ends at its event and starts its
``duration_ms`` earlier.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    Link,
    NoOpTracer,
    NoOpTracerProvider,
    ProxyTracerProvider,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
)
from opentelemetry.util.types import AttributeValue

from podium.events import (
    ApprovalDecided,
    ApprovalRequested,
    ErrorInfo,
    GuardrailTripped,
    ModelCallCompleted,
    ModelCallFailed,
    NodeFinished,
    NodeStarted,
    RunCompleted,
    RunFailed,
    RunStarted,
    StepUnknown,
    ToolCallCompleted,
    ToolCallIntent,
)
from podium.observability.metrics import model_attributes, unseen_from
from podium.observability.otel import (
    HINT,
    Telemetry,
    configure_from_env,
    id_generator,
    span_id_of,
    trace_id_of,
    version_of_podium,
)
from podium.observability.span_tree import (
    _clip,
    _content,
    _name_of,
    _Node,
    _output_messages,
    _owner,
    _parent,
    _parent_run_link,
    _redacted,
    _Run,
    _run_title,
    _under,
)
from podium.store import Store, StoredEvent

if TYPE_CHECKING:
    pass

__all__ = [
    "JournalTracer",
    "Telemetry",
    "configure_from_env",
    "id_generator",
    "span_id_of",
    "trace_id_of",
    "trace_run",
]

_log = logging.getLogger(__name__)

Attributes = dict[str, AttributeValue]

# -- the fold ---------------------------------------------------------------------------------

_EMPTY = otel_context.Context()


Handler = Callable[["JournalTracer", _Run, int, Any], None]


class JournalTracer:
    """Turns journal events into spans; use it as a ``Runtime`` listener.

    >>> tracing = JournalTracer()                       # the global tracer provider
    >>> runtime = Runtime(store, listeners=[tracing])   # doctest: +SKIP

    ``capture_content=True`` adds what was said (model output, tool arguments and results,
    run input and output, error messages), redacted by :class:`~podium.guardrails.PII`; it is
    off by default. Runs are kept in memory while they are open (``max_runs`` at most, oldest
    dropped first; a suspended run holds its open spans until it resumes here).

    A run resumed by a process whose tracer did not see its start should be primed first:
    ``await tracing.prime(store, run_id)`` reads its history (open nodes and their start
    times, pending approvals) and emits what no listener saw (a decision made while it was
    suspended). Without it, spans of the resumed execution still land in the right trace
    (with :func:`id_generator`), but nodes opened earlier are unknown here.
    """

    def __init__(
        self,
        tracer: Tracer | None = None,
        *,
        capture_content: bool = False,
        max_runs: int = 1000,
    ) -> None:
        self._tracer = tracer or trace.get_tracer("podium", version_of_podium())
        self._global = tracer is None
        self._noop = isinstance(tracer, NoOpTracer)
        self._dark = 0
        self.capture_content = capture_content
        self._max_runs = max_runs
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._ended: OrderedDict[str, None] = OrderedDict()  # runs traced to their end

    def __call__(self, stored: StoredEvent) -> None:
        run = self._runs.get(stored.run_id)
        if run is None:
            if self._dark:  # nothing records spans: fold nothing, look again now and then
                self._dark -= 1
                return
            if not self.enabled:
                self._dark = 255
                return
            if stored.run_id in self._ended:
                return
            run = self._open(stored)
        elif stored.seq <= run.seq:
            if stored.seq == 1 and run.started is None and isinstance(stored.event, RunStarted):
                run.started = stored.event  # (live listeners never hear of it)
            return  # seen already
        run.seq = stored.seq
        handler = _HANDLERS.get(stored.event.type)
        if handler is not None:
            handler(self, run, int(stored.ts * 1e9), stored.event)

    def replay(self, events: Sequence[StoredEvent]) -> None:
        """Fold a run's history: open nodes, pending approvals, start times. Spans are emitted
        only for what no execution's listener saw (see
        :func:`~podium.observability.metrics.unseen_from`)."""
        if not self.enabled:
            return
        cut = unseen_from(events)
        for index, stored in enumerate(events):
            if stored.run_id in self._ended:
                continue
            run = self._runs.get(stored.run_id) or self._open(stored)
            run.emit = index >= cut
            try:
                self(stored)
            finally:
                run.emit = True

    async def prime(self, store: Store, run_id: str) -> None:
        """Read what this tracer has not seen of ``run_id``; call it before resuming the run."""
        if run_id in self._ended or not self.enabled:
            return
        run = self._runs.get(run_id)
        seen = run.seq if run is not None and run.started is not None else 0
        self.replay(await store.read(run_id, after_seq=seen))

    @property
    def tracer(self) -> Tracer:
        return self._tracer

    @property
    def enabled(self) -> bool:
        """False while spans would go nowhere: a no-op tracer, or the global provider when no
        SDK is installed (then the tracer costs next to nothing)."""
        if self._noop:
            return False
        if self._global:
            return not isinstance(
                trace.get_tracer_provider(), ProxyTracerProvider | NoOpTracerProvider
            )
        return True

    def _open(self, stored: StoredEvent) -> _Run:
        run = self._runs[stored.run_id] = _Run(stored.run_id, int(stored.ts * 1e9))
        while len(self._runs) > self._max_runs:
            self._runs.popitem(last=False)
        return run

    # -- spans ------------------------------------------------------------------------------

    def _start(
        self,
        run: _Run,
        key: str,
        name: str,
        parent: otel_context.Context,
        start: int,
        attributes: Attributes,
        kind: SpanKind = SpanKind.INTERNAL,
        links: Sequence[Link] | None = None,
    ) -> Span:
        token = HINT.set((run.trace_id, run.run_id, key))
        # every span of a run belongs to one conversation: the run (GenAI conventions)
        attributes = {**(attributes or {}), "gen_ai.conversation.id": run.run_id}
        try:
            return self._tracer.start_span(name, parent, kind, attributes, links, start)
        finally:
            HINT.reset(token)

    def _context(self, run: _Run, node: _Node, start: int) -> otel_context.Context:
        """The context of ``node``'s span, opened now if needed (parents first)."""
        if node.ctx is not None:
            return node.ctx
        node.start = min(node.start, start)
        links = None
        if node.parent is not None:
            parent = self._context(run, node.parent, node.start)
        else:
            parent, links = _EMPTY, _parent_run_link(run.started)
            node.title = node.title or _run_title(run.started)
            node.attributes = {**node.attributes, "podium.run.id": run.run_id}
        node.span = self._start(
            run, node.key, node.title, parent, node.start, node.attributes, links=links
        )
        node.ctx = trace.set_span_in_context(node.span, _EMPTY)
        if node.parent is None and not node.span.get_span_context().trace_flags.sampled:
            self._forget(run)  # the sampler dropped the run: fold none of it
        return node.ctx

    def _forget(self, run: _Run) -> None:
        self._runs.pop(run.run_id, None)
        self._ended[run.run_id] = None
        while len(self._ended) > self._max_runs:
            self._ended.popitem(last=False)

    def _run_attributes(self, run: _Run) -> Attributes:
        attributes: Attributes = {}
        started = run.started
        if started is not None:
            attributes["podium.namespace"] = started.namespace
            if started.tags:
                attributes["podium.run.tags"] = started.tags
            if started.forked_from:
                attributes["podium.run.forked_from"] = started.forked_from
                attributes["podium.run.fork_point"] = started.fork_point or ""
            if self.capture_content:
                attributes["podium.run.input"] = _content(started.input)
        return attributes

    def _leaf(
        self,
        run: _Run,
        owner: _Node,
        key: str,
        name: str,
        span: tuple[int, int],
        attributes: Attributes,
        kind: SpanKind = SpanKind.INTERNAL,
        error: str | None = None,
    ) -> None:
        start, end = span
        owner.last = max(owner.last, end)
        if not run.emit:
            return
        parent = self._context(run, owner, start)
        leaf = self._start(run, key, name, parent, start, attributes, kind)
        if error is not None:
            leaf.set_status(Status(StatusCode.ERROR, error))
        leaf.end(end)

    def _close(self, run: _Run, node: _Node, end: int) -> None:
        if node.parent is not None:
            node.parent.last = max(node.parent.last, end)
        if not run.emit:
            node.span = node.ctx = None  # another execution's listener closes it
            return
        self._context(run, node, end)
        assert node.span is not None
        if node.error is not None:
            node.span.set_attribute("error.type", node.error.type)
            node.span.set_status(Status(StatusCode.ERROR, self._describe(node.error)))
        node.span.end(max(end, node.start))

    def _describe(self, error: ErrorInfo) -> str:
        return _clip(_redacted(error.message)) if self.capture_content else error.type

    # -- handlers ---------------------------------------------------------------------------

    def _on_run_started(self, run: _Run, ts: int, event: RunStarted) -> None:
        run.started = event
        if run.top.ctx is None:
            run.top.start = ts

    def _on_node_started(self, run: _Run, ts: int, event: NodeStarted) -> None:
        path = event.path
        parent = _parent(run, path)
        if parent is run.top and not run.top.title and "/" not in path and "[" not in path:
            run.top.title = f"invoke_workflow {path}"
            run.top.attributes = {
                "gen_ai.operation.name": "invoke_workflow",
                "gen_ai.workflow.name": path,
            }
            if event.kind == "workflow":  # the run is its root workflow: one span for both
                run.nodes[path] = run.top
                run.top.path = path  # (its span key stays "run")
                return
        # the event is buffered until the node's first commit: the node began after what
        # its parent did before (a lower bound), not at the event's time
        start = min(ts, parent.last or parent.start)
        node = run.nodes[path] = _Node(path, event.kind, start, parent)
        name = _name_of(path, parent)
        if event.kind == "agent":
            node.title = f"invoke_agent {name}"
            node.attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name}
        elif event.kind == "workflow":
            node.title = f"invoke_workflow {name}"
            node.attributes = {
                "gen_ai.operation.name": "invoke_workflow",
                "gen_ai.workflow.name": name,
            }
        else:
            node.title = f"{event.kind} {name}"
        node.attributes["podium.node.path"] = path
        node.attributes["podium.node.kind"] = event.kind

    def _on_node_finished(self, run: _Run, ts: int, event: NodeFinished) -> None:
        node = run.nodes.pop(event.path, None)
        if node is None:
            return
        node.error = event.error
        if node is run.top:
            return  # the run's end closes it
        end = node.last or ts
        for other in [n for n in run.nodes.values() if _under(n, node)]:
            del run.nodes[other.path]  # cancelled siblings (fail-fast, quorum): end them too
            self._close(run, other, end)
        if self.capture_content and run.emit and event.error is None:
            node.attributes["podium.node.output"] = _content(event.output)
            if node.span is not None:
                node.span.set_attribute("podium.node.output", _content(event.output))
        self._close(run, node, end)

    def _on_model_completed(self, run: _Run, ts: int, event: ModelCallCompleted) -> None:
        usage = event.response.usage
        run.input_tokens += usage.input_tokens
        run.output_tokens += usage.output_tokens
        run.cost += event.cost_usd or 0.0
        failed_until = run.attempts.pop(event.key, None)
        start = ts - int(event.duration_ms * 1e6) if failed_until is None else failed_until
        owner = _owner(run, event.key)
        if not run.emit:
            owner.last = max(owner.last, ts)
            return
        provider, request_model, response_model = model_attributes(event.model, event.response)
        attributes: Attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": request_model,
            "gen_ai.response.model": response_model,
            "gen_ai.usage.input_tokens": usage.input_tokens,
            "gen_ai.usage.output_tokens": usage.output_tokens,
            "gen_ai.response.finish_reasons": (event.response.finish_reason,),
            "podium.step.key": event.key,
        }
        if usage.cached_tokens:
            attributes["gen_ai.usage.cache_read.input_tokens"] = usage.cached_tokens
        if event.cost_usd is not None:
            attributes["podium.cost_usd"] = event.cost_usd
        if self.capture_content:
            attributes["gen_ai.output.messages"] = _output_messages(event.response)
        name = f"chat {request_model}"
        span = (min(start, ts), ts)
        self._leaf(run, owner, f"chat:{event.key}", name, span, attributes, SpanKind.CLIENT)

    def _on_model_failed(self, run: _Run, ts: int, event: ModelCallFailed) -> None:
        owner = _owner(run, event.key)
        start = run.attempts.get(event.key) or owner.last or owner.start
        run.attempts[event.key] = ts
        provider, request_model, _ = model_attributes(event.model)
        attributes: Attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": request_model,
            "error.type": event.error.type,
            "podium.step.key": event.key,
            "podium.attempt": event.attempt,
            "podium.retryable": event.retryable,
        }
        if event.status_code is not None:
            attributes["http.response.status_code"] = event.status_code
        key = f"chat:{event.key}:{event.model}:{event.attempt}"
        name, span, error = f"chat {request_model}", (min(start, ts), ts), event.error
        self._leaf(run, owner, key, name, span, attributes, SpanKind.CLIENT, self._describe(error))

    def _on_tool_intent(self, run: _Run, ts: int, event: ToolCallIntent) -> None:
        run.intents[event.key] = ts

    def _on_tool_completed(self, run: _Run, ts: int, event: ToolCallCompleted) -> None:
        start = ts - int(event.duration_ms * 1e6)
        intent = run.intents.pop(event.key, None)
        if intent is not None:
            start = min(start, intent)
        attributes: Attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": event.tool,
            "gen_ai.tool.call.id": event.call_id,
            "gen_ai.tool.type": "function",
            "podium.step.key": event.key,
            "podium.tool.effect": event.effect.value,
        }
        error = None
        if event.is_error:
            error_type = event.error_type or "ToolError"
            attributes["error.type"] = error_type
            error = _clip(_redacted(event.result)) if self.capture_content else error_type
        if event.attempts > 1:
            attributes["podium.attempts"] = event.attempts
        if self.capture_content:
            attributes["gen_ai.tool.call.arguments"] = _content(event.arguments)
            attributes["gen_ai.tool.call.result"] = _content(event.result)
        owner, name = _owner(run, event.key), f"execute_tool {event.tool}"
        self._leaf(run, owner, f"tool:{event.key}", name, (start, ts), attributes, error=error)

    def _on_approval_requested(self, run: _Run, ts: int, event: ApprovalRequested) -> None:
        run.approvals[event.approval_id] = (ts, event)
        owner = _owner(run, event.key)
        owner.last = max(owner.last, ts)

    def _on_approval_decided(self, run: _Run, ts: int, event: ApprovalDecided) -> None:
        pending = run.approvals.pop(event.approval_id, None)
        if pending is None:
            return
        self._approval(run, ts, pending, event)

    def _approval(
        self,
        run: _Run,
        ts: int,
        pending: tuple[int, ApprovalRequested],
        decided: ApprovalDecided | None,
    ) -> None:
        start, request = pending
        attributes: Attributes = {
            "podium.approval.id": request.approval_id,
            "podium.approval.kind": request.kind,
            "podium.approval.role": request.role,
            "podium.approval.requested_by": request.requested_by,
            "podium.approval.decision": decided.decision if decided else "none",
            "podium.step.key": request.key,
        }
        if decided is not None:
            attributes["podium.approval.decided_by"] = decided.by
            if self.capture_content and decided.comment:
                attributes["podium.approval.comment"] = _content(decided.comment)
        if request.kind == "tool":
            attributes["gen_ai.tool.name"] = request.subject
        if self.capture_content:
            attributes["podium.approval.action"] = _content(request.action)
        verb = "await_input" if request.kind == "input" else "await_approval"
        owner = _owner(run, request.key)
        key = f"approval:{request.approval_id}"
        self._leaf(run, owner, key, f"{verb} {request.subject}", (start, ts), attributes)

    def _on_guardrail(self, run: _Run, ts: int, event: GuardrailTripped) -> None:
        owner = run.nodes.get(event.key) or _owner(run, event.key)  # a node path or a step key
        if run.emit:
            self._context(run, owner, ts)
            assert owner.span is not None
            owner.span.add_event(
                "podium.guardrail_tripped",
                {
                    "podium.guardrail": event.guardrail,
                    "podium.guardrail.stage": event.stage,
                    "podium.guardrail.action": event.action,
                    "podium.step.key": event.key,
                },
                ts,
            )

    def _on_step_unknown(self, run: _Run, ts: int, event: StepUnknown) -> None:
        owner = _owner(run, event.key)
        if run.emit:
            self._context(run, owner, ts)
            assert owner.span is not None
            owner.span.add_event("podium.step_unknown", {"podium.step.key": event.key}, ts)

    def _on_step(self, run: _Run, ts: int, event: Any) -> None:
        owner = _owner(run, event.key)
        owner.last = max(owner.last, ts)

    def _on_terminal(self, run: _Run, ts: int, event: Any) -> None:
        self._forget(run)
        for pending in list(run.approvals.values()):
            self._approval(run, ts, pending, None)
        for node in list(run.nodes.values()):
            if node is not run.top:
                self._close(run, node, ts)
        if not run.emit:
            return
        top = run.top
        self._context(run, top, ts)
        assert top.span is not None
        status = {"run_completed": "completed", "run_failed": "failed"}.get(event.type, "cancelled")
        top.span.set_attributes(
            {
                **self._run_attributes(run),
                "podium.run.status": status,
                "gen_ai.usage.input_tokens": run.input_tokens,
                "gen_ai.usage.output_tokens": run.output_tokens,
                "podium.cost_usd": run.cost,
            }
        )
        if isinstance(event, RunFailed):
            top.span.set_attribute("error.type", event.error.type)
            top.span.set_status(Status(StatusCode.ERROR, self._describe(event.error)))
        elif isinstance(event, RunCompleted) and self.capture_content:
            top.span.set_attribute("podium.run.output", _content(event.output))
        top.span.end(max(ts, top.start))


_HANDLERS: dict[str, Handler] = {
    "run_started": JournalTracer._on_run_started,
    "node_started": JournalTracer._on_node_started,
    "node_finished": JournalTracer._on_node_finished,
    "model_call_completed": JournalTracer._on_model_completed,
    "model_call_failed": JournalTracer._on_model_failed,
    "tool_call_intent": JournalTracer._on_tool_intent,
    "tool_call_completed": JournalTracer._on_tool_completed,
    "approval_requested": JournalTracer._on_approval_requested,
    "approval_decided": JournalTracer._on_approval_decided,
    "guardrail_tripped": JournalTracer._on_guardrail,
    "step_unknown": JournalTracer._on_step_unknown,
    "step_completed": JournalTracer._on_step,
    "step_failed": JournalTracer._on_step,
    "tool_attempt_failed": JournalTracer._on_step,
    "run_completed": JournalTracer._on_terminal,
    "run_failed": JournalTracer._on_terminal,
    "run_cancelled": JournalTracer._on_terminal,
}


# -- helpers ----------------------------------------------------------------------------------


async def trace_run(
    store: Store, run_id: str, tracer: Tracer | None = None, *, capture_content: bool = False
) -> None:
    """Emit the trace of a run from its journal (for a run traced by no listener, or to export
    it elsewhere). Spans still open (a suspended run's root) are not emitted."""
    tracing = JournalTracer(tracer, capture_content=capture_content)
    for stored in await store.read(run_id):
        tracing(stored)
