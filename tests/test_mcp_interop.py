"""Podium's MCP client against the reference server nobody here wrote: npm
``@modelcontextprotocol/server-everything`` over stdio (tests/interop/mcp, installed by
``npm ci`` there; .ci/run does it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from podium import Agent, Runtime
from podium.events import StepCompleted, ToolCallCompleted
from podium.providers.mcp import MCPServer, digest
from podium.testing import ScriptedModel, call
from podium.types import Effect, RunStatus

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
FOLDER = Path(__file__).parent / "interop" / "mcp"
EVERYTHING = FOLDER / "node_modules" / "@modelcontextprotocol" / "server-everything"


@pytest.fixture
def everything() -> MCPServer:
    if shutil.which("node") is None or not (EVERYTHING / "dist" / "index.js").is_file():
        message = "server-everything not installed: run `npm ci` in tests/interop/mcp"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return MCPServer(
        name="everything",
        command="node",
        args=[str(EVERYTHING / "dist" / "index.js"), "stdio"],
        tools_allowed=["echo", "get-sum"],
        effects={"echo": "read", "get-sum": "read"},
    )


async def test_the_reference_server_tools_are_listed_pinned_and_called(
    everything: MCPServer,
) -> None:
    model = ScriptedModel(
        [[call("echo", message="hello podium"), call("get-sum", a=2, b=40)], "done"]
    )
    runtime = Runtime()
    result = await runtime.run(Agent(name="peer", model=model, toolsets=[everything]), "go")
    assert result.status is RunStatus.COMPLETED, result.error
    assert sorted(t.name for t in model.requests[0].tools) == ["echo", "get-sum"]
    events = [stored.event for stored in await runtime.store.read(result.run_id)]
    [listing] = [e for e in events if isinstance(e, StepCompleted) and e.kind == "tool_listing"]
    entries: list[dict[str, Any]] = list(listing.result)  # type: ignore[arg-type]
    for entry in entries:
        assert entry["digest"] == digest(entry["name"], entry["description"], entry["parameters"])
        assert entry["hints"]["readOnlyHint"] is True  # the server's hints, kept for people
    done = {e.tool: e for e in events if isinstance(e, ToolCallCompleted)}
    assert done["echo"].result == "Echo: hello podium"
    assert "42" in str(done["get-sum"].result)
    assert all(e.effect is Effect.READ and not e.is_error for e in done.values())


async def test_the_reference_servers_schema_refuses_bad_arguments(everything: MCPServer) -> None:
    model = ScriptedModel([call("get-sum", a="two", b=40), "done"])
    runtime = Runtime()
    result = await runtime.run(Agent(name="peer", model=model, toolsets=[everything]), "go")
    assert result.status is RunStatus.COMPLETED, result.error
    events = [stored.event for stored in await runtime.store.read(result.run_id)]
    [refused] = [e for e in events if isinstance(e, ToolCallCompleted)]
    assert refused.is_error
    assert refused.error_type == "ToolArgumentsError"
    assert "a:" in refused.result
