"""Traces and metrics from the journal (podium.observability), with in-memory exporters."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from podium import Agent, Context, Effect, MemoryStore, Runtime, Store, tool, workflow
from podium.errors import ModelHTTPError
from podium.messages import ModelResponse, ToolCall, Usage
from podium.models import RetryModel, RetryPolicy
from podium.observability.metrics import JournalMetrics
from podium.observability.tracing import (
    JournalTracer,
    configure_from_env,
    id_generator,
    span_id_of,
    trace_id_of,
    trace_run,
)
from podium.patterns import Handoff, Parallel
from podium.policy import ApprovalRule, Principal
from podium.prices import DEFAULT_PRICES
from podium.testing import ScriptedModel, call
from podium.types import RunStatus

pytestmark = pytest.mark.anyio

MARIA = Principal("maria", frozenset({"finance"}))


class Process:
    """One process's tracing: an SDK provider with an in-memory exporter and a listener."""

    def __init__(self, *, derived_ids: bool = True, capture_content: bool = False) -> None:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider(id_generator=id_generator()) if derived_ids else TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracing = JournalTracer(provider.get_tracer("test"), capture_content=capture_content)

    @property
    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())


def response(model: str, *, text: str = "", calls: Sequence[ToolCall] = ()) -> ModelResponse:
    """What a provider answers: the provider and the exact model version that answered."""
    return ModelResponse(
        text=text,
        tool_calls=tuple(calls),
        usage=Usage(input_tokens=100, output_tokens=7),
        finish_reason="tool_calls" if calls else "stop",
        model_name=f"{model}-2025-01-01",
        provider="openai",
    )


async def no_sleep(_seconds: float) -> None:
    return None


@tool(effect=Effect.AT_MOST_ONCE, approval=ApprovalRule(role="finance"))
def refund(order: str, amount: float, email: str = "") -> str:
    """Refund an order."""
    return f"refunded {amount:.2f} on {order}"


def onboarding_workflow(refund_email: str = "") -> Any:
    """parallel (one branch retries a 429) + handoff (a tool behind an approval) + sub-workflow."""
    flaky = ScriptedModel(
        [ModelHTTPError(429, "slow down"), response("gpt-4.1-mini", text="credit ok")],
        name="openai:gpt-4.1-mini",
    )
    credit = Agent(
        name="credit", model=RetryModel(flaky, RetryPolicy(max_attempts=3), sleep=no_sleep)
    )
    fraud = Agent(
        name="fraud",
        model=ScriptedModel(
            [response("gpt-4.1-mini", text="clean")], by_turn=True, name="openai:gpt-4.1-mini"
        ),
    )
    checks = Parallel("checks", [credit, fraud])
    transfer = ToolCall(id="call_t", name="transfer_to_refunds", arguments="{}")
    triage = Agent(
        name="triage",
        model=ScriptedModel(
            [response("gpt-4.1-mini", calls=[transfer])], by_turn=True, name="openai:gpt-4.1-mini"
        ),
    )
    arguments = {"order": "A-1", "amount": 20, "email": refund_email}
    pay = ToolCall(id="call_r", name="refund", arguments=json.dumps(arguments))
    refunds = Agent(
        name="refunds",
        model=ScriptedModel(
            [response("gpt-4.1", calls=[pay]), response("gpt-4.1", text="Refunded.")],
            by_turn=True,
            name="openai:gpt-4.1",
        ),
        tools=[refund],
    )
    desk = Handoff("desk", triage, [refunds], history="input")

    @workflow
    async def notify(ctx: Context, text: str) -> Any:
        return await ctx.step("send", lambda t: f"sent: {t}", text)

    @workflow
    async def onboarding(ctx: Context, text: str) -> Any:
        await ctx.run(checks, text)
        answer = await ctx.run(desk, text)
        return await ctx.run(notify, answer)

    return onboarding


async def suspend_then_resume(
    store: Store, first: Process, second: Process, *, prime: bool = True
) -> str:
    """Run until the approval, decide it from outside, resume in "another process"."""
    flow = onboarding_workflow()
    suspended = await Runtime(store, listeners=[first.tracing]).run(flow, "refund A-1")
    assert suspended.status is RunStatus.SUSPENDED
    [item] = await Runtime(store).approvals()
    await Runtime(store).decide(item.approval_id, "approve", by=MARIA, comment="ok")
    if prime:
        await second.tracing.prime(store, suspended.run_id)
    done = await Runtime(store, listeners=[second.tracing]).resume(suspended.run_id, flow)
    assert done.status is RunStatus.COMPLETED, done
    return suspended.run_id


