"""End to end: spans and metrics go over OTLP/HTTP (protobuf) to a receiver on loopback."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from podium import Agent, Context, Effect, MemoryStore, Runtime, tool, workflow
from podium.observability.metrics import JournalMetrics
from podium.observability.tracing import (
    JournalTracer,
    configure_from_env,
    span_id_of,
    trace_id_of,
)
from podium.patterns import Parallel
from podium.testing import ScriptedModel, call
from podium.types import RunStatus

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


class Receiver(ThreadingHTTPServer):
    """A minimal OTLP/HTTP collector: keeps every decoded export request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.traces: list[ExportTraceServiceRequest] = []
        self.metrics: list[ExportMetricsServiceRequest] = []
        self.content_types: set[str] = set()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.content_types.add(self.headers.get("Content-Type", ""))
        reply: Any
        if self.path == "/v1/traces":
            self.server.traces.append(ExportTraceServiceRequest.FromString(body))
            reply = ExportTraceServiceResponse()
        elif self.path == "/v1/metrics":
            self.server.metrics.append(ExportMetricsServiceRequest.FromString(body))
            reply = ExportMetricsServiceResponse()
        else:
            self.send_error(404)
            return
        data = reply.SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", server.endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "podium-e2e")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@tool(effect=Effect.READ)
def order_status(order: str) -> str:
    """Where an order is."""
    return f"{order} shipped"


def support_workflow() -> Any:
    clerk = Agent(
        name="clerk",
        model=ScriptedModel(
            [call("order_status", order="A-1"), "A-1 shipped."], name="openai:gpt-4.1-mini"
        ),
        tools=[order_status],
    )
    checker = Agent(name="checker", model=ScriptedModel(["fine"], name="anthropic:claude-x"))

    @workflow
    async def support(ctx: Context, text: str) -> Any:
        return await ctx.run(Parallel("desk", [clerk, checker]), text)

    return support


async def test_spans_and_metrics_reach_an_otlp_http_receiver(receiver: Receiver) -> None:
    telemetry = configure_from_env(set_global=False)
    assert telemetry is not None
    assert telemetry.tracer_provider is not None
    assert telemetry.meter_provider is not None
    runtime = Runtime(
        MemoryStore(),
        listeners=[JournalTracer(telemetry.tracer()), JournalMetrics(telemetry.meter())],
    )
    result = await runtime.run(support_workflow(), "where is A-1?")
    assert result.status is RunStatus.COMPLETED
    telemetry.shutdown()  # flushes both exporters

    assert receiver.content_types == {"application/x-protobuf"}
    spans = []
    for request in receiver.traces:
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            assert resource["service.name"] == "podium-e2e"
            for scope in resource_spans.scope_spans:
                assert scope.scope.name == "podium"
                spans.extend(scope.spans)
    by_id = {bytes(s.span_id): s for s in spans}
    names = {
        s.name: by_id[bytes(s.parent_span_id)].name if s.parent_span_id else None for s in spans
    }
    assert names == {
        "invoke_workflow support": None,
        "parallel desk": "invoke_workflow support",
        "invoke_agent clerk": "parallel desk",
        "invoke_agent checker": "parallel desk",
        "chat gpt-4.1-mini": "invoke_agent clerk",
        "execute_tool order_status": "invoke_agent clerk",
        "chat claude-x": "invoke_agent checker",
    }
    assert len(spans) == 8  # the clerk asks twice
    assert {bytes(s.trace_id) for s in spans} == {trace_id_of(result.run_id).to_bytes(16, "big")}
    [root] = [s for s in spans if not s.parent_span_id]
    assert bytes(root.span_id) == span_id_of(result.run_id, "run").to_bytes(8, "big")
    [tool_span] = [s for s in spans if s.name == "execute_tool order_status"]
    tool_attributes = {a.key: a.value.string_value for a in tool_span.attributes}
    assert tool_attributes["gen_ai.tool.name"] == "order_status"
    assert tool_attributes["gen_ai.tool.call.id"] == "call_0_0"
    chat = next(s for s in spans if s.name == "chat gpt-4.1-mini")
    chat_attributes = {a.key: a.value for a in chat.attributes}
    assert chat_attributes["gen_ai.provider.name"].string_value == "scripted"
    assert chat_attributes["gen_ai.usage.input_tokens"].int_value > 0
    assert chat.kind == chat.SPAN_KIND_CLIENT

    metric_names = {
        metric.name
        for request in receiver.metrics
        for resource_metrics in request.resource_metrics
        for scope in resource_metrics.scope_metrics
        for metric in scope.metrics
    }
    assert {
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.duration",
        "podium.runs",
        "podium.run.duration",
    } <= metric_names
