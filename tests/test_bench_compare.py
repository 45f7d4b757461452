"""The peer benchmarks' Podium side runs and speaks the RESULT protocol (smoke sizes).

Only Podium's implementation, in this interpreter: the peers' venv (bench/.peers-venv) is not
needed. The full comparison is `python3 bench/compare.py` (not part of the test run).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
IMPL = ROOT / "bench" / "peers" / "podium_impl.py"
EXPECTED = {
    "W1": {"us_per_step"},
    "W3": {"us_per_tool_call"},
    "W5": {"us_per_step", "bytes_per_run"},
}


@pytest.mark.parametrize("workload", sorted(EXPECTED))
def test_podium_impl_smoke_prints_a_result(workload: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(IMPL), "--workload", workload, "--smoke", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT "), done.stdout
    result = json.loads(last.removeprefix("RESULT "))
    assert result["framework"] == "podium"
    assert result["workload"] == workload
    assert result["ok"] is True
    assert result["version"]
    assert result["notes"]
    metrics = result["metrics"]
    assert set(metrics) >= EXPECTED[workload]
    assert all(isinstance(v, int | float) and v > 0 for v in metrics.values()), metrics
