"""Issue 12, items 1 and 11 through the CLI: a YAML spec run in a subprocess, the official
OpenAI SDK against the fake LLM server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from calls_support import of
from podium import SQLiteStore
from podium.events import ModelCallFailed
from podium.testing.fake_llm import FakeLLMServer, Reply

pytestmark = pytest.mark.anyio


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


CLI_YAML = """
version: 1
models:
  remote: "openai:gpt-test"
tools:
  pay: "cli_tools:pay"
agents:
  payer:
    model: remote
    tools: [pay]
    approvals:
      pay: {when: "cli_tools:over_1000", role: cfo}
workflow: {agent: payer}
"""

CLI_TOOLS = '''
from pathlib import Path
from podium import Effect, tool

@tool(effect=Effect.AT_MOST_ONCE)
def pay(to: str, amount: float) -> str:
    """Pay someone."""
    with open(Path(__file__).with_name("paid.log"), "a") as log:
        log.write(f"{to} {amount}\\n")
    return "paid"

def over_1000(arguments):
    return arguments["amount"] > 1000
'''


def _cli(tmp_path: Path, server: FakeLLMServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OPENAI_BASE_URL": server.openai_base_url,
        "OPENAI_API_KEY": "test-key",
        "PODIUM_ALLOW_MODEL_REQUESTS": "0",
    }
    command = [sys.executable, "-m", "podium", "--db", str(tmp_path / "podium.db"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=90)


@pytest.mark.slow
@pytest.mark.timeout(300)  # two CLI processes: on a loaded 2-core machine, past 120 s
async def test_the_cli_runs_a_spec_against_nan_and_negative_usage(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    (tmp_path / "cli_tools.py").write_text(CLI_TOOLS)
    spec = tmp_path / "payer.yaml"
    spec.write_text(CLI_YAML)
    server.script(
        [
            Reply(tool_calls=[("pay", {"to": "bob", "amount": float("nan")})]),
            Reply(text="could not pay", input_tokens=-40),
        ]
    )
    ran = await anyio.to_thread.run_sync(
        lambda: _cli(tmp_path, server, "run", str(spec), "-i", "pay bob")
    )
    assert ran.returncode == 1, ran.stderr  # the run failed
    assert "ModelProtocolError" in ran.stderr + ran.stdout
    assert not (tmp_path / "paid.log").exists()  # NaN never reached the tool or its rule
    [sent] = [m for m in server.requests[1].body["messages"] if m["role"] == "tool"]
    assert "NaN is not a finite number" in sent["content"]
    store = SQLiteStore(tmp_path / "podium.db")
    try:
        [run] = await store.list_runs()
        events = [s.event for s in await store.read(run.run_id)]
    finally:
        await store.close()
    [failed] = of(events, ModelCallFailed)
    assert failed.error.type == "ModelProtocolError"
    assert failed.response is not None
    assert failed.response.usage.input_tokens == -40
    shown = await anyio.to_thread.run_sync(lambda: _cli(tmp_path, server, "show", run.run_id))
    assert "usage.input_tokens is -40" in shown.stdout + shown.stderr
