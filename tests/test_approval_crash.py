"""An approval is durable: it survives kill -9 of the process that was waiting for it, is
decided from another process, and is consumed exactly once by `podium resume`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from podium import Runtime, SQLiteStore
from podium.events import (
    ApprovalDecided,
    ApprovalRequested,
    Event,
    ToolCallCompleted,
    ToolCallIntent,
)
from podium.policy import Principal
from podium.types import RunStatus

pytestmark = pytest.mark.slow
APP = Path(__file__).parent / "apps" / "approval_crash_app.py"
CFO = Principal("carol", frozenset({"cfo"}))


class Cli:
    def __init__(self, tmp_path: Path) -> None:
        self.db = tmp_path / "podium.db"
        self.state = tmp_path / "state"
        self.state.mkdir()
        self.env = {**os.environ, "STATE_DIR": str(self.state), "PODIUM_ALLOW_MODEL_REQUESTS": "0"}

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "podium", "--db", str(self.db), *args]

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), env=self.env, capture_output=True, text=True, timeout=60
        )

    def log(self, name: str) -> list[str]:
        path = self.state / f"{name}.log"
        return path.read_text().splitlines() if path.exists() else []

    def run_id(self) -> str:
        listing = self("runs")
        ids = [w for w in listing.stdout.split() if w.startswith("run_")]
        assert len(ids) == 1, listing.stdout + listing.stderr
        return ids[0]

    def events(self, run_id: str) -> list[Event]:
        async def read() -> list[Event]:
            async with SQLiteStore(self.db) as store:
                return [stored.event for stored in await store.read(run_id)]

        return anyio.run(read)

    def runtime_call(self, fn: Any) -> Any:
        async def body() -> Any:
            async with SQLiteStore(self.db) as store:
                return await fn(Runtime(store))

        return anyio.run(body)


def only(events: list[Event], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def assert_paid_once(cli: Cli, run_id: str) -> None:
    assert cli.log("paid") == ["5000 acme"]
    events = cli.events(run_id)
    assert len(only(events, ToolCallIntent)) == 1
    [paid] = [c for c in only(events, ToolCallCompleted) if c.tool == "pay"]
    assert not paid.is_error
    assert paid.result == "paid 5000 to acme"
    [decided] = only(events, ApprovalDecided)
    assert (decided.decision, decided.by) == ("approved", "carol")


def test_a_suspended_approval_is_decided_elsewhere_and_consumed_once(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    first = cli("run", f"{APP}:payment", "--input", "pay acme")
    assert first.returncode == 4, first.stdout + first.stderr  # suspended
    run_id = cli.run_id()
    assert cli.log("paid") == []

    # `podium resume` before anyone decided: it suspends again and pays nothing
    early = cli("resume", run_id)
    assert early.returncode == 4, early.stdout + early.stderr
    assert cli.log("paid") == []

    [pending] = cli.runtime_call(lambda rt: rt.approvals())
    assert pending.run_id == run_id
    assert (pending.request.role, pending.request.requested_by) == ("cfo", "payer-bot")
    cli.runtime_call(lambda rt: rt.decide(pending.approval_id, "approve", by=CFO))

    done = cli("resume", run_id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "paid acme" in done.stdout
    again = cli("resume", run_id)
    assert again.returncode == 0, again.stdout + again.stderr
    assert_paid_once(cli, run_id)


def test_an_approval_survives_a_kill_9_of_the_waiting_process(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    output = tmp_path / "process-a.out"
    with output.open("w") as sink:
        process = subprocess.Popen(
            cli.command("run", f"{APP}:flow", "--input", "pay acme"),
            env=cli.env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        # wait until the approval is journaled while the other branch keeps the process busy
        deadline = time.monotonic() + 30
        run_id = ""
        requests: list[ApprovalRequested] = []
        while time.monotonic() < deadline:
            assert process.poll() is None, output.read_text()
            if not run_id and cli.db.exists():
                listing = cli("runs")
                run_id = next((w for w in listing.stdout.split() if w.startswith("run_")), "")
            if run_id:
                requests = only(cli.events(run_id), ApprovalRequested)
            if requests and cli.log("holding"):
                break
            time.sleep(0.05)
        assert requests, "the approval was never requested"
        assert cli.log("holding") == [str(process.pid)]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    assert cli.log("paid") == []

    # the killed run is still `running`, and its approval is in the inbox of any process
    record = cli.runtime_call(lambda rt: rt.store.get_run(run_id))
    assert record.status is RunStatus.RUNNING
    [pending] = cli.runtime_call(lambda rt: rt.approvals())
    assert pending.approval_id == requests[0].approval_id
    decision = cli.runtime_call(
        lambda rt: rt.decide(pending.approval_id, "approve", by=CFO, digest=pending.request.digest)
    )
    assert decision.decision == "approved"

    (cli.state / "release").write_text("go")  # the holder branch finishes in the next process
    done = cli("resume", run_id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == {"payment": "paid acme", "holder": "released"}
    again = cli("resume", run_id)
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout) == {"payment": "paid acme", "holder": "released"}
    assert_paid_once(cli, run_id)
    holding = cli.log("holding")  # the holder ran in A, again in B, not in the no-op resume
    assert len(holding) == 2
    assert holding[0] == str(process.pid)
    assert holding[1] != holding[0]
