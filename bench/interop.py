"""What an MCP tool call costs over the same tool called natively (issue 16's benchmark).

One agent run per trial, whose scripted model asks for ``--calls`` calls of ``balance`` one
after another (each a journaled tool step on a :class:`MemoryStore`):

- ``native``: ``balance`` as a ``@tool`` function in this process;
- ``mcp-http``: the same function in tests/interop/mcp/bank_server.py over streamable HTTP
  (one server process for the whole benchmark);
- ``mcp-stdio``: the same server over stdio (a process per session).

Every MCP call opens two sessions — the pin check's listing and the call — which is where the
time goes (docs/mcp.md). Figures: the median over ``--trials`` of the time per call, in ms.
Not a timed test. The A2A round trip and the OpenAI Agents SDK's MCP client are not measured
yet.

``python bench/interop.py [--calls N] [--trials N]``
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from podium import Agent, MemoryStore, Runtime, tool
from podium.providers.mcp import MCPServer
from podium.testing import ScriptedModel, call
from podium.types import RunStatus

SERVER = Path(__file__).resolve().parent.parent / "tests" / "interop" / "mcp" / "bank_server.py"


@tool(effect="read")
def balance(account: str) -> dict[str, Any]:
    """The balance of an account."""
    return {"account": account, "balance": 100, "caller": "anon"}


async def per_call_ms(calls: int, *, tools: list[Any], toolsets: list[Any]) -> float:
    script: list[Any] = [call("balance", account=f"A-{i}") for i in range(calls)] + ["done"]
    agent = Agent(
        name="bench", model=ScriptedModel(script), tools=tools, toolsets=toolsets,
        max_turns=calls + 1,
    )  # fmt: skip
    runtime = Runtime(store=MemoryStore())
    started = time.perf_counter()
    result = await runtime.run(agent, "go")
    elapsed = time.perf_counter() - started
    assert result.status is RunStatus.COMPLETED, result.error
    return elapsed * 1000 / calls


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_http(state: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BANK_STATE": str(state)}
    env.pop("BANK_TOKEN", None)
    process = subprocess.Popen([sys.executable, str(SERVER), "http", str(port)], env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    process.kill()
    raise SystemExit("the bench MCP server did not start")


async def main(calls: int, trials: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder)
        port = _port()
        server = _serve_http(state, port)
        try:
            effects = {"balance": "read"}
            kinds: dict[str, dict[str, list[Any]]] = {
                "native": {"tools": [balance], "toolsets": []},
                "mcp-http": {
                    "tools": [],
                    "toolsets": [
                        MCPServer(name="bank", url=f"http://127.0.0.1:{port}/mcp", effects=effects)
                    ],
                },
                "mcp-stdio": {
                    "tools": [],
                    "toolsets": [
                        MCPServer(
                            name="bank",
                            command=sys.executable,
                            args=[str(SERVER)],
                            env={"BANK_STATE": str(state)},
                            effects=effects,
                        )
                    ],
                },
            }
            figures: dict[str, list[float]] = {kind: [] for kind in kinds}
            for _ in range(trials):
                for kind, parts in kinds.items():
                    figures[kind].append(await per_call_ms(calls, **parts))
        finally:
            server.kill()
            server.wait(10)
    native = statistics.median(figures["native"])
    print(f"{'kind':<10} {'ms/call':>10} {'x native':>10}   ({calls} calls x {trials} trials)")
    for kind, values in figures.items():
        median = statistics.median(values)
        print(f"{kind:<10} {median:>10.3f} {median / native:>10.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--trials", type=int, default=3)
    options = parser.parse_args()
    anyio.run(main, options.calls, options.trials)
