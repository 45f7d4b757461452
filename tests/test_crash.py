"""kill -9 at the worst moments, then `podium resume` in a new process (real processes, real
SQLite, the official OpenAI SDK against the fake LLM server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.testing.fake_llm import FakeLLMServer, Reply

pytestmark = pytest.mark.slow
APP = Path(__file__).parent / "apps" / "crash_app.py"


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


class Cli:
    def __init__(self, tmp_path: Path, server: FakeLLMServer, crash_at: str) -> None:
        self.db = tmp_path / "podium.db"
        self.state = tmp_path / "state"
        self.state.mkdir()
        self.env = {
            **os.environ,
            "OPENAI_BASE_URL": server.openai_base_url,
            "OPENAI_API_KEY": "test-key",
            "PODIUM_ALLOW_MODEL_REQUESTS": "0",
            "CRASH_AT": crash_at,
            "STATE_DIR": str(self.state),
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "podium", "--db", str(self.db), *args]
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)

    def log(self, name: str) -> list[str]:
        path = self.state / f"{name}.log"
        return path.read_text().splitlines() if path.exists() else []

    def run_id(self) -> str:
        listing = self("runs")
        ids = [w for w in listing.stdout.split() if w.startswith("run_")]
        assert len(ids) == 1, listing.stdout + listing.stderr
        return ids[0]


def _tool_results_sent(server: FakeLLMServer) -> list[int]:
    return [sum(m.get("role") == "tool" for m in r.body["messages"]) for r in server.requests]


def test_kill_right_after_a_model_call_is_journaled(tmp_path: Path, server: FakeLLMServer) -> None:
    server.script([Reply(tool_calls=[("mark", {"point": "after_model"})]), Reply(text="done")])
    cli = Cli(tmp_path, server, "after_model")
    first = cli("run", str(APP) + ":flow", "--input", "go")
    assert first.returncode == -9, first.stderr
    assert server.request_count == 1
    run_id = cli.run_id()
    resumed = cli("resume", run_id)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout) == {"answer": "done"}
    # the journaled model call was not repeated: request 2 is the turn after the tool result
    assert server.request_count == 2
    assert _tool_results_sent(server) == [0, 1]
    assert cli.log("mark") == ["after_model"]
    server.assert_complete()


def test_kill_between_intent_and_result_of_at_most_once(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    server.script([Reply(tool_calls=[("wire", {"amount": 100})]), Reply(text="paid")])
    cli = Cli(tmp_path, server, "intent")
    first = cli("run", str(APP) + ":flow", "--input", "pay 100")
    assert first.returncode == -9, first.stderr
    run_id = cli.run_id()
    resumed = cli("resume", run_id)
    assert resumed.returncode == 4, resumed.stderr  # needs attention
    assert cli.log("wire") == ["100"]  # not re-run
    shown = cli("show", run_id)
    assert "UNKNOWN" in shown.stdout
    assert "crash/clerk/tool:wire#2" in shown.stdout
    again = cli("resume", run_id)
    assert again.returncode == 4
    assert cli.log("wire") == ["100"]
    listing = cli("runs", "--status", "needs_attention")
    assert run_id in listing.stdout
    resolved = cli("resolve", run_id, "crash/clerk/tool:wire#2", "--action", "skip",
                   "--result", '"wired 100 (confirmed with the bank)"')  # fmt: skip
    assert resolved.returncode == 0, resolved.stderr
    done = cli("resume", run_id)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"answer": "paid"}
    assert cli.log("wire") == ["100"]
    assert server.request_count == 2
    last = server.requests[-1].body["messages"][-1]
    assert last["role"] == "tool"
    assert "confirmed with the bank" in last["content"]


def test_kill_during_three_concurrent_tool_calls(tmp_path: Path, server: FakeLLMServer) -> None:
    calls = [("charge", {"amount": 5}), ("wire", {"amount": 7}), ("lookup", {"query": "x"})]
    server.script([Reply(tool_calls=calls), Reply(text="all done")])
    cli = Cli(tmp_path, server, "concurrent")
    first = cli("run", str(APP) + ":flow", "--input", "do three things")
    assert first.returncode == -9, first.stderr
    run_id = cli.run_id()
    resumed = cli("resume", run_id)
    assert resumed.returncode == 4, resumed.stdout + resumed.stderr
    charges = cli.log("charge")
    assert len(charges) == 2  # the idempotent tool was retried...
    assert len({line.split()[1] for line in charges}) == 1  # ...with the same idempotency key
    assert cli.log("wire") == ["7"]  # the at_most_once tool in flight is unknown, not re-run
    assert "UNKNOWN" in cli("show", run_id).stdout
    assert cli("resolve", run_id, "crash/clerk/tool:wire#3", "-a", "fail",
               "--comment", "bank has no record").returncode == 0  # fmt: skip
    done = cli("resume", run_id)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"answer": "all done"}
    assert server.request_count == 2  # no journaled model call repeated
    assert len(cli.log("charge")) == 2
    assert cli.log("wire") == ["7"]
    tool_messages = [m for m in server.requests[-1].body["messages"] if m["role"] == "tool"]
    assert next(m["content"] for m in tool_messages) == "charged 5"
    assert "bank has no record" in tool_messages[1]["content"]
