"""Traces from the CLI, to an OTLP/HTTP receiver on loopback (the official protobuf messages):
`podium run`, `resume` and `worker` honour OTEL_*; `podium trace RUN_ID` exports a finished
run's trace after the fact, with the same span ids; without an endpoint nothing is sent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from podium.observability.otel import span_id_of, trace_id_of
from test_otlp import Receiver, receiver  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow
APP = Path(__file__).parent / "apps" / "simple_app.py"


def podium(db: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "podium", "--db", str(db), *args]
    environ = {**os.environ, "OTEL_METRICS_EXPORTER": "none", **env}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=environ)


def spans(server: Receiver) -> list[tuple[str, bytes, bytes, bytes]]:
    """(name, trace id, span id, parent span id) of every span the receiver stored."""
    return [
        (span.name, span.trace_id, span.span_id, span.parent_span_id)
        for request in server.traces
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]


def run_id_of(text: str) -> str:
    return next(w for w in text.split() if w.startswith("run_"))


def test_podium_run_exports_the_span_tree(tmp_path: Path, receiver: Receiver) -> None:  # noqa: F811
    ran = podium(tmp_path / "p.db", "run", f"{APP}:calculator", "-i", "add 2 and 3")
    assert ran.returncode == 0, ran.stderr
    run_id = run_id_of(ran.stderr)
    stored = spans(receiver)
    names = [name for name, *_ in stored]
    assert "invoke_agent calc" in names, names
    assert sum(name.startswith("chat ") for name in names) == 2, names  # one per model call
    assert any(name.startswith("execute_tool add") for name in names), names
    trace_id = trace_id_of(run_id).to_bytes(16, "big")
    assert {t for _, t, _, _ in stored} == {trace_id}  # one trace: the run's
    by_id = {span_id: (name, parent) for name, _, span_id, parent in stored}
    tool = next(s for s in stored if s[0].startswith("execute_tool add"))
    agent = by_id[tool[3]]  # the tool's parent is the agent's span
    assert agent[0] == "invoke_agent calc"
    assert not receiver.metrics  # OTEL_METRICS_EXPORTER=none: traces only
    conversations = {
        attribute.value.string_value
        for request in receiver.traces
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
        for attribute in span.attributes
        if attribute.key == "gen_ai.conversation.id"
    }
    assert conversations == {run_id}  # on every span: the run is the conversation
    assert sum(1 for _ in stored) == sum(
        1
        for request in receiver.traces
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
        if any(a.key == "gen_ai.conversation.id" for a in span.attributes)
    )


def test_podium_trace_exports_a_finished_run_after_the_fact(
    tmp_path: Path,
    receiver: Receiver,  # noqa: F811
) -> None:
    db = tmp_path / "p.db"
    quiet = {"OTEL_SDK_DISABLED": "true"}
    ran = podium(db, "run", f"{APP}:calculator", "-i", "add 2 and 3", **quiet)
    assert ran.returncode == 0, ran.stderr
    assert not receiver.traces  # nothing was sent while the SDK was off
    run_id = run_id_of(ran.stderr)
    traced = podium(db, "trace", run_id)
    assert traced.returncode == 0, traced.stderr
    assert f"trace of run {run_id} exported" in traced.stderr
    stored = spans(receiver)
    root = [s for s in stored if s[3] == b""]
    assert len(root) == 1
    assert root[0][2] == span_id_of(run_id, "run").to_bytes(8, "big")
    assert any(name == "invoke_agent calc" for name, *_ in stored)


def test_podium_trace_without_an_endpoint_says_how_to_set_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    cmd = [sys.executable, "-m", "podium", "--db", str(tmp_path / "p.db"), "trace", "run_x"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert "set OTEL_EXPORTER_OTLP_ENDPOINT" in result.stderr


def test_podium_worker_exports_the_runs_it_executes(
    tmp_path: Path,
    receiver: Receiver,  # noqa: F811
) -> None:
    db = tmp_path / "p.db"
    queued = podium(db, "run", f"{APP}:calculator", "-i", "add 2 and 3", "-d")
    assert queued.returncode == 0, queued.stderr
    assert not receiver.traces  # --detach executes nothing
    worked = podium(db, "worker", "--until-idle", "--quiet")
    assert worked.returncode == 0, worked.stderr
    trace_id = trace_id_of(queued.stdout.strip()).to_bytes(16, "big")
    names = [name for name, t, _, _ in spans(receiver) if t == trace_id]
    assert "invoke_agent calc" in names, names
