"""Record a run, replay it as a test: podium.testing.replay."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from podium import Agent, Context, Effect, RetryPolicy, Runtime, tool, workflow
from podium.events import encode
from podium.messages import ModelRequest
from podium.patterns import Parallel, Sequential
from podium.store import MemoryStore, Store
from podium.testing import FunctionModel, ScriptedModel, call
from podium.testing.replay import (
    RecordedModel,
    Recording,
    assert_same,
    diff,
    replay,
)

pytestmark = pytest.mark.anyio

CALLS: Counter[str] = Counter()  # real tool executions


@tool
def lookup(order_id: str) -> str:
    """Look up an order."""
    CALLS["lookup"] += 1
    return f"{order_id} shipped"


@tool(name="lookup")
def lookup_express(order_id: str, express: bool = False) -> str:
    """Look up an order (now with an express flag)."""
    CALLS["lookup"] += 1
    return f"{order_id} shipped"


@tool(effect=Effect.AT_MOST_ONCE)
def refund(order_id: str, amount: float) -> dict[str, Any]:
    """Refund an order."""
    CALLS["refund"] += 1
    return {"refund_id": "R-1", "order_id": order_id, "amount": amount}


def normalize(found: Any) -> Any:
    return found


def make(
    *,
    instructions: str = "Look orders up.",
    lookup_tool: Any = lookup,
    refund_tools: tuple[Any, ...] = (refund,),
    extra: tuple[Any, ...] = (),
    writer: bool = True,
) -> Sequential:
    """The support workflow; the keyword arguments are the changes a test makes to it."""
    clerk = Agent(
        name="clerk",
        instructions=instructions,
        model=ScriptedModel(
            [call("lookup", order_id="A-1"), "A-1 has shipped."], by_turn=True, name="s:clerk"
        ),
        tools=[lookup_tool],
    )
    refunder = Agent(
        name="refunder",
        model=ScriptedModel(
            [call("refund", order_id="A-1", amount=5.0), "Refunded 5."], by_turn=True, name="s:r"
        ),
        tools=list(refund_tools),
    )
    write = Agent(
        name="writer",
        model=FunctionModel(lambda r: f"Dear customer: {r.messages[-1].content}", name="f:w"),
    )
    steps = [Parallel("desk", [clerk, refunder]), *extra, *([write] if writer else [])]
    return Sequential("support", steps)


def export(events: list[Any], run_id: str, path: Path) -> Path:
    """Write the ``podium export`` JSONL format (a header, then one line per event)."""
    header = {"podium_export": 1, "run_id": run_id, "events": len(events), "head": "h"}
    rows = [
        {"run_id": run_id, "seq": s.seq, "ts": s.ts, "type": s.event.type,
         "event": json.loads(encode(s.event))}
        for s in events
    ]  # fmt: skip
    lines = [json.dumps(header), *(json.dumps(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def record(node: Any, input: Any, tmp_path: Path, store: Store | None = None) -> Recording:
    runtime = Runtime(store or MemoryStore())
    result = await runtime.run(node, input)
    assert result.status.value == "completed", result.error
    stored = await runtime.store.read(result.run_id)
    CALLS.clear()
    return Recording.from_jsonl(export(stored, result.run_id, tmp_path / "run.jsonl"))


@pytest.fixture
async def recording(tmp_path: Path) -> Recording:
    return await record(make(), "Where is A-1? Refund the shipping.", tmp_path)


async def test_a_recorded_run_replays_offline_identically(
    recording: Recording, tmp_path: Path
) -> None:
    flow = make()
    result = await assert_same(recording, flow)
    assert result.run.output == recording.events[-1].output  # type: ignore[union-attr]
    assert result.diffs == ()
    assert not CALLS  # no tool really ran, the at_most_once refund included
    recorded = [e.key for e in recording.events if e.type == "model_call_completed"]
    assert sorted(c.key for c in result.served) == sorted(recorded)
    assert {c.how for c in result.served} == {"digest"}
    assert sorted(result.tools_served) == [
        "support/desk[clerk]/tool:lookup#2",
        "support/desk[refunder]/tool:refund#2",
    ]
    assert result.unserved == ()  # the recorded models answered every model step
    assert os.environ["PODIUM_ALLOW_MODEL_REQUESTS"] == "0"


async def test_from_store_and_from_jsonl_read_the_same_run(tmp_path: Path) -> None:
    runtime = Runtime()
    run = await runtime.run(make(), "Where is A-1?")
    stored = await runtime.store.read(run.run_id)
    from_store = await Recording.from_store(runtime.store, run.run_id)
    from_file = Recording.from_jsonl(export(stored, run.run_id, tmp_path / "r.jsonl"))
    assert from_store == from_file
    assert from_file.run_id == run.run_id
    assert from_file.started.input == "Where is A-1?"


async def test_changed_instructions_show_as_changed_model_requests(recording: Recording) -> None:
    result = await replay(make(instructions="Be brief."), recording)
    changed = {d.key: d for d in result.diffs}
    assert set(changed) == {"support/desk[clerk]/model#1", "support/desk[clerk]/model#3"}
    assert changed["support/desk[clerk]/model#1"].change == "changed"
    assert "the model request changed" in changed["support/desk[clerk]/model#1"].description
    by = {c.key: c.how for c in result.served}
    assert by["support/desk[clerk]/model#1"] == "order"  # the agent's answers, in order
    assert by["support/writer/model#1"] == "digest"
    assert result.run.output == recording.events[-1].output  # type: ignore[union-attr]
    with pytest.raises(AssertionError, match=r"changed support/desk\[clerk\]/model#1: the model"):
        await assert_same(recording, make(instructions="Be brief."))


async def test_a_new_step_shows_as_added(recording: Recording) -> None:
    result = await replay(make(extra=(normalize,)), recording)
    assert [(d.change, d.key) for d in result.diffs] == [
        ("added", "support/normalize"),
        ("added", "support/normalize/call#1"),
    ]
    assert 'new: kind "function"' in str(result.diffs[0])


async def test_a_removed_tool_shows_at_its_step(recording: Recording) -> None:
    result = await replay(make(refund_tools=()), recording)
    step = next(d for d in result.diffs if d.key == "support/desk[refunder]/tool:refund#2")
    assert step.change == "changed"
    assert "unknown tool 'refund'" in step.description
    assert CALLS["refund"] == 0


async def test_different_tool_arguments_show_at_their_step(recording: Recording) -> None:
    result = await replay(make(lookup_tool=lookup_express), recording)
    changed = {d.key: d.description for d in result.diffs}
    assert changed["support/desk[clerk]/tool:lookup#2"] == (
        'arguments {"order_id": "A-1"} -> {"order_id": "A-1", "express": false}'
    )
    assert set(changed) == {  # the tool's schema is part of the model request too
        "support/desk[clerk]/model#1",
        "support/desk[clerk]/tool:lookup#2",
        "support/desk[clerk]/model#3",
    }
    assert CALLS["lookup"] == 0  # served by step key, still not run


async def test_a_removed_agent_shows_its_steps_missing(recording: Recording) -> None:
    result = await replay(make(writer=False), recording)
    missing = [d.key for d in result.diffs if d.change == "missing"]
    assert missing == ["support/writer", "support/writer/model#1"]
    run = next(d for d in result.diffs if d.key == "(run)")
    assert run.change == "changed"
    assert run.description.startswith("output")


async def test_a_new_agent_has_no_recorded_answer(recording: Recording) -> None:
    auditor = Agent(name="auditor", model=ScriptedModel(["fine"], name="s:auditor"))
    result = await replay(make(extra=(auditor,)), recording)
    added = next(d for d in result.diffs if d.key == "support/auditor/model#1")
    assert added.change == "added"
    assert "NoRecordedAnswer: no recorded answer" in added.description
    assert result.run.status.value == "failed"
    assert "(run)" in {d.key for d in result.diffs}


CLERK = Agent(
    name="clerk",
    model=ScriptedModel(["Approved: yes."], by_turn=True, name="openai:gpt-4.1-mini"),
)


@workflow(name="triage")
async def triage(ctx: Context, question: str) -> dict[str, Any]:
    when = await ctx.now()  # a timestamp: never compared
    go = await ctx.wait_for("go")
    return {"answer": await ctx.run(CLERK, f"{question} {go}"), "late": when > 0}


async def test_a_workflow_function_with_a_signal_replays(tmp_path: Path) -> None:
    runtime = Runtime()
    run_id = await runtime.start(triage, "May I?")
    assert (await runtime.resume(run_id)).status.value == "suspended"
    await runtime.signal(run_id, "go", "approved")
    assert (await runtime.resume(run_id, triage)).status.value == "completed"
    recording = await Recording.from_store(runtime.store, run_id)
    # the agent is found through the function's globals; a string model works the same way
    real = CLERK.model
    object.__setattr__(CLERK, "model", "openai:gpt-4.1-mini")  # would be blocked offline
    try:
        result = await assert_same(recording, triage)
    finally:
        object.__setattr__(CLERK, "model", real)
    assert result.run.output == {"answer": "Approved: yes.", "late": True}
    assert [c.how for c in result.served] == ["digest"]


async def test_an_agent_built_inside_a_function_is_served_too(tmp_path: Path) -> None:
    @workflow(name="inline")
    async def inline(ctx: Context, text: str) -> str:
        agent = Agent(name="echo", model=FunctionModel(lambda r: "same", name="f:echo"))
        return str(await ctx.run(agent, text))

    recording = await record(inline, "hi", tmp_path)
    result = await replay(inline, recording)
    assert result.diffs == ()
    assert result.unserved == ()  # every agent runs through the runtime's agent_override
    await assert_same(recording, inline)


async def test_failed_tool_attempts_replay_the_same(tmp_path: Path) -> None:
    attempts: list[int] = []

    @tool(retry=RetryPolicy(max_attempts=2, initial_delay=0.0, jitter=False))
    def flaky(order_id: str) -> str:
        """Flaky lookup."""
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("reset by peer")
        return "ok"

    def agent() -> Agent:
        script = [call("flaky", order_id="A-1"), "done"]
        return Agent(name="a", model=ScriptedModel(script, by_turn=True), tools=[flaky])

    recording = await record(agent(), "go", tmp_path)
    attempts.clear()
    result = await assert_same(recording, agent())
    assert attempts == []
    failed = [e for e in result.events if e.type == "tool_attempt_failed"]
    assert [e.error.describe() for e in failed] == ["ConnectionError: reset by peer"]  # type: ignore[union-attr]


async def test_diff_ignores_run_ids_times_and_clock_values() -> None:
    runtime = Runtime()
    first = await runtime.run(make(), "Where is A-1?")
    second = await runtime.run(make(), "Where is A-1?")
    assert first.run_id != second.run_id
    events = [await runtime.store.read(r.run_id) for r in (first, second)]
    assert diff(*events) == []
    assert [str(d) for d in diff(events[0], events[0][:3])][-1].startswith("missing (run)")


def test_a_bad_export_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"something": "else"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="not a podium export"):
        Recording.from_jsonl(path)
    header = {"podium_export": 1, "run_id": "r", "events": 2}
    event = {"seq": 1, "event": {"type": "run_started", "workflow": "w", "input": None}}
    path.write_text(f"{json.dumps(header)}\n{json.dumps(event)}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="the header says 2"):
        Recording.from_jsonl(path)


def test_recorded_model_without_an_answer_is_a_clear_model_error() -> None:
    from podium.testing.replay import NoRecordedAnswer, Replayer

    replayer = Replayer(Recording("r", ()))
    model = RecordedModel(replayer, "s:any", "agent")
    assert model.name == "s:any"
    with pytest.raises(NoRecordedAnswer, match="never asked s:any"):
        replayer.answer("s:any", "agent", ModelRequest(messages=()))
