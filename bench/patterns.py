"""Pattern benchmarks (issue 3): wide fan-outs with the SQLite journal on.

    .venv/bin/python bench/patterns.py            # 5 trials each
    .venv/bin/python bench/patterns.py --quick    # 2 trials, smaller

- ``parallel_100``: 100 agents in one ``Parallel`` node, each one model call with 50 ms of
  scripted latency, SQLite journal: wall time of the run as a multiple of the ideal 50 ms.
- ``fanout_1000``: a ``Map`` of 1,000 agent branches (0 ms model) on SQLite, each trial in a
  fresh process: wall time of the run and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from harness import REPO_DIR, Summary

from podium import Agent, Runtime, SQLiteStore
from podium.patterns import Map, Parallel
from podium.testing import ScriptedModel

LATENCY = 0.050


def _agents(n: int, latency: float) -> list[Agent]:
    return [
        Agent(name=f"a{i}", model=ScriptedModel(["ok"], by_turn=True, latency=latency))
        for i in range(n)
    ]


async def parallel_once(n: int, directory: Path) -> float:
    store = SQLiteStore(directory / f"p{time.monotonic_ns()}.db")
    runtime = Runtime(store)
    flow = Parallel("fan", {a.name: a for a in _agents(n, LATENCY)})
    started = time.perf_counter()
    result = await runtime.run(flow, "go")
    elapsed = time.perf_counter() - started
    assert result.status.value == "completed", result.error
    await store.close()
    return elapsed


async def fanout_child(n: int, path: str) -> dict[str, Any]:
    store = SQLiteStore(path)
    runtime = Runtime(store)
    agent = Agent(name="branch", model=ScriptedModel(["ok"], by_turn=True))
    flow = Map("fan", agent)
    before = _peak_kib()
    started = time.perf_counter()
    result = await runtime.run(flow, [f"item {i}" for i in range(n)])
    elapsed = time.perf_counter() - started
    assert result.status.value == "completed", result.error
    events = len(await store.read(result.run_id))
    await store.close()
    peak = _peak_kib()
    return {"seconds": elapsed, "peak_rss_mb": peak / 1024, "rss_before_mb": before / 1024,
            "events": events}  # fmt: skip


def _peak_kib() -> float:
    """This process's peak RSS (``VmHWM``). Not ``ru_maxrss``: in a child it also counts the
    parent's pages shared at fork, which exec keeps in the high-water mark."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def fanout_trial(n: int, directory: Path) -> dict[str, Any]:
    db = directory / f"f{time.monotonic_ns()}.db"
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(n), str(db)],
        capture_output=True, text=True, check=True, cwd=REPO_DIR,
    )  # fmt: skip
    figures: dict[str, Any] = json.loads(out.stdout)
    figures["db_bytes"] = db.stat().st_size
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(anyio.run(fanout_child, int(args.child[0]), args.child[1])))
        return
    trials = 2 if args.quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        anyio.run(parallel_once, 10, directory)  # warm-up
        walls = [anyio.run(parallel_once, 100, directory) for _ in range(trials)]
        wall = Summary.of(walls)
        ratio = Summary.of([w / LATENCY for w in walls])
        print(f"parallel_100 (50 ms model, SQLite): median {wall.median * 1000:.1f} ms "
              f"= {ratio.median:.3f}x ideal (min {ratio.min:.3f}, max {ratio.max:.3f}); "
              "target <= 1.05x")  # fmt: skip
        n = 200 if args.quick else 1000
        runs = [fanout_trial(n, directory) for _ in range(trials)]
        seconds = Summary.of([r["seconds"] for r in runs])
        peak = Summary.of([r["peak_rss_mb"] for r in runs])
        base = Summary.of([r["rss_before_mb"] for r in runs])
        print(f"fanout_{n} (0 ms model, SQLite): median {seconds.median:.3f} s "
              f"(min {seconds.min:.3f}, max {seconds.max:.3f}); peak RSS {peak.median:.1f} MB "
              f"(process before the run {base.median:.1f} MB); {runs[0]['events']} events, "
              f"{runs[0]['db_bytes'] / 1e6:.2f} MB on disk; target <= 2 s, <= 200 MB")  # fmt: skip


if __name__ == "__main__":
    main()