def tree(spans: Sequence[ReadableSpan]) -> dict[str, str | None]:
    """``{span name (+ #n for repeats): parent's name}``, every parent exported."""
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    assert len(by_id) == len(spans), "span ids must be unique"
    out: dict[str, str | None] = {}
    for span in sorted(spans, key=lambda s: (s.start_time or 0, s.name)):
        parent = by_id[span.parent.span_id].name if span.parent is not None else None
        name = span.name
        n = 1
        while name in out:
            n += 1
            name = f"{span.name} #{n}"
        out[name] = parent
    return out


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    """A span's attributes but ``gen_ai.conversation.id``, which every span has (the run id)."""
    found = dict(span.attributes or {})
    conversation = found.pop("gen_ai.conversation.id", None)
    assert isinstance(conversation, str), span.name
    assert conversation.startswith("run_"), span.name
    return found


EXPECTED_TREE = {
    "invoke_workflow onboarding": None,
    "parallel checks": "invoke_workflow onboarding",
    "invoke_agent credit": "parallel checks",
    "invoke_agent fraud": "parallel checks",
    "handoff desk": "invoke_workflow onboarding",
    "invoke_agent triage": "handoff desk",
    "execute_tool transfer_to_refunds": "invoke_agent triage",
    "invoke_agent refunds": "handoff desk",
    "await_approval refund": "invoke_agent refunds",
    "execute_tool refund": "invoke_agent refunds",
    "invoke_workflow notify": "invoke_workflow onboarding",
}


def check_tree(spans: list[ReadableSpan]) -> None:
    shape = tree(spans)
    for name, parent in EXPECTED_TREE.items():
        assert shape[name] == parent, (name, shape)
    chats = {name: parent for name, parent in shape.items() if name.startswith("chat ")}
    # credit: a failed attempt and the successful one; fraud, triage; refunds twice
    assert sorted(chats.values()) == sorted(
        ["invoke_agent credit"] * 2
        + ["invoke_agent fraud", "invoke_agent triage"]
        + ["invoke_agent refunds"] * 2
    )
    assert len(shape) == len(EXPECTED_TREE) + len(chats)


# -- the nested workflow, across a resume ---------------------------------------------------


async def test_nested_workflow_across_a_resume_is_one_trace() -> None:
    store = MemoryStore()
    first, second = Process(), Process()
    run_id = await suspend_then_resume(store, first, second)

    before, after = first.spans, second.spans
    assert before
    assert after
    spans = before + after
    assert {s.context.trace_id for s in spans} == {trace_id_of(run_id)}
    check_tree(spans)

    # what each process emitted: the suspended one everything that finished before the
    # approval; the resumed one what finished after, including the spans that were open
    assert {s.name for s in before} == {
        "parallel checks", "invoke_agent credit", "invoke_agent fraud", "invoke_agent triage",
        "execute_tool transfer_to_refunds", "chat gpt-4.1-mini", "chat gpt-4.1",
    }  # fmt: skip
    assert {s.name for s in after} == {
        "invoke_workflow onboarding", "handoff desk", "invoke_agent refunds",
        "await_approval refund", "execute_tool refund", "chat gpt-4.1", "invoke_workflow notify",
    }  # fmt: skip

    # the first chat of refunds (process 1) hangs under the agent span process 2 emitted
    [agent] = named(after, "invoke_agent refunds")
    [early_chat] = named(before, "chat gpt-4.1")
    assert early_chat.parent is not None
    assert agent.context is not None
    assert early_chat.parent.span_id == agent.context.span_id
    assert agent.context.span_id == span_id_of(run_id, "node:onboarding/desk/refunds[2]")
    [root] = named(after, "invoke_workflow onboarding")
    assert root.parent is None
    assert root.context is not None
    assert root.context.span_id == span_id_of(run_id, "run")


