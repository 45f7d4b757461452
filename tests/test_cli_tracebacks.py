"""A workflow or tool exception keeps its story: the journal holds a clipped traceback (file,
line, function; the message with secrets redacted), and ``show``, ``logs`` and ``--debug``
print it. Through the CLI, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from podium.events import RunFailed, ToolAttemptFailed
from podium.store import StoredEvent
from podium.store.open import open_store

pytestmark = pytest.mark.slow
APP = Path(__file__).parent / "apps" / "traceback_app.py"
TOKEN = "tok-7Hq2-very-secret"


def podium(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PAYMENTS_TOKEN": TOKEN}
    cmd = [sys.executable, "-m", "podium", "--db", str(db), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, cwd=db.parent)


def journal(db: Path, run_id: str) -> list[StoredEvent]:
    async def read() -> list[StoredEvent]:
        store = open_store(db)
        try:
            return await store.read(run_id)
        finally:
            await store.close()

    return anyio.run(read)


def run_id_of(text: str) -> str:
    return next(w for w in text.split() if w.startswith("run_"))


FRAMES = [
    f'  File "{APP}", line 17, in keys',
    f'  File "{APP}", line 12, in lookup',
]


def test_a_workflow_exception_keeps_file_line_and_function(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    ran = podium(db, "run", f"{APP}:keys", "-i", "1")
    assert ran.returncode == 1, ran.stderr
    assert "Traceback" not in ran.stderr  # without --debug: the one error line
    run_id = run_id_of(ran.stderr)
    [failed] = [s.event for s in journal(db, run_id) if isinstance(s.event, RunFailed)]
    frames = [(f.file, f.line, f.function) for f in failed.error.frames]
    assert frames == [(str(APP), 17, "keys"), (str(APP), 12, "lookup")]

    shown = podium(db, "show", run_id)
    assert shown.returncode == 0, shown.stderr
    tail = shown.stdout.splitlines()[-4:]
    assert tail == [
        "Traceback (innermost application frames, most recent call last):",
        *FRAMES,
        "KeyError: 'missing-key'",
    ]
    logs = podium(db, "logs", run_id).stdout.splitlines()
    at = next(i for i, line in enumerate(logs) if "run failed" in line)
    assert [line.strip() for line in logs[at + 2 : at + 4]] == [f.strip() for f in FRAMES]

    debug = podium(db, "--debug", "run", f"{APP}:keys", "-i", "1")
    assert debug.returncode == 1
    assert "\n".join([*FRAMES, "KeyError: 'missing-key'"]) in debug.stderr


def test_a_tool_exception_keeps_its_frames_and_redacts_the_secret(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    ran = podium(db, "run", f"{APP}:payer", "-i", "charge 5")
    assert ran.returncode == 0, ran.stderr
    run_id = run_id_of(ran.stderr)
    [attempt] = [s.event for s in journal(db, run_id) if isinstance(s.event, ToolAttemptFailed)]
    assert attempt.error.message == "gateway refused token [secret:PAYMENTS_TOKEN] for 5"
    functions = [f.function for f in attempt.error.frames]
    assert functions[-2:] == ["charge", "_send"]
    logs = podium(db, "logs", run_id)
    assert TOKEN not in logs.stdout
    assert f'File "{APP}", line 21, in _send' in logs.stdout
    assert "RuntimeError: gateway refused token [secret:PAYMENTS_TOKEN] for 5" in logs.stdout
