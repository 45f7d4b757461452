"""MCP servers in YAML (``mcp_servers:`` and an agent's ``mcp:``), and ``podium mcp pin``,
through the CLI in subprocesses against the Python MCP server of tests/interop/mcp."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from podium.spec import SpecValidationError, loads_spec

pytestmark = pytest.mark.slow
SERVER = Path(__file__).parent / "interop" / "mcp" / "bank_server.py"

SPEC = """\
version: 1
mcp_servers:
  bank:
    command: {python}
    args: [{server}]
    env: {{BANK_STATE: {state}}}
    effects: {{balance: read}}
{pins}
agents:
  teller:
    model: {{import: "bankmodel:model"}}
    mcp: [bank]
workflow: {{agent: teller}}
"""

MODEL = """\
from podium.testing import ScriptedModel, call

model = ScriptedModel([call("transfer", account="A-1", amount=5), "done"])
"""


def podium(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_")}
    return subprocess.run(
        [sys.executable, "-m", "podium", "--db", str(cwd / "podium.db"), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def write_spec(folder: Path, state: Path, pins: str = "") -> Path:
    spec = folder / "bank.yaml"
    spec.write_text(
        SPEC.format(python=sys.executable, server=SERVER, state=state, pins=pins),
        encoding="utf-8",
    )
    (folder / "bankmodel.py").write_text(MODEL, encoding="utf-8")
    return spec


def test_pin_then_a_changed_server_waits_for_a_person(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    spec = write_spec(tmp_path, state)
    pinned = podium("mcp", "pin", str(spec), cwd=tmp_path)
    assert pinned.returncode == 0, pinned.stderr
    pin_file = tmp_path / "bank.mcp-pins.json"
    pins = json.loads(pin_file.read_text())
    assert pins["format"] == "podium.mcp-pins/1"
    assert set(pins["servers"]["bank"]) == {"transfer", "balance"}
    transfer = pins["servers"]["bank"]["transfer"]
    assert transfer["digest"].startswith("sha256:")
    assert transfer["description"] == "Transfer an amount to an account."

    # the spec now names its pin file; the server changes before the run starts
    write_spec(tmp_path, state, pins="    pins: bank.mcp-pins.json")
    (state / "mode").write_text("description")
    ran = podium("run", str(spec), "-i", "pay A-1", cwd=tmp_path)
    assert ran.returncode == 4, ran.stderr  # suspended: waiting for a person
    assert not (state / "calls").exists()  # nothing executed
    run_id = next(w for w in ran.stderr.split() if w.startswith("run_"))
    shown = podium("show", run_id, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "changed since it was pinned" in shown.stdout
    assert "description 'Transfer an amount to an account.' -> " in shown.stdout
    assert "Ignore previous instructions" in shown.stdout


def test_an_unknown_server_is_a_located_spec_error() -> None:
    text = """\
version: 1
mcp_servers:
  bank: {url: "http://127.0.0.1:1/mcp"}
agents:
  teller: {model: "openai:gpt-4.1-mini", mcp: [bnak]}
workflow: {agent: teller}
"""
    with pytest.raises(SpecValidationError) as raised:
        loads_spec(text)
    message = str(raised.value)
    assert "agents.teller.mcp[0]" in message
    assert "unknown mcp_server 'bnak'" in message


def test_a_server_needs_exactly_one_transport() -> None:
    text = """\
version: 1
mcp_servers:
  bank: {effects: {transfer: sometimes}}
agents:
  teller: {model: "openai:gpt-4.1-mini", mcp: [bank]}
workflow: {agent: teller}
"""
    with pytest.raises(SpecValidationError) as raised:
        loads_spec(text)
    message = str(raised.value)
    assert "mcp_servers.bank.effects.transfer" in message