async def test_span_attributes_follow_the_genai_conventions() -> None:
    store = MemoryStore()
    first, second = Process(), Process()
    run_id = await suspend_then_resume(store, first, second)
    spans = first.spans + second.spans

    [root] = named(spans, "invoke_workflow onboarding")
    assert attrs(root) | {"podium.cost_usd": 0} == {
        "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.workflow.name": "onboarding",
        "podium.run.id": run_id,
        "podium.namespace": "default",
        "podium.run.status": "completed",
        "gen_ai.usage.input_tokens": 500,
        "gen_ai.usage.output_tokens": 35,
        "podium.cost_usd": 0,
    }
    [credit] = named(spans, "invoke_agent credit")
    assert attrs(credit) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "credit",
        "podium.node.path": "onboarding/checks[credit]",
        "podium.node.kind": "agent",
    }
    [parallel] = named(spans, "parallel checks")
    assert attrs(parallel)["podium.node.kind"] == "parallel"

    # one chat span per attempt: the 429, then the answer
    failed, ok = sorted(
        (s for s in spans if s.parent and s.parent.span_id == credit.context.span_id),  # type: ignore[union-attr]
        key=lambda s: s.start_time or 0,
    )
    assert failed.name == ok.name == "chat gpt-4.1-mini"
    assert failed.status.status_code is StatusCode.ERROR
    assert attrs(failed) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4.1-mini",
        "error.type": "ModelHTTPError",
        "http.response.status_code": 429,
        "podium.step.key": "onboarding/checks[credit]/model#1",
        "podium.attempt": 1,
        "podium.retryable": True,
    }
    assert ok.status.status_code is StatusCode.UNSET
    assert attrs(ok) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4.1-mini",
        "gen_ai.response.model": "gpt-4.1-mini-2025-01-01",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.response.finish_reasons": ("stop",),
        "podium.step.key": "onboarding/checks[credit]/model#1",
        "podium.cost_usd": DEFAULT_PRICES.cost(
            "openai:gpt-4.1-mini", Usage(input_tokens=100, output_tokens=7)
        ),
    }
    assert str(ok.kind) == "SpanKind.CLIENT"
    assert (failed.end_time or 0) <= (ok.start_time or 0)

    [tool_span] = named(spans, "execute_tool refund")
    assert attrs(tool_span) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "refund",
        "gen_ai.tool.call.id": "call_r",
        "gen_ai.tool.type": "function",
        "podium.step.key": "onboarding/desk/refunds[2]/tool:refund#2",
        "podium.tool.effect": "at_most_once",
    }
    [approval] = named(spans, "await_approval refund")
    assert attrs(approval) == {
        "podium.approval.id": attrs(approval)["podium.approval.id"],
        "podium.approval.kind": "tool",
        "podium.approval.role": "finance",
        "podium.approval.requested_by": "refunds",
        "podium.approval.decision": "approved",
        "podium.approval.decided_by": "maria",
        "podium.step.key": "onboarding/desk/refunds[2]/tool:refund#2",
        "gen_ai.tool.name": "refund",
    }
    assert (approval.end_time or 0) <= (tool_span.end_time or 0)
    # deprecated names are not used; no content without opting in
    every = {key for span in spans for key in attrs(span)}
    assert not {"gen_ai.system", "gen_ai.usage.prompt_tokens"} & every
    assert not any("messages" in key or "arguments" in key or key == "input" for key in every)
    assert "gen_ai.tool.call.result" not in every


async def test_times_nest_children_inside_parents() -> None:
    store = MemoryStore()
    first, second = Process(), Process()
    await suspend_then_resume(store, first, second)
    spans = first.spans + second.spans
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    for span in spans:
        assert span.start_time is not None
        assert span.end_time is not None
        assert span.start_time <= span.end_time, span.name
        if span.parent is not None:
            parent = by_id[span.parent.span_id]
            assert parent.start_time is not None
            assert parent.end_time is not None
            assert parent.start_time <= span.start_time, (span.name, parent.name)
            assert span.end_time <= parent.end_time, (span.name, parent.name)


async def test_one_process_suspending_and_resuming_traces_the_same() -> None:
    store = MemoryStore()
    process = Process()
    run_id = await suspend_then_resume(store, process, process)
    check_tree(process.spans)
    assert {s.context.trace_id for s in process.spans} == {trace_id_of(run_id)}


