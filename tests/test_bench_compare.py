"""The peer benchmarks: Podium's side runs and speaks the RESULT protocol (smoke sizes), and
the harness's own logic (time-boxes, trial cuts, W6 projection, the generated page) holds.

Only Podium's implementation, in this interpreter: the peers' venv (bench/.peers-venv) is not
needed. The full comparison is `python3 bench/compare.py` (not part of the test run).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
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


# -- the harness's own logic (no subprocess): time-boxes, trial cuts, W6 figures, the page ----

sys.path.insert(0, str(ROOT / "bench" / "peers"))
sys.path.insert(0, str(ROOT / "bench"))

import common  # noqa: E402
import compare  # noqa: E402
import report  # noqa: E402


def test_timed_runs_stops_at_the_time_box_once_the_minimum_is_done() -> None:
    calls: list[int] = []
    runs, elapsed = common.timed_runs(
        lambda: calls.append(time.sleep(0.01) or 1), max_runs=1000, max_seconds=0.05, min_runs=3
    )
    assert 3 <= runs < 20
    assert runs == len(calls)
    assert elapsed >= 0.05
    runs, _ = common.timed_runs(lambda: time.sleep(0.02), max_runs=50, max_seconds=0, min_runs=4)
    assert runs == 4  # the minimum even past the time-box
    runs, _ = common.timed_runs(lambda: None, max_runs=7, max_seconds=60, min_runs=5)
    assert runs == 7  # the maximum when there is time


def test_atimed_reps_and_atimed_runs_follow_the_same_rule() -> None:
    async def nap() -> None:
        await asyncio.sleep(0.01)

    walls = asyncio.run(common.atimed_reps(nap, max_runs=5, max_seconds=0.0, min_runs=3))
    assert len(walls) == 3
    assert all(w >= 0.009 for w in walls)
    runs, _ = asyncio.run(common.atimed_runs(nap, max_runs=2, max_seconds=60, min_runs=5))
    assert runs == 2


def test_w4_fit_keeps_1000_for_a_fast_framework_and_shrinks_for_a_slow_one() -> None:
    async def fast(k: int) -> None:
        await asyncio.sleep(common.W4_IDEAL_S)

    async def slow(k: int) -> None:  # 0.2 s of CPU per run (simulated)
        await asyncio.sleep(common.W4_IDEAL_S + k * 0.2 / 20)

    n, note = asyncio.run(common.w4_fit(fast, smoke=False))
    assert (n, note) == (1000, "")
    with_env = common.sizes(False)["w4_runs"]
    n, note = asyncio.run(common.w4_fit(slow, smoke=False))
    assert common.W4_MIN_RUNS <= n < with_env
    assert f"N={n}" in note


def test_w6_meter_projects_the_steady_growth_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(common.W6_RUNS_ENV, "400")
    rss = iter([100, 160, 170, 180, 190] + [190] * 10)  # MiB: a 60 MiB first batch, then 10
    monkeypatch.setattr(common, "rss_bytes", lambda: next(rss) * 2**20)
    monkeypatch.setattr(common, "peak_rss_bytes", lambda: 190 * 2**20)
    meter = common.W6Meter(smoke=False)
    assert meter.cap == float("inf")  # --w6-runs without --w6-cap: no cap
    while size := meter.next_batch(100):
        meter.created(size)
    m = meter.metrics()
    assert m["runs"] == 400
    assert m["kib_per_run"] == pytest.approx(10 * 1024 / 100)  # 10 MiB per 100 runs
    assert m["projected_mb_100k"] == pytest.approx(190 + (100_000 - 400) * 0.1)
    assert m["kib_per_run_avg"] == pytest.approx(90 * 1024 / 400)


def test_fit_rounds_cuts_the_slow_frameworks_first_then_everyone() -> None:
    first = {"podium": 2.0, "langgraph": 5.0, "pydantic_ai": 50.0}
    assert compare.fit_rounds(first, 3, left=200) == {}
    cuts = compare.fit_rounds(first, 3, left=20)
    assert set(cuts) == {"pydantic_ai"}
    assert cuts["pydantic_ai"][0] == 1
    cuts = compare.fit_rounds(first, 3, left=8)
    assert {f: n for f, (n, _) in cuts.items()} == {"pydantic_ai": 1, "podium": 2, "langgraph": 2}


def _fake_raw() -> dict[str, object]:
    def trial(framework: str, workload: str, n: int, **metrics: float) -> dict[str, object]:
        return {"framework": framework, "workload": workload, "trial": n, "status": "ok",
                "seconds": 1.0, "metrics": metrics, "version": "1", "notes": "n",
                "reason": ""}  # fmt: skip

    trials = [trial("podium", "W1", i, us_per_step=30.0 + i) for i in (1, 2, 3)]
    trials += [trial("peer", "W1", i, us_per_step=300.0) for i in (1, 2)]
    trials.append({**trial("peer", "W6", 1), "status": "unsupported", "reason": "no suspend"})
    trials.append(trial("podium", "W6", 1, projected_mb_100k=250.0, kib_per_run=2.0, runs=10))
    args = compare.parse_args(["--smoke"])
    return {
        "smoke": True, "partial": False, "workloads": ["W1", "W6"],
        "frameworks": ["podium", "peer"], "settings": compare.settings(args, 3, 840.0),
        "machine_before": compare.machine(), "machine_after": compare.machine(),
        "pythons": {"podium": sys.executable, "peer": sys.executable},
        "steps_s": {"run W1": 5.0, "run W6": 2.0}, "cuts": {"W1": {"peer": "too slow"}},
        "load_at_start": {"W1": [0.5, 0.5, 0.5]}, "trials": trials,
    }  # fmt: skip


def test_the_page_renders_medians_targets_ratios_and_cuts(tmp_path: Path) -> None:
    raw = _fake_raw()
    text = report.markdown(raw, chart=False, png=tmp_path / "b.png")
    assert "| **podium** | 3 | 32.0 | 31.0–33.0 | ≤ 50 ✅ |" in text
    assert "0.11× vs peer (lower is better: Podium better)" in text
    assert "| peer | 2\\* | 300.0 |" in text
    assert "too slow" in text
    assert "unsupported: no suspend" in text
    assert "```python" not in text  # tests/test_docs.py would run it
    assert "## Where the time went" in text
    summary = report.summarize(raw)
    assert summary["W1"]["podium"]["metrics"]["us_per_step"]["n"] == 3
    assert "W1" in report.timing_summary(raw)


def test_the_direct_w6_measurement_is_found_in_the_results(tmp_path: Path) -> None:
    assert report.direct_w6(tmp_path) is None
    raw = _fake_raw()
    raw["trials"] = [{"framework": "podium", "workload": "W6", "status": "ok",
                      "metrics": {"runs": 100_000, "peak_rss_mb": 200.0}}]  # fmt: skip
    (tmp_path / "compare-20260101T000000Z.json").write_text(json.dumps(raw), encoding="utf-8")
    found = report.direct_w6(tmp_path)
    assert found is not None
    assert found["metrics"]["peak_rss_mb"] == 200.0
