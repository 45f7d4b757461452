"""Time travel: `podium fork RUN --at STEP` starts a run from another's journal prefix.

Through the CLI in subprocesses (real SQLite, the official OpenAI SDK against the fake LLM
server, tools that log what they really did), and through `Runtime.fork` for the rules at the
fork point (approvals)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from podium import Agent, Effect, Runtime, SQLiteStore, tool
from podium.events import (
    ApprovalDecided,
    ApprovalRequested,
    ExecutionStarted,
    RunStarted,
    RunSuspended,
)
from podium.messages import ToolMessage
from podium.policy import ApprovalRule, Principal
from podium.store import Store
from podium.testing import ScriptedModel, call
from podium.testing.fake_llm import FakeLLMServer, Reply
from podium.types import RunStatus
from tenancy_kit import backend

APPS = Path(__file__).parent / "apps"
FORK_APP = APPS / "fork_app.py"
CRASH_APP = APPS / "crash_app.py"


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


class Cli:
    def __init__(self, tmp_path: Path, server: FakeLLMServer, **env: str) -> None:
        self.db = tmp_path / "podium.db"
        self.state = tmp_path / "state"
        self.state.mkdir()
        self.env = {
            **os.environ,
            "OPENAI_BASE_URL": server.openai_base_url,
            "OPENAI_API_KEY": "test-key",
            "PODIUM_ALLOW_MODEL_REQUESTS": "0",
            "STATE_DIR": str(self.state),
            **env,
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "podium", "--db", str(self.db), *args]
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=90)

    def log(self, name: str) -> list[str]:
        path = self.state / f"{name}.log"
        return path.read_text().splitlines() if path.exists() else []

    def events(self, run_id: str) -> list[Any]:
        async def read() -> list[Any]:
            async with SQLiteStore(self.db) as store:
                return [s.event for s in await store.read(run_id, verify=True)]

        return anyio.run(read)


def _ids(text: str) -> list[str]:
    return [w.strip(".,") for w in text.split() if w.startswith("run_")]


def _paid_run(cli: Cli, server: FakeLLMServer) -> str:
    server.script([Reply(tool_calls=[("wire", {"amount": 100})]), Reply(text="paid 100")])
    done = cli("run", f"{FORK_APP}:flow", "--input", "pay 100")
    assert done.returncode == 0, done.stderr
    assert cli.log("wire") == ["100"]
    return _ids(done.stderr)[0]


@pytest.mark.slow
def test_a_fork_with_new_code_replays_the_prefix_and_repeats_none_of_its_effects(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    cli = Cli(tmp_path, server)
    original = _paid_run(cli, server)
    server.script([Reply(text="paid 100, confirmed")])
    forked = cli("fork", original, "--at", "pay/clerk/model#3", "--target", f"{FORK_APP}:flow_v2")
    assert forked.returncode == 0, forked.stderr
    fork_id = next(i for i in _ids(forked.stderr) if i != original)
    assert f"run {fork_id} forked from {original} at pay/clerk/model#3" in forked.stderr
    assert "note:" not in forked.stderr  # the wire is before the point: carried
    assert json.loads(forked.stdout) == {
        "answer": "paid 100, confirmed",
        "receipt": "RECEIPT v2: paid 100, confirmed",
    }
    # the wire the prefix made was not made again; only the step at the fork point was asked
    assert cli.log("wire") == ["100"]
    assert cli.log("receipt") == ["v1", "v2"]
    assert server.request_count == 3
    asked = server.requests[-1].body["messages"]
    assert any(m["role"] == "tool" and m["content"] == "wired 100" for m in asked)

    # the fork's journal: its own run_started, then the original's events before the point
    before, after = cli.events(original), cli.events(fork_id)
    started = after[0]
    assert isinstance(started, RunStarted)
    assert (started.forked_from, started.fork_point) == (original, "pay/clerk/model#3")
    assert started.workflow.endswith("fork_app.py:flow_v2")
    assert started.input == "pay 100"
    cut = next(i for i, e in enumerate(before) if getattr(e, "key", "") == "pay/clerk/model#3")
    kept = [e for e in before[1:cut] if not isinstance(e, ExecutionStarted | RunSuspended)]
    assert after[1 : 1 + started.carried] == kept

    shown = cli("show", fork_id)
    assert f"forked from {original} at pay/clerk/model#3 ({len(kept)} events carried)" in (
        shown.stdout
    )
    parent = cli("show", original)
    assert f"fork: {fork_id} at pay/clerk/model#3 (completed)" in parent.stdout
    listed = cli("runs", "--tag", f"forked-from:{original}")
    assert _ids(listed.stdout) == [fork_id]
    # the cost report counts the carried call once: with the original
    cost = json.loads(cli("cost", "--by", "run", "--json").stdout)
    assert {row["key"]: row["calls"] for row in cost["by"]["run"]} == {original: 2, fork_id: 1}


@pytest.mark.slow
def test_a_fork_with_new_input_at_the_first_step(tmp_path: Path, server: FakeLLMServer) -> None:
    cli = Cli(tmp_path, server)
    original = _paid_run(cli, server)
    server.script([Reply(tool_calls=[("wire", {"amount": 50})]), Reply(text="paid 50")])
    forked = cli("fork", original, "--at", "pay/clerk/model#1", "--input", "pay 50")
    assert forked.returncode == 0, forked.stderr
    assert json.loads(forked.stdout)["answer"] == "paid 50"
    assert (
        "note: the original began at_most_once steps after pay/clerk/model#1; the fork runs "
        "them again if its code calls them: pay/clerk/tool:wire#2"
    ) in forked.stderr
    first_ask = server.requests[2].body["messages"]
    assert first_ask[-1] == {"role": "user", "content": "pay 50"}
    # an at_most_once tool after the fork point belongs to the fork: it ran for the new input
    assert cli.log("wire") == ["100", "50"]


@pytest.mark.slow
def test_an_unfinished_at_most_once_step_at_the_fork_point_is_unknown_not_run_again(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    cli = Cli(tmp_path, server, CRASH_AT="intent")
    server.script([Reply(tool_calls=[("wire", {"amount": 100})])])
    crashed = cli("run", f"{CRASH_APP}:flow", "--input", "pay 100")
    assert crashed.returncode == -9, crashed.stderr  # killed between the intent and the result
    assert cli.log("wire") == ["100"]
    [original] = _ids(cli("runs").stdout)

    forked = cli("fork", original, "--at", "crash/clerk/tool:wire#2")
    assert forked.returncode == 4, forked.stderr  # needs attention, as after the crash itself
    fork_id = next(i for i in _ids(forked.stderr) if i != original)
    assert cli.log("wire") == ["100"]  # never begun again
    shown = cli("show", fork_id)
    assert "crash/clerk/tool:wire#2" in shown.stdout
    assert "UNKNOWN" in shown.stdout

    server.script([Reply(text="paid (confirmed with the bank)")])
    resolved = cli("resolve", fork_id, "crash/clerk/tool:wire#2", "--action", "skip",
                   "--result", '"wired 100"')  # fmt: skip
    assert resolved.returncode == 0, resolved.stderr
    done = cli("resume", fork_id)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"answer": "paid (confirmed with the bank)"}
    assert cli.log("wire") == ["100"]


@pytest.mark.slow
def test_bad_fork_points_and_foreign_runs_write_nothing(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    cli = Cli(tmp_path, server)
    original = _paid_run(cli, server)
    nowhere = cli("fork", original, "--at", "pay/clerk/model#9")
    assert nowhere.returncode == 2
    assert f"run {original} has no step or node 'pay/clerk/model#9'" in nowhere.stderr
    assert "pay/clerk/model#1" in nowhere.stderr  # it names the steps there are
    too_far = cli("fork", original, "--at", "999")
    assert too_far.returncode == 2
    assert "fork at a seq from 2 to" in too_far.stderr
    # another namespace's run looks exactly like a missing one
    foreign = cli("fork", original, "--at", "pay/clerk/model#1", "--namespace", "other")
    missing = cli("fork", "run_00000000000000000000", "--at", "pay/clerk/model#1")
    assert foreign.returncode == missing.returncode == 3
    assert foreign.stderr.replace(original, "ID") == missing.stderr.replace(
        "run_00000000000000000000", "ID"
    )
    assert _ids(cli("runs").stdout) == [original]
    assert server.request_count == 2


# -- approvals at the fork point (Python API) ---------------------------------------------------

PAID: list[int] = []
CFO = Principal("carol", frozenset({"cfo"}))


@tool(
    effect=Effect.AT_MOST_ONCE,
    approval=ApprovalRule(when=lambda a: a["amount"] > 1000, role="cfo"),
    threaded=False,
)
def pay(amount: int, to: str) -> str:
    """Pay a supplier."""
    PAID.append(amount)
    return f"paid {amount} to {to}"


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with backend(request.param, tmp_path, url) as where:
        async with where.open() as opened:
            yield opened


@pytest.mark.anyio
async def test_a_pending_approval_is_asked_again_in_the_fork_and_a_decided_one_carried(
    store: Store,
) -> None:
    PAID.clear()
    turns = [call("pay", amount=2000, to="a"), call("pay", amount=3000, to="b")]
    model = ScriptedModel([turns, "original done", "fork done"])
    agent = Agent(name="payer", identity="payer-bot", model=model, tools=[pay])
    runtime = Runtime(store)
    first = await runtime.run(agent, "pay them")
    asked = {p.request.key: p for p in await runtime.approvals()}
    await runtime.decide(asked["payer/tool:pay#2"].approval_id, "approve", by=CFO)
    second = await runtime.resume(first.run_id, agent)
    assert second.status is RunStatus.SUSPENDED  # 2000 paid, 3000 still waiting
    assert PAID == [2000]
    events = await runtime.read(first.run_id)
    point = next(s.seq for s in events if getattr(s.event, "key", "") == "payer/tool:pay#2"
                 and s.event.type == "tool_call_intent")  # fmt: skip

    fork_id = await runtime.fork(first.run_id, at=str(point))
    forked = await runtime.resume(fork_id, agent)
    assert forked.status is RunStatus.SUSPENDED
    assert PAID == [2000]  # the approved payment the fork point began is carried, not repeated
    carried = [s.event for s in await runtime.read(fork_id)]
    [kept] = [e for e in carried if isinstance(e, ApprovalDecided)]
    assert kept.approval_id.endswith(f".{fork_id}")  # renamed into the fork
    assert kept.key == "payer/tool:pay#2"
    # the 3000 request was open at the fork point: the fork asked again, under its own id
    inbox = {(p.run_id, p.request.key): p for p in await runtime.approvals()}
    mine = inbox[(fork_id, "payer/tool:pay#3")]
    theirs = inbox[(first.run_id, "payer/tool:pay#3")]
    assert mine.approval_id != theirs.approval_id
    assert forked.waiting_for == mine.approval_id
    assert len([e for e in carried if isinstance(e, ApprovalRequested)]) == 2

    await runtime.decide(theirs.approval_id, "reject", by=CFO)  # the original's decision...
    await runtime.decide(mine.approval_id, "approve", by=CFO)  # ...is not the fork's
    done = await runtime.resume(fork_id, agent)
    assert done.status is RunStatus.COMPLETED
    assert PAID == [2000, 3000]
    tool_results = [m.content for m in model.requests[-1].messages if isinstance(m, ToolMessage)]
    assert tool_results == ["paid 2000 to a", "paid 3000 to b"]


@pytest.mark.anyio
async def test_a_fork_of_a_fork_at_a_node_path_is_the_forks_alone() -> None:
    model = ScriptedModel(["one", "two", "three"])
    clerk = Agent(name="clerk", model=model)
    runtime = Runtime()
    original = await runtime.run(clerk, "hi", tags=["team-a"])
    first = await runtime.fork(original.run_id, at="clerk", input="hello")  # a node path
    assert (await runtime.resume(first, clerk)).output == "two"
    second = await runtime.fork(first, at="clerk/model#1")
    assert (await runtime.resume(second, clerk)).output == "three"
    records = {r.run_id: r for r in await runtime.list_runs()}
    assert records[first].tags == ("team-a", f"forked-from:{original.run_id}")
    assert records[second].tags == ("team-a", f"forked-from:{first}")
    [started] = [s.event for s in await runtime.read(second)][:1]
    assert isinstance(started, RunStarted)
    assert started.input == "hello"  # the input of the run it was forked from
    assert started.carried == 1  # the agent node's start, before its model call
    assert len(model.requests) == 3