async def test_random_ids_keep_parents_within_a_process() -> None:
    """Without Podium's id generator the ids are random, but a run traced by one process
    still has every parent right (node spans are real open spans)."""
    store = MemoryStore()
    process = Process(derived_ids=False)
    run_id = await suspend_then_resume(store, process, process)
    check_tree(process.spans)
    assert {s.context.trace_id for s in process.spans} != {trace_id_of(run_id)}


async def test_trace_run_after_the_fact_matches_the_live_trace() -> None:
    store = MemoryStore()
    first, second = Process(), Process()
    run_id = await suspend_then_resume(store, first, second)
    later = Process()
    await trace_run(store, run_id, later.tracing.tracer)
    assert tree(later.spans) == tree(first.spans + second.spans)
    live = {s.context.span_id: s.parent for s in first.spans + second.spans}
    assert {s.context.span_id: s.parent for s in later.spans} == live


async def test_an_unprimed_resume_still_lands_in_the_run_trace() -> None:
    store = MemoryStore()
    first, second = Process(), Process()
    run_id = await suspend_then_resume(store, first, second, prime=False)
    assert {s.context.trace_id for s in first.spans + second.spans} == {trace_id_of(run_id)}
    # the root's span id is derived: the resumed process closes the same root span
    [root] = [s for s in second.spans if s.parent is None]
    assert root.context.span_id == span_id_of(run_id, "run")


# -- content capture ------------------------------------------------------------------------


async def test_content_is_captured_only_when_asked_and_redacted() -> None:
    store = MemoryStore()
    flow = onboarding_workflow(refund_email="jane.doe@example.com")
    process = Process(capture_content=True)
    runtime = Runtime(store, listeners=[process.tracing])
    first = await runtime.run(flow, "refund A-1 for jane.doe@example.com")
    [item] = await runtime.approvals()
    await runtime.decide(item.approval_id, "approve", by=MARIA)
    await process.tracing.prime(store, first.run_id)
    await runtime.resume(first.run_id, flow)

    spans = process.spans
    [tool_span] = named(spans, "execute_tool refund")
    arguments = json.loads(str(attrs(tool_span)["gen_ai.tool.call.arguments"]))
    assert arguments == {"order": "A-1", "amount": 20.0, "email": "[REDACTED:email]"}
    assert attrs(tool_span)["gen_ai.tool.call.result"] == "refunded 20.00 on A-1"
    chat = next(s for s in spans if attrs(s).get("gen_ai.response.finish_reasons") == ("stop",))
    messages = json.loads(str(attrs(chat)["gen_ai.output.messages"]))
    assert messages[0]["role"] == "assistant"
    assert messages[0]["parts"][0]["type"] == "text"
    [root] = named(spans, "invoke_workflow onboarding")
    assert attrs(root)["podium.run.input"] == "refund A-1 for [REDACTED:email]"
    assert attrs(root)["podium.run.output"] == "sent: Refunded."
    text = json.dumps([attrs(s) for s in spans], default=str)
    assert "jane.doe@example.com" not in text


# -- failures -------------------------------------------------------------------------------


@tool
def lookup(order: str) -> str:
    """Look an order up."""
    raise ValueError(f"no order {order}")


async def test_failures_set_error_type_and_status() -> None:
    clerk = Agent(
        name="clerk",
        model=ScriptedModel([call("lookup", order="X"), "Sorry."], name="openai:gpt-4.1-mini"),
        tools=[lookup],
    )

    @workflow
    async def broken(ctx: Context, text: str) -> Any:
        await ctx.run(clerk, text)
        raise RuntimeError("boom")

    process = Process()
    result = await Runtime(MemoryStore(), listeners=[process.tracing]).run(broken, "hi")
    assert result.status is RunStatus.FAILED
    [tool_span] = named(process.spans, "execute_tool lookup")
    assert attrs(tool_span)["error.type"] == "ValueError"
    assert tool_span.status.status_code is StatusCode.ERROR
    assert tool_span.status.description == "ValueError"  # no message without content capture
    [root] = named(process.spans, "invoke_workflow broken")
    assert root.status.status_code is StatusCode.ERROR
    assert attrs(root)["error.type"] == "RuntimeError"
    assert attrs(root)["podium.run.status"] == "failed"
    [agent] = named(process.spans, "invoke_agent clerk")
    assert agent.status.status_code is StatusCode.UNSET


