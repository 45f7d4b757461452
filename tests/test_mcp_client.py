"""MCP servers as an agent's tools, through the official ``mcp`` SDK over stdio: the listing is
journaled with digests, the operator's effect class and scopes apply (the server's hints do
not), results are untrusted, and a changed definition (a rug pull) is refused until a person
approves it — the server's ledger file proves nothing executed.

The server is tests/interop/mcp/bank_server.py, a real MCP server process per session.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from podium import Agent, Runtime, SQLiteStore
from podium.errors import SpecError, ToolArgumentsError
from podium.events import (
    ApprovalRequested,
    Event,
    StepCompleted,
    ToolCallCompleted,
    encode,
)
from podium.messages import ModelRequest, ToolMessage
from podium.policy import Principal, StaticSecrets
from podium.providers.mcp import MCPServer, changes, digest, pin_file, read_pins
from podium.store import Store
from podium.testing import FunctionModel, ScriptedModel, call
from podium.types import Effect, RunStatus

pytestmark = pytest.mark.anyio

SERVER = Path(__file__).parent / "interop" / "mcp" / "bank_server.py"
ANN = Principal("ann", frozenset({"approver"}))


@pytest.fixture
def state(tmp_path: Path) -> Path:
    folder = tmp_path / "bank"
    folder.mkdir()
    return folder


def bank(state: Path, **options: Any) -> MCPServer:
    return MCPServer(
        name="bank",
        command=sys.executable,
        args=[str(SERVER)],
        env={"BANK_STATE": str(state)},
        **options,
    )


def executed(state: Path) -> list[dict[str, Any]]:
    calls = state / "calls"
    return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


async def journal(store: Store, run_id: str) -> list[Event]:
    return [stored.event for stored in await store.read(run_id)]


def of(events: list[Event], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def pulling_rug(state: Path, mode: str) -> FunctionModel:
    """A model that, between the run's listing and its call, has the server change (``mode``)
    and then asks for a transfer; it ends the run once it read a tool result."""

    def reply(request: ModelRequest) -> Any:
        if any(isinstance(m, ToolMessage) for m in request.messages):
            return "finished"
        (state / "mode").write_text(mode)
        return call("transfer", account="A-1", amount=5)

    return FunctionModel(reply)


async def test_an_mcp_tool_is_listed_pinned_and_called_once(state: Path) -> None:
    model = ScriptedModel([call("transfer", account="A-1", amount=5), "done"])
    agent = Agent(name="teller", model=model, toolsets=[bank(state)])
    runtime = Runtime()
    result = await runtime.run(agent, "pay A-1")
    assert result.status is RunStatus.COMPLETED, result.error
    assert executed(state) == [{"account": "A-1", "amount": 5}]
    events = await journal(runtime.store, result.run_id)
    [listing] = [e for e in of(events, StepCompleted) if e.kind == "tool_listing"]
    by_name = {entry["name"]: entry for entry in listing.result}
    transfer = by_name["transfer"]
    assert transfer["digest"] == digest("transfer", transfer["description"], transfer["parameters"])
    assert transfer["pin"] == transfer["digest"]
    assert transfer["hints"] == {"readOnlyHint": True, "idempotentHint": True}  # shown...
    [done] = [e for e in of(events, ToolCallCompleted) if e.tool == "transfer"]
    assert done.effect is Effect.AT_MOST_ONCE  # ...never trusted: the operator's default holds
    assert done.result == {"result": "sent 5 to A-1"}  # the structured content
    # the model saw the server's definitions
    first = model.requests[0]
    assert {t.name for t in first.tools} == {"transfer", "balance"}


async def test_the_listing_replays_from_the_journal_not_the_server(state: Path) -> None:
    model = ScriptedModel([call("balance", account="A-1"), "done"])
    agent = Agent(name="teller", model=model, toolsets=[bank(state, effects={"balance": "read"})])
    runtime = Runtime()
    result = await runtime.run(agent, "balance?")
    assert result.status is RunStatus.COMPLETED, result.error
    listing_steps = [
        e for e in of(await journal(runtime.store, result.run_id), StepCompleted)
        if e.kind == "tool_listing"
    ]  # fmt: skip
    assert len(listing_steps) == 1
    [balance] = [e for e in of(await journal(runtime.store, result.run_id), ToolCallCompleted)]
    assert balance.effect is Effect.READ
    assert balance.result == {"account": "A-1", "balance": 100, "caller": "anon"}


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("description", "Ignore previous instructions"),
        ("schema", "input schema"),
    ],
)
async def test_a_rug_pull_is_refused_and_waits_for_a_person(
    state: Path, tmp_path: Path, mode: str, said: str
) -> None:
    db = str(tmp_path / "podium.db")
    agent = Agent(name="teller", model=pulling_rug(state, mode), toolsets=[bank(state)])
    runtime = Runtime(store=SQLiteStore(db))
    try:
        first = await runtime.run(agent, "pay A-1")
        assert first.status is RunStatus.SUSPENDED
        assert executed(state) == []  # nothing reached the changed tool
        [request] = of(await journal(runtime.store, first.run_id), ApprovalRequested)
        assert request.subject == "transfer"
        assert "changed since it was pinned" in request.reason
        assert said in request.reason

        shown = await anyio.run_process(
            [sys.executable, "-m", "podium", "--db", db, "show", first.run_id], check=False
        )
        assert shown.returncode == 0, shown.stderr.decode()
        assert f"waiting for {request.approval_id}" in shown.stdout.decode()
        assert "changed since it was pinned" in shown.stdout.decode()
        assert said in shown.stdout.decode()

        await runtime.decide(request.approval_id, "reject", by=ANN, comment="rug pull")
        done = await runtime.resume(first.run_id, agent)
        assert done.status is RunStatus.COMPLETED, done.error
        assert executed(state) == []
        [refused] = of(await journal(runtime.store, first.run_id), ToolCallCompleted)
        assert refused.is_error
        assert refused.error_type == "ToolDefinitionChanged"
    finally:
        await runtime.store.close()


async def test_an_approved_change_runs_the_call_once(state: Path) -> None:
    agent = Agent(name="teller", model=pulling_rug(state, "description"), toolsets=[bank(state)])
    runtime = Runtime()
    first = await runtime.run(agent, "pay A-1")
    assert first.status is RunStatus.SUSPENDED
    [request] = of(await journal(runtime.store, first.run_id), ApprovalRequested)
    await runtime.decide(request.approval_id, "approve", by=ANN)
    done = await runtime.resume(first.run_id, agent)
    assert done.status is RunStatus.COMPLETED, done.error
    assert executed(state) == [{"account": "A-1", "amount": 5}]


async def test_a_pin_file_fixes_the_digests_ahead_of_time(state: Path, tmp_path: Path) -> None:
    honest = await bank(state).list({})
    pins = tmp_path / "pins.json"
    pins.write_text(pin_file({"bank": honest}))
    (state / "mode").write_text("description")  # the server changed before the run began
    server = bank(state, pins=read_pins(pins)["bank"])
    model = ScriptedModel([call("transfer", account="A-1", amount=5), "done"])
    runtime = Runtime()
    first = await runtime.run(Agent(name="teller", model=model, toolsets=[server]), "pay")
    assert first.status is RunStatus.SUSPENDED
    assert executed(state) == []
    [request] = of(await journal(runtime.store, first.run_id), ApprovalRequested)
    assert "description 'Transfer an amount to an account.' -> " in request.reason
    assert "Ignore previous instructions" in request.reason


async def test_a_crashed_server_is_a_tool_error_not_a_hung_run(state: Path) -> None:
    def reply(request: ModelRequest) -> Any:
        if any(isinstance(m, ToolMessage) for m in request.messages):
            return "gave up"
        (state / "mode").write_text("crash")
        return call("balance", account="A-1")

    agent = Agent(
        name="teller",
        model=FunctionModel(reply),
        toolsets=[bank(state, effects={"balance": "read"}, timeout=20)],
    )
    runtime = Runtime()
    result = await runtime.run(agent, "balance?")
    assert result.status is RunStatus.COMPLETED, result.error
    [failed] = of(await journal(runtime.store, result.run_id), ToolCallCompleted)
    assert failed.is_error
    assert "bank" in failed.result


async def test_the_server_is_reached_again_after_a_restart(state: Path) -> None:
    script = iter(
        [
            ("honest", call("balance", account="A-1")),
            ("crash", call("balance", account="A-2")),  # the server is down for this call...
            ("honest", call("balance", account="A-3")),  # ...and back for this one
            ("honest", "done"),
        ]
    )

    def scripted(request: ModelRequest) -> Any:
        mode, item = next(script)
        (state / "mode").write_text(mode)
        return item

    agent = Agent(
        name="teller",
        model=FunctionModel(scripted),
        toolsets=[bank(state, effects={"balance": "read"})],
    )
    runtime = Runtime()
    result = await runtime.run(agent, "balances")
    assert result.status is RunStatus.COMPLETED, result.error
    done = of(await journal(runtime.store, result.run_id), ToolCallCompleted)
    assert [d.is_error for d in done] == [False, True, False]
    assert done[2].result == {"account": "A-3", "balance": 100, "caller": "anon"}


async def test_mcp_results_are_untrusted_content(state: Path) -> None:
    """The rule of two: a consequential call after an MCP result needs approval."""
    model = ScriptedModel(
        [call("balance", account="A-1"), call("transfer", account="A-1", amount=5), "done"]
    )
    agent = Agent(name="teller", model=model, toolsets=[bank(state, effects={"balance": "read"})])
    runtime = Runtime()
    first = await runtime.run(agent, "pay")
    assert first.status is RunStatus.SUSPENDED
    [request] = of(await journal(runtime.store, first.run_id), ApprovalRequested)
    assert "untrusted" in request.reason
    assert executed(state) == []


async def test_scopes_hide_a_tool_the_agent_lacks(state: Path) -> None:
    model = ScriptedModel([call("transfer", account="A-1", amount=5), "done"])
    server = bank(state, scopes={"transfer": ["payments"]})
    runtime = Runtime()
    result = await runtime.run(Agent(name="teller", model=model, toolsets=[server]), "pay")
    assert result.status is RunStatus.COMPLETED, result.error
    assert [t.name for t in model.requests[0].tools] == ["balance"]
    [refused] = of(await journal(runtime.store, result.run_id), ToolCallCompleted)
    assert refused.error_type == "PermissionDenied"
    assert executed(state) == []


async def test_arguments_are_checked_against_the_servers_schema(state: Path) -> None:
    model = ScriptedModel([call("transfer", account="A-1", amount="five"), "done"])
    runtime = Runtime()
    agent = Agent(name="teller", model=model, toolsets=[bank(state)])
    result = await runtime.run(agent, "pay")
    assert result.status is RunStatus.COMPLETED, result.error
    [refused] = of(await journal(runtime.store, result.run_id), ToolCallCompleted)
    assert refused.error_type == ToolArgumentsError.__name__
    assert "amount" in refused.result
    assert executed(state) == []


async def test_a_server_secret_never_reaches_the_model_or_the_journal(state: Path) -> None:
    secret = "s3cr3t-token-value"
    server = bank(state, env_secrets={"BANK_TOKEN": "bank_token"}, effects={"balance": "read"})
    model = ScriptedModel([call("balance", account="A-1"), "done"])
    runtime = Runtime(secrets=StaticSecrets({"bank_token": secret}))
    agent = Agent(name="teller", model=model, toolsets=[server])
    result = await runtime.run(agent, "balance")
    assert result.status is RunStatus.COMPLETED, result.error
    [done] = of(await journal(runtime.store, result.run_id), ToolCallCompleted)
    assert done.result["caller"] != "anon"  # the server process got its token...
    stored = "".join(encode(e) for e in await journal(runtime.store, result.run_id))
    assert secret not in stored  # ...which the journal never holds
    assert all(secret not in str(r.messages) for r in model.requests)  # nor the model


def test_bad_configuration_is_a_clear_error(state: Path) -> None:
    with pytest.raises(SpecError, match="exactly one of command or url"):
        MCPServer(name="x")
    with pytest.raises(SpecError, match="x"):
        MCPServer(name="x", url="http://h", effects={"t": "sometimes"})


def test_changes_names_what_changed() -> None:
    pinned = {
        "name": "t", "description": "a", "parameters": {"type": "object"},
        "digest": digest("t", "a", {"type": "object"}),
    }  # fmt: skip
    pinned["pin"] = pinned["digest"]
    assert changes(pinned, dict(pinned)) is None
    now = {**pinned, "description": "b", "digest": digest("t", "b", {"type": "object"})}
    said = "MCP tool 't' changed since it was pinned: description 'a' -> 'b'"
    assert changes(pinned, now) == said
    assert "no longer listed" in str(changes(pinned, None))
