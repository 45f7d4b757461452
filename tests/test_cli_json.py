"""Scriptable output, in a subprocess: --json on run, runs, show, logs and audit verify;
--version; shell completion; `runs -w` by the name the table shows; the table fits 80 columns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
APP = Path(__file__).parent / "apps" / "simple_app.py"


def podium(db: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "podium", "--db", str(db), *args]
    environ = {**os.environ, **env}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=environ)


def test_json_on_run_runs_show_logs_and_audit_verify(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    ran = podium(db, "run", f"{APP}:calculator", "-i", "add 2 and 3", "--json")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["status"] == "completed"
    assert result["output"] == "the sum is 5"
    assert result["model_calls"] == 2
    run_id = result["run_id"]

    [record] = json.loads(podium(db, "runs", "--json").stdout)
    assert record["run_id"] == run_id
    assert record["status"] == "completed"
    assert record["workflow"].endswith("simple_app.py:calculator")

    shown = json.loads(podium(db, "show", run_id, "--json").stdout)
    assert shown["run"]["run_id"] == run_id
    types = [e["type"] for e in shown["events"]]
    assert types[0] == "run_started"
    assert types[-1] == "run_completed"
    assert shown["unknown_steps"] == []
    assert shown["error"] is None

    lines = podium(db, "logs", run_id, "--json").stdout.splitlines()
    logged = [json.loads(line) for line in lines]
    assert [e["seq"] for e in logged] == list(range(1, len(shown["events"]) + 1))
    assert logged[-1]["event"]["output"] == "the sum is 5"

    verified = podium(db, "audit", "verify", "--json")
    assert verified.returncode == 0, verified.stderr
    [check] = json.loads(verified.stdout)
    assert check["run_id"] == run_id
    assert check["ok"] is True
    assert check["events"] == len(logged)


def test_show_json_carries_the_failure_with_its_frames(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    failed = podium(db, "run", f"{APP}:broken", "--json")
    assert failed.returncode == 1
    run_id = json.loads(failed.stdout)["run_id"]
    error = json.loads(podium(db, "show", run_id, "--json").stdout)["error"]
    assert error["type"] == "ValueError"
    assert error["frames"][-1]["function"] == "broken"


def test_version_and_shell_completion(tmp_path: Path) -> None:
    shown = podium(tmp_path / "p.db", "--version")
    assert shown.returncode == 0
    assert shown.stdout.strip() == f"podium {version('podium')}"
    script = podium(tmp_path / "p.db", "--show-completion", "bash")
    assert script.returncode == 0, script.stderr
    assert "_podium_completion" in script.stdout


def test_runs_w_takes_the_name_the_table_shows_and_the_table_fits_80_columns(
    tmp_path: Path,
) -> None:
    db = tmp_path / "p.db"
    assert podium(db, "run", f"{APP}:calculator", "-i", "add 2 and 3").returncode == 0
    assert podium(db, "run", f"{APP}:broken", "-i", "x" * 50).returncode == 1
    table = podium(db, "runs", COLUMNS="80")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert len(lines) == 3
    assert all(len(line) <= 80 for line in lines), table.stdout
    shown_name = lines[1].split()[1]
    assert shown_name in ("calculator", "broken")
    for name in ("calculator", "broken"):
        picked = podium(db, "runs", "-w", name, "--json")
        [record] = json.loads(picked.stdout)
        assert record["workflow"] == f"{APP}:{name}"
    exact = json.loads(podium(db, "runs", "-w", f"{APP}:broken", "--json").stdout)
    assert [r["workflow"] for r in exact] == [f"{APP}:broken"]
    assert podium(db, "runs", "-w", "nope").stderr.strip() == "no runs"