async def test_an_agent_run_alone_gets_a_workflow_span_above_it() -> None:
    clerk = Agent(name="clerk", model=ScriptedModel(["Hello."], name="anthropic:claude-x"))
    process = Process()
    await Runtime(MemoryStore(), listeners=[process.tracing]).run(clerk, "hi")
    assert tree(process.spans) == {
        "invoke_workflow clerk": None,
        "invoke_agent clerk": "invoke_workflow clerk",
        "chat claude-x": "invoke_agent clerk",
    }
    [chat] = named(process.spans, "chat claude-x")
    assert attrs(chat)["gen_ai.provider.name"] == "scripted"  # who answered, per the response


async def test_a_child_run_links_to_its_parent_run() -> None:
    store = MemoryStore()
    clerk = Agent(name="clerk", model=ScriptedModel(["Hello."], by_turn=True))
    runtime = Runtime(store)
    parent = await runtime.run(clerk, "hi")
    child = await runtime.run(clerk, "again", parent_run_id=parent.run_id)
    process = Process()
    await trace_run(store, child.run_id, process.tracing.tracer)
    [root] = [s for s in process.spans if s.parent is None]
    [link] = root.links
    assert link.context.trace_id == trace_id_of(parent.run_id)
    assert link.context.span_id == span_id_of(parent.run_id, "run")


async def test_a_fork_links_to_the_run_it_was_forked_from() -> None:
    store = MemoryStore()
    clerk = Agent(name="clerk", model=ScriptedModel(["Hello.", "Hi again."], by_turn=True))
    runtime = Runtime(store)
    original = await runtime.run(clerk, "hi")
    fork_id = await runtime.fork(original.run_id, at="clerk/model#1")
    await runtime.resume(fork_id, clerk)
    process = Process()
    await trace_run(store, fork_id, process.tracing.tracer)
    [root] = [s for s in process.spans if s.parent is None]
    [link] = root.links
    assert link.context.trace_id == trace_id_of(original.run_id)
    assert link.context.span_id == span_id_of(original.run_id, "run")
    assert dict(link.attributes or {}) == {"podium.link": "fork"}
    assert attrs(root)["podium.run.forked_from"] == original.run_id
    assert attrs(root)["podium.run.fork_point"] == "clerk/model#1"


# -- metrics --------------------------------------------------------------------------------


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    out: dict[str, list[Any]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                out.setdefault(metric.name, []).extend(metric.data.data_points)
    return out


async def test_metrics_tokens_durations_runs_and_cost() -> None:
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    store = MemoryStore()
    first, second = JournalMetrics(meter), JournalMetrics(meter)
    flow = onboarding_workflow()
    suspended = await Runtime(store, listeners=[first]).run(flow, "refund A-1")
    [item] = await Runtime(store).approvals()
    await Runtime(store).decide(item.approval_id, "approve", by=MARIA)
    await second.prime(store, suspended.run_id)
    await Runtime(store, listeners=[second]).resume(suspended.run_id, flow)

    found = points(reader)
    tokens = {
        (p.attributes["gen_ai.token.type"], p.attributes["gen_ai.request.model"]): p.sum
        for p in found["gen_ai.client.token.usage"]
    }
    # 3 calls of gpt-4.1-mini (credit, fraud, triage), 2 of gpt-4.1 (refunds): 100 in, 7 out
    assert tokens == {
        ("input", "gpt-4.1-mini"): 300,
        ("output", "gpt-4.1-mini"): 21,
        ("input", "gpt-4.1"): 200,
        ("output", "gpt-4.1"): 14,
    }
    [usage] = [p for p in found["gen_ai.client.token.usage"] if p.sum == 200]
    assert usage.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4.1",
        "gen_ai.response.model": "gpt-4.1-2025-01-01",
        "gen_ai.token.type": "input",
    }
    assert sum(p.count for p in found["gen_ai.client.operation.duration"]) == 5
    [runs] = found["podium.runs"]
    assert runs.value == 1
    assert runs.attributes == {"podium.run.status": "completed", "podium.workflow": "onboarding"}
    [duration] = found["podium.run.duration"]
    assert duration.count == 1
    assert duration.sum > 0


