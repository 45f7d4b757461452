"""An MCP server over streamable HTTP behind a bearer token: the token comes from the secret
store and never reaches the journal or the model; a server that goes away is a tool error, and
the same run reaches it again once it is back on its port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podium import Agent, Runtime
from podium.events import ToolCallCompleted, encode
from podium.messages import ModelRequest
from podium.policy import StaticSecrets
from podium.providers.mcp import MCPServer
from podium.testing import FunctionModel, call
from podium.types import RunStatus

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
SERVER = Path(__file__).parent / "interop" / "mcp" / "bank_server.py"
TOKEN = "Bearer tok-0123456789-abcdef"


class Bank:
    """The bank server as an HTTP process on a fixed port, started and killed at will."""

    def __init__(self, state: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.env = {**os.environ, "BANK_STATE": str(state), "BANK_TOKEN": TOKEN}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER), "http", str(self.port)], env=self.env
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("the bank server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def bank(tmp_path: Path) -> Iterator[Bank]:
    server = Bank(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def remote(bank: Bank) -> MCPServer:
    return MCPServer(
        name="bank",
        url=f"http://127.0.0.1:{bank.port}/mcp",
        headers={"Authorization": "bank_auth"},
        effects={"balance": "read"},
        timeout=20,
    )


async def test_calls_over_http_with_a_secret_header_and_a_restart(bank: Bank) -> None:
    script = iter(
        [
            call("balance", account="A-1"),
            call("balance", account="A-2"),  # the server is killed before this one...
            call("balance", account="A-3"),  # ...and started again before this one
            "done",
        ]
    )
    turn = 0

    def scripted(request: ModelRequest) -> Any:
        nonlocal turn
        turn += 1
        if turn == 2:
            bank.kill()
        if turn == 3:
            bank.start()
        return next(script)

    model = FunctionModel(scripted)
    runtime = Runtime(secrets=StaticSecrets({"bank_auth": TOKEN}))
    agent = Agent(name="teller", model=model, toolsets=[remote(bank)])
    result = await runtime.run(agent, "balances")
    assert result.status is RunStatus.COMPLETED, result.error
    events = [stored.event for stored in await runtime.store.read(result.run_id)]
    done = [e for e in events if isinstance(e, ToolCallCompleted)]
    assert [d.is_error for d in done] == [False, True, False]
    assert done[0].result["account"] == "A-1"
    assert done[2].result["account"] == "A-3"
    assert "bank" in done[1].result  # the error names the server
    stored = "".join(encode(e) for e in events)
    assert done[0].result["caller"] == "[secret:bank_auth]"  # the server echoed the header...
    assert TOKEN not in stored  # ...and the journal never holds it
    assert all(TOKEN not in str(r.messages) for r in model.requests)  # nor does the model


async def test_a_wrong_token_is_a_clear_failure_not_a_hang(bank: Bank) -> None:
    model = FunctionModel(lambda request: "unreachable")
    runtime = Runtime(secrets=StaticSecrets({"bank_auth": "Bearer wrong"}))
    agent = Agent(name="teller", model=model, toolsets=[remote(bank)])
    result = await runtime.run(agent, "balances")
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "MCP server 'bank' could not be listed" in str(result.error)
