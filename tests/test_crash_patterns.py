"""kill -9 in the middle of a fan-out and of an evaluator loop, then `podium resume` in a new
process: finished work is not done again (counted), unfinished work is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
APP = Path(__file__).parent / "apps" / "pattern_crash_app.py"


class Cli:
    def __init__(self, tmp_path: Path) -> None:
        self.db = tmp_path / "podium.db"
        self.state = tmp_path / "state"
        self.state.mkdir()
        self.env = {**os.environ, "STATE_DIR": str(self.state), "PODIUM_ALLOW_MODEL_REQUESTS": "0"}

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "podium", "--db", str(self.db), *args]
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)

    def log(self, name: str) -> list[str]:
        path = self.state / f"{name}.log"
        return path.read_text().splitlines() if path.exists() else []

    def run_id(self) -> str:
        listing = self("runs")
        ids = [w for w in listing.stdout.split() if w.startswith("run_")]
        assert len(ids) == 1, listing.stdout + listing.stderr
        return ids[0]


def test_kill_during_a_fan_out_of_8_resumes_only_the_unfinished_3(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    first = cli("run", f"{APP}:fanout", "-i", "null")
    assert first.returncode == -9, first.stderr
    assert set(cli.log("committed")) == {"0", "1", "2", "3", "4"}
    before = len(cli.log("work"))

    resumed = cli("resume", cli.run_id())
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout) == [f"result {i}" for i in range(8)]
    again = cli.log("work")[before:]
    assert sorted(again) == ["5", "6", "7"]  # only the three unfinished branches ran again
    # (a "committed" marker step may itself have been cut before its commit: it may log twice)
    assert sorted(set(cli.log("committed"))) == [str(i) for i in range(8)]


def test_kill_mid_loop_does_not_reset_the_iteration_count(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    first = cli("run", f"{APP}:loop", "--input", "contract text")
    assert first.returncode == -9, first.stderr
    assert cli.log("draft") == ["1", "2", "3"]

    resumed = cli("resume", cli.run_id())
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["status"] == "passed"
    assert result["iterations"] == 4
    assert result["output"] == "draft 4"
    # drafts 1-3 were journaled and not redone; only iteration 3's unfinished review re-ran
    assert cli.log("draft") == ["1", "2", "3", "4"]
    assert cli.log("review") == ["1", "2", "3", "3", "4"]
