"""The durable-step kernel: one replay rule, one door, one fan-out.

- No module outside the kernel (``runtime/step.py``) and the fold it reads
  (``runtime/state.py``) reads replay state: an AST scan of ``src/podium`` keeps it so.
- Patterns talk to the runtime through ``Context`` only (and import-linter forbids them the
  state, journal, step and execution modules; see pyproject.toml).
- The effect class is checked on replay: an open at_most_once intent is never run again
  under another effect class, and a changed effect class fails closed.
- Model and tool calls are chains of small layers, each called with one input dataclass.
- The one fan-out primitive (``Context.gather``): values in branch order, suspensions
  collected, the first error raised unwrapped and the siblings cancelled.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from podium.agents import Agent
from podium.errors import NonDeterminismError
from podium.events import StepUnknown, ToolCallIntent
from podium.providers.openai import OpenAIModel
from podium.runtime import Context, Runtime, calls, model_calls, workflow
from podium.store import MemoryStore, SQLiteStore, Store
from podium.testing import ScriptedModel, call
from podium.testing.fake_llm import FakeLLMServer, Reply
from podium.tools import tool
from podium.types import Effect, RunStatus

pytestmark = pytest.mark.anyio

SRC = Path(__file__).resolve().parents[1] / "src" / "podium"
KERNEL = {"runtime/step.py", "runtime/state.py"}
# what ReplayState holds about steps: results, slots, intents, resolutions, signals taken,
# approvals by step, nodes started/finished, guardrail trips — and the questions asked of it
REPLAY_READS = {
    "results", "slots", "resolutions", "check_slot", "pending_intent", "latest_resolution",
    "next_signal", "consumed_signals", "trips", "nodes_started",
    "nodes_finished", "spend_by_path",
}  # fmt: skip
# names other objects use too (a tracer's intents): flagged when read off a ``state``
STATE_READS = {"intents", "unknown", "decisions", "approvals", "approvals_by_key", "signals"}
# the modules that build a ReplayState from a journal (outside a pass) or write through it
STATE_HOLDERS = KERNEL | {"runtime/journal.py", "runtime/engine.py", "runtime/approvals.py"}


def modules() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(SRC).as_posix(), ast.parse(path.read_text(), str(path)))
        for path in sorted(SRC.rglob("*.py"))
    ]


def test_no_module_outside_the_kernel_reads_replay_state() -> None:
    found = [
        f"{name}:{node.lineno}: .{node.attr}"
        for name, tree in modules()
        if name not in KERNEL
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in REPLAY_READS
    ]
    assert found == []


def _off_state(node: ast.AST) -> bool:
    if not isinstance(node, ast.Attribute) or node.attr not in STATE_READS:
        return False
    base = node.value
    return (isinstance(base, ast.Name) and base.id == "state") or (
        isinstance(base, ast.Attribute) and base.attr == "state"
    )


def test_only_the_state_holders_read_a_replay_state() -> None:
    found = [
        f"{name}:{node.lineno}: .{node.attr}"  # type: ignore[attr-defined]
        for name, tree in modules()
        if name not in STATE_HOLDERS
        for node in ast.walk(tree)
        if _off_state(node)
    ]
    assert found == []


def test_only_the_state_holders_import_replay_state() -> None:
    found = [
        f"{name}:{node.lineno}"
        for name, tree in modules()
        if name not in STATE_HOLDERS
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module == "podium.runtime.state"
        and any(alias.name == "ReplayState" for alias in node.names)
    ]
    assert found == []


def test_the_scan_would_see_a_replay_read() -> None:
    """The scan is not vacuous: the kernel itself reads what the others may not."""
    kernel = dict(modules())["runtime/step.py"]
    attrs = {n.attr for n in ast.walk(kernel) if isinstance(n, ast.Attribute)}
    assert {"results", "intents", "pending_intent", "check_slot"} <= attrs
    assert any(_off_state(n) for n in ast.walk(kernel))


def test_patterns_use_context_only() -> None:
    found = [
        f"{name}:{node.lineno}"
        for name, tree in modules()
        if name.startswith("patterns/")
        for node in ast.walk(tree)
        if (isinstance(node, ast.Attribute) and node.attr in {"execution", "kernel", "journal"})
        or (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Context")
    ]
    assert found == []


# -- the effect class on replay -----------------------------------------------------------------


class _Crash(BaseException):
    """The process dying mid-call (nothing is recorded for it)."""


CALLS: list[str] = []


def wire_tool(effect: Effect) -> Any:
    @tool(effect=effect, name="send_wire")
    def send_wire(amount: int) -> str:
        """Send money."""
        CALLS.append(effect.value)
        if len(CALLS) == 1:
            raise _Crash()  # dies after the intent, before the result
        return "sent"

    return send_wire


def payer(effect: Effect) -> Agent:
    model = ScriptedModel([[call("send_wire", amount=100)], "done"], by_turn=True)
    return Agent(name="payer", model=model, tools=[wire_tool(effect)])


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "k.db")


async def test_open_intent_is_not_run_again_when_the_code_says_idempotent(store: Store) -> None:
    CALLS.clear()
    runtime = Runtime(store)
    run_id = await runtime.start(payer(Effect.AT_MOST_ONCE), "pay")
    with pytest.raises(_Crash):
        await runtime.resume(run_id, payer(Effect.AT_MOST_ONCE))
    assert CALLS == ["at_most_once"]
    with pytest.raises(NonDeterminismError, match="open at_most_once intent of 'send_wire'"):
        await Runtime(store).resume(run_id, payer(Effect.IDEMPOTENT))
    assert CALLS == ["at_most_once"]  # never run again
    events = [s.event for s in await store.read(run_id)]
    assert [e.key for e in events if isinstance(e, StepUnknown)] == ["payer/tool:send_wire#2"]
    assert sum(isinstance(e, ToolCallIntent) for e in events) == 1
    result = await Runtime(store).result(run_id)
    assert result.status is RunStatus.NEEDS_ATTENTION
    assert result.waiting_for == "payer/tool:send_wire#2"
    with pytest.raises(NonDeterminismError):  # and again: still not run, unknown once
        await Runtime(store).resume(run_id, payer(Effect.READ))
    assert CALLS == ["at_most_once"]
    assert sum(isinstance(s.event, StepUnknown) for s in await store.read(run_id)) == 1


async def test_a_changed_effect_class_of_a_finished_step_fails_closed() -> None:
    CALLS.clear()
    CALLS.append("first call done")  # no crash this time
    store = MemoryStore()
    runtime = Runtime(store)
    run = await runtime.run(flow_with(Effect.IDEMPOTENT))
    assert run.status is RunStatus.SUSPENDED
    assert CALLS == ["first call done", "idempotent"]
    await runtime.signal(run.run_id, "go", 1)
    with pytest.raises(NonDeterminismError, match="holds a idempotent step here; the code now"):
        await Runtime(store).resume(run.run_id, flow_with(Effect.AT_MOST_ONCE))
    assert CALLS == ["first call done", "idempotent"]
    same = await Runtime(store).resume(run.run_id, flow_with(Effect.IDEMPOTENT))
    assert same.status is RunStatus.COMPLETED
    assert same.output == 1
    assert CALLS == ["first call done", "idempotent"]


def flow_with(effect: Effect) -> Any:
    @workflow(name="flow")
    async def again(ctx: Context, input: Any) -> Any:
        await ctx.run(payer(effect), "pay")
        return await ctx.wait_for("go")

    return again


# -- the fan-out primitive ---------------------------------------------------------------------


async def test_gather_keeps_branch_order_and_collects_suspensions() -> None:
    seen: dict[str, Any] = {}

    @workflow(name="fan")
    async def fan(ctx: Context, input: Any) -> Any:
        async def branch(i: int) -> int:
            await anyio.sleep(0.01 * (3 - i))  # finish in reverse order
            if i == 1:
                await ctx.branch("b1").wait_for("go")
            return i * 10

        gathered = await ctx.gather(3, branch)
        seen["values"] = gathered.values
        seen["suspended"] = [s.waiting_for for s in gathered.suspended]
        gathered.raise_suspended()
        return gathered.values

    result = await Runtime().run(fan)
    assert result.status is RunStatus.SUSPENDED
    assert seen["suspended"] == ["go"]
    assert seen["values"][0] == 0
    assert seen["values"][2] == 20


async def test_gather_raises_the_first_error_unwrapped_and_cancels_the_rest() -> None:
    finished: list[int] = []

    @workflow(name="fan")
    async def fan(ctx: Context, input: Any) -> Any:
        async def branch(i: int) -> int:
            if i == 0:
                raise ValueError("branch 0 broke")
            await anyio.sleep(5)
            finished.append(i)
            return i

        await ctx.gather(3, branch)
        return "unreachable"

    result = await Runtime().run(fan)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.startswith("ValueError: branch 0 broke")
    assert finished == []  # cancelled, not waited for


async def test_gather_stop_cancels_the_branches_still_running() -> None:
    @workflow(name="fan")
    async def fan(ctx: Context, input: Any) -> Any:
        async def branch(i: int) -> int:
            await anyio.sleep(0 if i == 2 else 5)
            return i

        gathered = await ctx.gather(3, branch, stop=lambda i, value: value == 2)
        return [v if isinstance(v, int) else None for v in gathered.values]

    result = await Runtime().run(fan)
    assert result.output == [None, None, 2]


# -- a pass closes the models it built ---------------------------------------------------------


@pytest.fixture
def fake_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        monkeypatch.setenv("PODIUM_OPENAI_BASE_URL", server.openai_base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        yield server


async def test_models_built_from_strings_are_closed_after_every_pass(
    fake_llm: FakeLLMServer,
) -> None:
    fake_llm.script([Reply(text="first"), Reply(text="second")])

    @workflow(name="two_passes")
    async def flow(ctx: Context, input: Any) -> Any:
        first = await ctx.run(Agent(name="a", model="openai:gpt-test"), "one")
        await ctx.wait_for("go")  # the first pass ends here
        second = await ctx.run(Agent(name="b", model="openai:gpt-test"), "two")
        return [first, second]

    store = MemoryStore()
    run = await Runtime(store).run(flow)
    assert run.status is RunStatus.SUSPENDED
    assert fake_llm.request_count == 1
    assert await anyio.to_thread.run_sync(fake_llm.wait_connections, 0) == 0
    await Runtime(store).signal(run.run_id, "go")
    done = await Runtime(store).resume(run.run_id, flow)
    assert done.output == ["first", "second"]
    assert fake_llm.request_count == 2  # the journaled call was not sent again
    assert await anyio.to_thread.run_sync(fake_llm.wait_connections, 0) == 0


async def test_a_model_the_user_gave_stays_open(fake_llm: FakeLLMServer) -> None:
    """The counter sees a kept-alive connection: the runtime closes only what it built."""
    fake_llm.script([Reply(text="hi")])
    async with OpenAIModel("gpt-test") as model:
        result = await Runtime().run(Agent(name="a", model=model), "hello")
        assert result.output == "hi"
        assert await anyio.to_thread.run_sync(fake_llm.wait_connections, 1) == 1
    assert await anyio.to_thread.run_sync(fake_llm.wait_connections, 0) == 0


# -- model and tool calls as wrapper chains ------------------------------------------------------


def _layers(chain: Any) -> list[str]:
    names = []
    while chain is not None:
        names.append(type(chain).__name__)
        chain = getattr(chain, "inner", None)
    return names


def test_model_and_tool_calls_are_chains_of_small_layers() -> None:
    assert _layers(model_calls.CHAIN) == [
        "Journaled", "Budgeted", "Attempts", "RateLimited", "Requested",
    ]  # fmt: skip
    assert _layers(calls.CHAIN) == [
        "Journaled", "Budgeted", "Checked", "Guarded", "Governed", "AtMostOnce", "Retried",
        "Timed", "Invoked",
    ]  # fmt: skip
    for module, step in ((model_calls, "ModelStep"), (calls, "ToolStep")):
        tree = ast.parse(Path(module.__file__ or "").read_text())
        for node in tree.body:
            call = next(
                (f for f in getattr(node, "body", ()) if getattr(f, "name", "") == "__call__"),
                None,
            )
            if isinstance(call, ast.FunctionDef | ast.AsyncFunctionDef):  # (self, step[, context])
                assert getattr(call.args.args[1].annotation, "id", None) == step, ast.dump(node)[
                    :80
                ]


def test_no_runtime_function_takes_a_long_list_of_positional_flags() -> None:
    found = [
        f"{name}:{node.lineno} {node.name}"
        for name, tree in modules()
        if name.startswith("runtime/")
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and len(node.args.posonlyargs) + len(node.args.args) > 6
    ]
    assert found == []
