"""Durable steps, replay, suspension and resolution, in one process (see test_crash for kill -9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from podium.agents import Agent
from podium.errors import ModelHTTPError, NonDeterminismError, RunStateError
from podium.events import (
    ModelCallCompleted,
    ModelCallFailed,
    StepCompleted,
    StepUnknown,
    ToolCallCompleted,
    ToolCallIntent,
)
from podium.models import FallbackModel, RetryModel, RetryPolicy
from podium.runtime import Context, Runtime, workflow
from podium.store import MemoryStore, SQLiteStore, Store
from podium.testing import FakeClock, ScriptedModel, call
from podium.tools import ToolContext, tool
from podium.types import Effect, Resolution, RunStatus

pytestmark = pytest.mark.anyio

COUNTS: dict[str, int] = {}


def bump(name: str) -> int:
    COUNTS[name] = COUNTS.get(name, 0) + 1
    return COUNTS[name]


@pytest.fixture(autouse=True)
def _reset() -> None:
    COUNTS.clear()


async def types_of(store: Store, run_id: str) -> list[str]:
    return [s.event.type for s in await store.read(run_id)]


async def test_steps_replay_without_running_again(tmp_path: Path) -> None:
    @workflow
    async def flow(ctx: Context, input: Any) -> Any:
        a = await ctx.step("a", lambda: bump("a"))
        if COUNTS.get("crash") is None:
            COUNTS["crash"] = 1
            raise _Crash()
        b = await ctx.step("b", lambda: bump("b"))
        return [a, b]

    store = SQLiteStore(tmp_path / "db.sqlite")
    runtime = Runtime(store)
    run_id = await runtime.start(flow, None)
    with pytest.raises(_Crash):
        await runtime.resume(run_id, flow)
    # a fresh runtime and store object, as another process would have
    result = await Runtime(SQLiteStore(tmp_path / "db.sqlite")).resume(run_id, flow)
    assert result.status is RunStatus.COMPLETED
    assert result.output == [1, 1]
    assert COUNTS["a"] == 1
    assert COUNTS["b"] == 1


class _Crash(BaseException):
    """Simulates the process dying mid-run (nothing is recorded for it)."""


async def test_step_keys_are_readable_and_per_node() -> None:
    agent = Agent(name="triage", model=ScriptedModel([[call("noop")], "done"]), tools=[_noop])

    @workflow(name="support")
    async def flow(ctx: Context, input: Any) -> Any:
        await ctx.now()
        return await ctx.run(agent, input)

    runtime = Runtime()
    result = await runtime.run(flow, "hi")
    keys = [getattr(s.event, "key", None) for s in await runtime.store.read(result.run_id)]
    assert [k for k in keys if k] == [
        "support/now#1",
        "support/triage/model#1",
        "support/triage/tool:noop#2",
        "support/triage/model#3",
    ]


@tool(threaded=False)
def _noop() -> str:
    """Do nothing."""
    return "ok"


async def test_divergent_replay_fails_closed_naming_the_step() -> None:
    store = MemoryStore()
    variant = {"name": "first"}

    @workflow(name="flow")
    async def flow(ctx: Context, input: Any) -> Any:
        await ctx.step(variant["name"], lambda: 1)
        await ctx.wait_for("go")
        return "done"

    runtime = Runtime(store)
    result = await runtime.run(flow)
    assert result.status is RunStatus.SUSPENDED
    variant["name"] = "second"
    await runtime.signal(result.run_id, "go")
    with pytest.raises(NonDeterminismError, match=r"flow/second#1") as info:
        await runtime.resume(result.run_id, flow)
    assert "flow/first#1" in str(info.value)
    assert (await store.get_run(result.run_id)).status is not RunStatus.COMPLETED


async def test_changed_model_request_is_a_divergence() -> None:
    store = MemoryStore()
    prompt = {"text": "v1"}

    @workflow(name="flow")
    async def flow(ctx: Context, input: Any) -> Any:
        agent = Agent(name="a", model=ScriptedModel(["x", "y"]), instructions=prompt["text"])
        await ctx.run(agent, "hi")
        await ctx.wait_for("go")
        return "done"

    runtime = Runtime(store)
    run = await runtime.run(flow)
    prompt["text"] = "v2"
    await runtime.signal(run.run_id, "go")
    with pytest.raises(NonDeterminismError, match="model request differs"):
        await runtime.resume(run.run_id, flow)


async def test_clock_random_and_sleep_go_through_steps() -> None:
    clock = FakeClock()

    @workflow(name="flow")
    async def flow(ctx: Context, input: Any) -> Any:
        t0 = await ctx.now()
        token = await ctx.uuid()
        await ctx.sleep(2)
        t1 = await ctx.now()
        return {"t0": t0, "t1": t1, "token": token}

    runtime = Runtime(clock=clock)
    first = await runtime.run(flow)
    assert first.output["t1"] - first.output["t0"] == pytest.approx(2)  # type: ignore[index]
    clock.advance(1000)
    replay = await Runtime(runtime.store, clock=clock).result(first.run_id)
    assert replay.output == first.output
    kinds = [
        s.event.kind
        for s in await runtime.store.read(first.run_id)
        if isinstance(s.event, StepCompleted)
    ]
    assert kinds == ["clock", "random", "clock", "sleep", "clock"]


async def test_long_sleep_suspends_and_resumes_after_wake_time(tmp_path: Path) -> None:
    clock = FakeClock()

    @workflow(name="flow")
    async def flow(ctx: Context, input: Any) -> Any:
        await ctx.sleep(3600)
        return "woke"

    db = tmp_path / "db.sqlite"
    runtime = Runtime(SQLiteStore(db), clock=clock)
    result = await runtime.run(flow)
    assert result.status is RunStatus.SUSPENDED
    record = await runtime.store.get_run(result.run_id)
    assert record.wake_at == pytest.approx(clock.now() + 3600)
    early = await Runtime(SQLiteStore(db), clock=clock).resume(result.run_id, flow)
    assert early.status is RunStatus.SUSPENDED
    clock.advance(3600)
    done = await Runtime(SQLiteStore(db), clock=clock).resume(result.run_id, flow)
    assert done.output == "woke"


async def test_suspended_run_resumes_in_another_runtime_on_signal(tmp_path: Path) -> None:
    @workflow(name="approval")
    async def flow(ctx: Context, input: Any) -> Any:
        decision = await ctx.wait_for("decision")
        bump("after")
        return {"decision": decision}

    db = tmp_path / "db.sqlite"
    first = await Runtime(SQLiteStore(db)).run(flow, None)
    assert first.status is RunStatus.SUSPENDED
    assert (await SQLiteStore(db).get_run(first.run_id)).status is RunStatus.SUSPENDED
    other = Runtime(SQLiteStore(db))
    await other.signal(first.run_id, "decision", {"ok": True}, by="alice")
    assert (await other.store.get_run(first.run_id)).status is RunStatus.PENDING
    done = await other.resume(first.run_id, flow)
    assert done.output == {"decision": {"ok": True}}
    assert COUNTS["after"] == 1


async def test_corrupt_row_is_reported_and_run_not_executed() -> None:
    store = MemoryStore()

    @workflow(name="flow")
    async def flow(ctx: Context, input: Any) -> Any:
        await ctx.step("a", lambda: bump("a"))
        await ctx.wait_for("go")
        bump("after")
        return 1

    runtime = Runtime(store)
    run = await runtime.run(flow)
    store.corrupt(run.run_id, 4, '{"type": "step_completed", "key": 5}')
    from podium.errors import CorruptJournalError

    with pytest.raises(CorruptJournalError) as info:
        await runtime.resume(run.run_id, flow)
    assert info.value.seq == 4
    assert info.value.run_id == run.run_id
    assert "after" not in COUNTS
    assert COUNTS["a"] == 1


# -- tools ------------------------------------------------------------------------------------


async def test_invalid_tool_arguments_go_back_to_the_model() -> None:
    @tool
    def refund(order_id: str, amount: float) -> str:
        """Refund an order."""
        return "refunded"

    model = ScriptedModel(
        [
            [call("refund", order_id="A1", amount="lots")],
            [call("refund", order_id="A1", amount=5)],
            "done",
        ]
    )
    agent = Agent(name="agent", model=model, tools=[refund])
    result = await Runtime().run(agent, "refund A1")
    assert result.status is RunStatus.COMPLETED
    second_request = model.requests[1]
    error = second_request.messages[-1]
    assert getattr(error, "is_error", False) is True
    assert "amount" in getattr(error, "content", "")


async def test_unknown_tool_and_bad_json_are_tool_errors() -> None:
    from podium.testing.models import CallSpec

    model = ScriptedModel([[call("nope"), CallSpec("_noop", raw="{not json")], "done"])
    agent = Agent(name="agent", model=model, tools=[_noop])
    result = await Runtime().run(agent, "x")
    assert result.status is RunStatus.COMPLETED
    errors = [m for m in model.requests[1].messages if getattr(m, "is_error", False)]
    assert len(errors) == 2
    assert "unknown tool 'nope'" in errors[0].content  # type: ignore[union-attr]


async def test_tool_retries_with_backoff_and_stable_idempotency_key() -> None:
    seen: list[tuple[int, str]] = []

    @tool(
        effect=Effect.IDEMPOTENT, retry=RetryPolicy(max_attempts=3, initial_delay=1, jitter=False)
    )
    async def charge(amount: int, ctx: ToolContext) -> str:
        """Charge a card."""
        seen.append((ctx.attempt, ctx.idempotency_key))
        if ctx.attempt < 3:
            raise ConnectionError("card network down")
        return "charged"

    clock = FakeClock()
    agent = Agent(
        name="agent", model=ScriptedModel([[call("charge", amount=5)], "done"]), tools=[charge]
    )
    runtime = Runtime(clock=clock)
    result = await runtime.run(agent, "x")
    assert [a for a, _ in seen] == [1, 2, 3]
    assert len({k for _, k in seen}) == 1
    assert clock.sleeps == [1, 2]
    types = await types_of(runtime.store, result.run_id)
    assert types.count("tool_attempt_failed") == 2


async def test_tool_timeout_becomes_a_tool_error() -> None:
    import anyio

    @tool(timeout=0.05)
    async def slow() -> str:
        """Slow."""
        await anyio.sleep(5)
        return "never"

    model = ScriptedModel([[call("slow")], "gave up"])
    result = await Runtime().run(Agent(name="a", model=model, tools=[slow]), "x")
    assert result.output == "gave up"
    assert "timed out" in model.requests[1].messages[-1].content  # type: ignore[union-attr]


async def test_at_most_once_intent_then_unknown_then_resolution() -> None:
    @tool(effect=Effect.AT_MOST_ONCE)
    def send_wire(amount: int) -> str:
        """Send money."""
        if bump("wire") == 1:
            raise _Crash()  # the process dies after the intent, before the result
        return "sent"

    store = MemoryStore()
    model = ScriptedModel([[call("send_wire", amount=100)], "done"], by_turn=True)
    agent = Agent(name="payer", model=model, tools=[send_wire])
    runtime = Runtime(store)
    run_id = await runtime.start(agent, "pay")
    with pytest.raises(_Crash):
        await runtime.resume(run_id, agent)
    assert "tool_call_intent" in await types_of(store, run_id)
    result = await Runtime(store).resume(run_id, agent)
    assert result.status is RunStatus.NEEDS_ATTENTION
    assert result.waiting_for == "payer/tool:send_wire#2"
    assert COUNTS["wire"] == 1  # never retried automatically
    again = await Runtime(store).resume(run_id, agent)
    assert again.status is RunStatus.NEEDS_ATTENTION
    assert COUNTS["wire"] == 1
    assert (await types_of(store, run_id)).count("step_unknown") == 1
    with pytest.raises(RunStateError):
        await runtime.resolve(run_id, "payer/model#1", Resolution.SKIP)
    await runtime.resolve(run_id, "payer/tool:send_wire#2", "skip", result={"sent": True}, by="ops")
    assert (await store.get_run(run_id)).status is RunStatus.PENDING
    done = await Runtime(store).resume(run_id, agent)
    assert done.status is RunStatus.COMPLETED
    assert COUNTS["wire"] == 1
    completed = [
        s.event for s in await store.read(run_id) if isinstance(s.event, ToolCallCompleted)
    ]
    assert completed[0].result == {"sent": True}


async def test_at_most_once_retry_resolution_runs_it_again_once() -> None:
    @tool(effect=Effect.AT_MOST_ONCE)
    def send_wire(amount: int) -> str:
        """Send money."""
        if bump("wire") == 1:
            raise _Crash()
        return "sent"

    store = MemoryStore()
    agent = Agent(
        name="payer",
        model=ScriptedModel([[call("send_wire", amount=1)], "ok"], by_turn=True),
        tools=[send_wire],
    )
    runtime = Runtime(store)
    run_id = await runtime.start(agent, "pay")
    with pytest.raises(_Crash):
        await runtime.resume(run_id, agent)
    await runtime.resume(run_id, agent)
    await runtime.resolve(run_id, "payer/tool:send_wire#2", Resolution.RETRY, by="ops")
    done = await runtime.resume(run_id, agent)
    assert done.output == "ok"
    assert COUNTS["wire"] == 2
    events = [s.event for s in await store.read(run_id)]
    assert sum(isinstance(e, ToolCallIntent) for e in events) == 2
    assert sum(isinstance(e, StepUnknown) for e in events) == 1


async def test_at_most_once_fail_resolution_is_a_tool_error_for_the_model() -> None:
    @tool(effect=Effect.AT_MOST_ONCE)
    def send_wire(amount: int) -> str:
        """Send money."""
        raise _Crash()

    store = MemoryStore()
    model = ScriptedModel([[call("send_wire", amount=1)], "could not pay"], by_turn=True)
    agent = Agent(name="payer", model=model, tools=[send_wire])
    runtime = Runtime(store)
    run_id = await runtime.start(agent, "pay")
    with pytest.raises(_Crash):
        await runtime.resume(run_id, agent)
    await runtime.resume(run_id, agent)
    await runtime.resolve(run_id, "payer/tool:send_wire#2", Resolution.FAIL, comment="bank says no")
    done = await runtime.resume(run_id, agent)
    assert done.output == "could not pay"
    assert "bank says no" in model.requests[-1].messages[-1].content  # type: ignore[union-attr]


# -- models and agents ------------------------------------------------------------------------


async def test_failover_attempts_are_journaled_and_replay_does_not_call_again() -> None:
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    primary = ScriptedModel(
        [ModelHTTPError(429, "slow down", retry_after=3), ModelHTTPError(500, "boom")], name="p:one"
    )
    fallback = ScriptedModel(["from fallback"], name="f:two")
    model = FallbackModel(
        RetryModel(primary, RetryPolicy(max_attempts=2), sleep=fake_sleep), fallback
    )
    store = MemoryStore()
    agent = Agent(name="a", model=model)
    result = await Runtime(store).run(agent, "hi")
    assert result.output == "from fallback"
    assert sleeps
    assert sleeps[0] >= 3
    events = [s.event for s in await store.read(result.run_id)]
    failed = [e for e in events if isinstance(e, ModelCallFailed)]
    assert [(e.model, e.status_code) for e in failed] == [("p:one", 429), ("p:one", 500)]
    done = [e for e in events if isinstance(e, ModelCallCompleted)]
    assert done[0].response.text == "from fallback"
    again = await Runtime(store).resume(result.run_id, agent)
    assert again.output == "from fallback"
    assert len(fallback.requests) == 1


async def test_bad_request_does_not_fail_over() -> None:
    primary = ScriptedModel([ModelHTTPError(400, "bad content")], name="p:one")
    fallback = ScriptedModel(["never"], name="f:two")
    result = await Runtime().run(Agent(name="a", model=FallbackModel(primary, fallback)), "hi")
    assert result.status is RunStatus.FAILED
    assert "HTTP 400" in (result.error or "")
    assert fallback.requests == []


async def test_structured_output_is_validated_and_reasked() -> None:
    from pydantic import BaseModel

    class Verdict(BaseModel):
        approved: bool
        reason: str

    model = ScriptedModel(['{"approved": "maybe"}', '{"approved": true, "reason": "fine"}'])
    agent = Agent(name="judge", model=model, output_type=Verdict)
    result = await Runtime().run(agent, "decide")
    assert result.output == {"approved": True, "reason": "fine"}
    assert model.requests[0].output_schema is not None
    assert "not valid" in model.requests[1].messages[-1].content  # type: ignore[union-attr]


async def test_output_retries_and_max_turns_are_limits() -> None:
    from pydantic import BaseModel

    class Out(BaseModel):
        x: int

    bad = Agent(name="a", model=ScriptedModel(["nope", "nope"]), output_type=Out, output_retries=1)
    result = await Runtime().run(bad, "x")
    assert result.status is RunStatus.FAILED
    assert "OutputValidationError" in (result.error or "")
    looping = Agent(
        name="b", model=ScriptedModel([[call("_noop")]] * 3), tools=[_noop], max_turns=3
    )
    result = await Runtime().run(looping, "x")
    assert result.status is RunStatus.FAILED
    assert "MaxTurnsExceeded" in (result.error or "")


async def test_token_usage_recorded_per_call() -> None:
    from podium.messages import ModelResponse, Usage

    model = ScriptedModel([ModelResponse(text="hi", usage=Usage(input_tokens=7, output_tokens=3))])
    runtime = Runtime()
    result = await runtime.run(Agent(name="a", model=model), "x")
    assert result.usage == Usage(input_tokens=7, output_tokens=3)


async def test_parallel_tool_calls_run_concurrently() -> None:
    import anyio

    intervals: list[tuple[float, float]] = []

    @tool
    async def wait(n: int) -> int:
        """Wait a bit."""
        start = anyio.current_time()
        await anyio.sleep(0.05)
        intervals.append((start, anyio.current_time()))
        return n

    model = ScriptedModel([[call("wait", n=1), call("wait", n=2), call("wait", n=3)], "ok"])
    await Runtime().run(Agent(name="a", model=model, tools=[wait]), "x")
    assert len(intervals) == 3
    latest_start = max(s for s, _ in intervals)
    earliest_end = min(e for _, e in intervals)
    assert latest_start < earliest_end  # all three were running at the same time
    contents = [m.content for m in model.requests[1].messages[-3:]]  # type: ignore[union-attr]
    assert contents == ["1", "2", "3"]  # results in call order


async def test_cancel_suspended_run_and_refuse_later_signals() -> None:
    @workflow(name="flow")
    async def flow(ctx: Context, input: Any) -> Any:
        return await ctx.wait_for("go")

    runtime = Runtime()
    run = await runtime.run(flow)
    await runtime.cancel(run.run_id, reason="no longer needed", by="bob")
    assert (await runtime.store.get_run(run.run_id)).status is RunStatus.CANCELLED
    with pytest.raises(RunStateError):
        await runtime.signal(run.run_id, "go")
    result = await runtime.resume(run.run_id, flow)
    assert result.status is RunStatus.CANCELLED


async def test_workflow_result_is_json() -> None:
    @workflow(name="flow")
    async def flow(ctx: Context, input: Any) -> Any:
        return {"echo": input}

    result = await Runtime().run(flow, {"a": [1, 2]})
    assert json.loads(json.dumps(result.output)) == {"echo": {"a": [1, 2]}}