async def test_metrics_cost_from_the_price_table() -> None:
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    clerk = Agent(
        name="clerk",
        model=ScriptedModel([response("gpt-4.1-mini", text="Hello.")], name="openai:gpt-4.1-mini"),
    )
    await Runtime(MemoryStore(), listeners=[JournalMetrics(meter)]).run(clerk, "hi")
    [cost] = points(reader)["podium.cost"]
    assert cost.value > 0
    assert cost.attributes["gen_ai.request.model"] == "gpt-4.1-mini"


# -- setup ----------------------------------------------------------------------------------


def test_nothing_is_configured_without_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                 "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    assert configure_from_env() is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert configure_from_env() is None
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    assert configure_from_env() is None


def test_import_podium_never_imports_the_sdk() -> None:
    code = (
        "import sys, podium, podium.observability.tracing, podium.observability.metrics\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')"
        " or m.startswith('opentelemetry.exporter'))\n"
        "print(loaded)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


async def test_tracing_does_not_change_the_run() -> None:
    store = MemoryStore()
    process = Process()
    with anyio.fail_after(10):
        run_id = await suspend_then_resume(store, process, Process())
    plain = await Runtime(store).result(run_id)
    assert plain.status is RunStatus.COMPLETED
    assert plain.output == "sent: Refunded."


async def test_a_run_cancelled_while_suspended_is_closed_by_a_prime() -> None:
    store = MemoryStore()
    first, second = Process(), Process()
    flow = onboarding_workflow()
    suspended = await Runtime(store, listeners=[first.tracing]).run(flow, "refund A-1")
    await Runtime(store).cancel(suspended.run_id, reason="customer withdrew", by="ops")
    await second.tracing.prime(store, suspended.run_id)  # sees the cancellation no one heard
    spans = first.spans + second.spans
    assert {s.name for s in second.spans} == {
        "invoke_workflow onboarding", "handoff desk", "invoke_agent refunds",
        "await_approval refund",
    }  # fmt: skip
    shape = tree(spans)  # every parent exported
    assert shape["await_approval refund"] == "invoke_agent refunds"
    [root] = named(spans, "invoke_workflow onboarding")
    assert attrs(root)["podium.run.status"] == "cancelled"
    [approval] = named(spans, "await_approval refund")
    assert attrs(approval)["podium.approval.decision"] == "none"
    # priming again (or a late listener) emits nothing twice
    await second.tracing.prime(store, suspended.run_id)
    assert len(second.spans) == 4


async def test_guardrail_trips_are_events_on_their_node() -> None:
    from podium.guardrails import PII

    clerk = Agent(name="clerk", model=ScriptedModel(["Noted."]), guardrails=[PII()])
    process = Process()
    await Runtime(MemoryStore(), listeners=[process.tracing]).run(clerk, "mail jane@example.com")
    [agent] = named(process.spans, "invoke_agent clerk")
    [event] = agent.events
    assert event.name == "podium.guardrail_tripped"
    assert dict(event.attributes or {}) == {
        "podium.guardrail": "pii",
        "podium.guardrail.stage": "input",
        "podium.guardrail.action": "redact",
        "podium.step.key": "clerk",
    }


async def test_a_tracer_with_nowhere_to_send_folds_nothing() -> None:
    from opentelemetry.trace import NoOpTracer

    dark = JournalTracer(NoOpTracer())
    assert not dark.enabled
    store = MemoryStore()
    result = await Runtime(store, listeners=[dark]).run(onboarding_workflow(), "refund A-1")
    await dark.prime(store, result.run_id)
    assert dark._runs == {}


async def test_a_run_the_sampler_drops_is_not_folded_further() -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=id_generator(), sampler=ParentBased(ALWAYS_OFF))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = JournalTracer(provider.get_tracer("test"))
    store = MemoryStore()
    result = await Runtime(store, listeners=[tracing]).run(onboarding_workflow(), "refund A-1")
    assert result.status is RunStatus.SUSPENDED
    assert exporter.get_finished_spans() == ()
    assert tracing._runs == {}  # dropped at its first span; later events are ignored
