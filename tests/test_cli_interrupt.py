"""Ctrl-C on `podium run`, in a subprocess: it says what happened and how to go on
(`podium resume RUN_ID`), exits 130, and leaves the run to whoever executes it next — a worker
takes it at once (its lease was released) and finishes it without repeating a step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from podium.events import RunCompleted, StepCompleted
from podium.store import StoredEvent
from podium.store.open import open_store

pytestmark = pytest.mark.slow
APP = Path(__file__).parent / "apps" / "slow_app.py"


def journal(db: Path, run_id: str) -> list[StoredEvent]:
    async def read() -> list[StoredEvent]:
        store = open_store(db)
        try:
            return await store.read(run_id)
        finally:
            await store.close()

    return anyio.run(read)


def test_ctrl_c_on_run_prints_the_resume_hint_and_a_worker_finishes_the_run(
    tmp_path: Path,
) -> None:
    db, marker = tmp_path / "p.db", tmp_path / "marker"
    env = {**os.environ, "PODIUM_TEST_MARKER": str(marker)}
    base = [sys.executable, "-m", "podium", "--db", str(db)]
    run = subprocess.Popen(
        [*base, "run", f"{APP}:slow", "-i", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert run.stderr is not None
    seen = ""
    deadline = time.monotonic() + 60
    while "slow/first#1" not in seen and time.monotonic() < deadline:
        seen += run.stderr.readline()  # the first step is journaled: it waits in the second
    run.send_signal(signal.SIGINT)
    rest = run.communicate(timeout=60)[1]
    assert run.returncode == 130, seen + rest
    run_id = next(w for w in seen.split() if w.startswith("run_"))
    assert f"interrupted: run {run_id}" in rest
    assert f"`podium resume {run_id}`" in rest
    assert "Traceback" not in rest

    marker.touch()
    worker = subprocess.run(
        [*base, "worker", "--until-idle"], capture_output=True, text=True, timeout=60, env=env
    )
    assert worker.returncode == 0, worker.stderr
    assert "finished 1" in worker.stderr  # taken at once: no lease left to expire
    events = [s.event for s in journal(db, run_id)]
    assert sum(isinstance(e, StepCompleted) and e.key.endswith("first#1") for e in events) == 1
    [done] = [e for e in events if isinstance(e, RunCompleted)]
    assert done.output == {"first": "one", "second": "released"}
