"""Issue 6 figures: durable steps per second with 1, 2 and 4 `podium worker` processes on
PostgreSQL (50 ms model), and takeover time after `kill -9` against the lease TTL.

    .venv/bin/python bench/workers.py [--quick] [--db postgresql://127.0.0.1:5432/test]

Each figure runs in a fresh schema, dropped afterwards. Throughput is read from the journal:
model steps committed between the first ``execution_started`` and the last ``run_completed``
(process start-up excluded). Not a test: nothing fails on a slow machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import psycopg

from podium import Runtime
from podium.runtime import load_target
from podium.store.open import open_store

HERE = Path(__file__).parent
APP = HERE / "worker_bench_app.py"


def _schema_url(base: str) -> tuple[str, str]:
    schema = f"podium_bench_{uuid.uuid4().hex[:8]}"
    return f"{base}{'&' if '?' in base else '?'}schema={schema}", schema


def _drop(base: str, schema: str) -> None:
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _create(db: str, target: str, count: int, input: Any) -> list[str]:
    async def go() -> list[str]:
        async with open_store(db) as store:
            runtime, flow = Runtime(store), load_target(target)
            return [await runtime.start(flow, input, ref=target) for _ in range(count)]

    return anyio.run(go)


def _worker(
    db: str, name: str, *options: str, env: dict[str, str], log: Path | None = None
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "podium", "--db", db, "worker", "--owner", name]
    command += ["--poll", "0.1", "--quiet", *options]
    if log is None:
        return subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    with log.open("wb") as out:  # the child keeps its own copy
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=out)


def _wait_for(what: Callable[[], bool], why: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {why}")
        time.sleep(0.01)


def _rows(base: str, schema: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


def _cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [float(x) for x in open("/proc/stat").readline().split()[1:]]  # noqa: SIM115
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def idle_worker_cpu(base: str) -> float:
    """CPU seconds of a worker that starts, finds nothing and exits (imports, connecting)."""
    db, schema = _schema_url(base)
    try:
        _create(db, f"{APP}:chain", 0, 1)  # migrate the schema
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        _worker(db, "idle", "--until-idle", env=dict(os.environ)).wait(timeout=60)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    finally:
        _drop(base, schema)


def throughput(
    base: str, workers: int, runs: int, steps: int, concurrency: int, idle_cpu: float = 0.0
) -> dict[str, Any]:
    db, schema = _schema_url(base)
    try:
        _create(db, f"{APP}:chain", runs, steps)
        env = {**os.environ, "PODIUM_ALLOW_MODEL_REQUESTS": "0"}
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy0, total0 = _cpu()
        procs = [
            _worker(db, f"w{i}", "--until-idle", "-c", str(concurrency), env=env)
            for i in range(workers)
        ]
        for proc in procs:
            if proc.wait(timeout=600) != 0:
                raise RuntimeError(f"worker exited with {proc.returncode}")
        busy1, total1 = _cpu()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        worker_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        worker_cpu -= workers * idle_cpu  # start-up and exit, measured apart
        (first, last, done, model_steps) = _rows(
            base,
            schema,
            "SELECT min(ts) FILTER (WHERE type = 'execution_started'), "
            "max(ts) FILTER (WHERE type = 'run_completed'), "
            "count(*) FILTER (WHERE type = 'run_completed'), "
            "count(*) FILTER (WHERE type = 'model_call_completed') FROM events",
        )[0]
        if done != runs:
            raise RuntimeError(f"only {done} of {runs} runs completed")
        seconds = last - first
        return {
            "workers": workers,
            "runs": runs,
            "model_steps": model_steps,
            "seconds": round(seconds, 3),
            "steps_per_s": round(model_steps / seconds, 1),
            "ideal_steps_per_s": round(workers * concurrency / 0.05, 1),
            # CPU: the workers' own (start-up subtracted), and the machine's busy share (all
            # processes, PostgreSQL included, start-up too) over the workers' lifetime
            "worker_cpu_ms_per_step": round(worker_cpu * 1000 / model_steps, 3),
            "machine_busy": round((busy1 - busy0) / (total1 - total0), 3),
        }
    finally:
        _drop(base, schema)


def takeover(base: str, lease: float) -> dict[str, Any]:
    """kill -9 the owner mid-step; a second worker (already polling) takes the run over."""
    db, schema = _schema_url(base)
    try:
        (run_id,) = _create(db, f"{APP}:hold", 1, 30.0)
        env = {**os.environ, "PODIUM_ALLOW_MODEL_REQUESTS": "0"}
        with tempfile.TemporaryDirectory() as tmp:
            marker = Path(tmp) / "entered"
            env["BENCH_MARKER"] = str(marker)
            victim = _worker(db, "victim", "--lease", str(lease), env=env)
            _wait_for(marker.exists, "the victim to start the step")
            log = Path(tmp) / "rescuer.log"
            rescuer = _worker(db, "rescuer", "--lease", str(lease), env=env, log=log)
            # up and polling once it printed its start line (it claims right after)
            _wait_for(lambda: "worker rescuer " in log.read_text(), "the rescuer to start")
            victim.send_signal(signal.SIGKILL)
            killed = time.time()
            victim.wait()
            try:
                while True:
                    rows = _rows(
                        base, schema,
                        "SELECT ts FROM events WHERE type = 'execution_started' "
                        f"AND body->>'owner' = 'rescuer' AND run_id = '{run_id}'",
                    )  # fmt: skip
                    if rows:
                        break
                    if time.time() - killed > lease + 30:
                        raise RuntimeError("no takeover")
                    time.sleep(0.01)
            finally:
                rescuer.kill()
                rescuer.wait()
        seconds = rows[0][0] - killed
        return {"lease_s": lease, "takeover_s": round(seconds, 3)}
    finally:
        _drop(base, schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_db = os.environ.get("PODIUM_BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
    parser.add_argument("--db", default=default_db)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    runs, steps, concurrency = (40, 3, 8) if args.quick else (400, 5, 16)
    trials = 1 if args.quick else args.trials
    print(f"# workers on PostgreSQL: {runs} runs x {steps} model steps (50 ms), -c {concurrency}")
    results: dict[str, Any] = {"throughput": [], "takeover": []}
    idle_cpu = statistics.median(idle_worker_cpu(args.db) for _ in range(3))
    print(f"an idle worker's start-up and exit: {idle_cpu * 1000:.0f} ms of CPU")
    for workers in (1, 2, 4):
        samples = [
            throughput(args.db, workers, runs, steps, concurrency, idle_cpu) for _ in range(trials)
        ]
        rates = [s["steps_per_s"] for s in samples]
        row = {**samples[0], "steps_per_s": statistics.median(rates), "trials": rates}
        results["throughput"].append(row)
        print(json.dumps(row))
    one = results["throughput"][0]["steps_per_s"]
    for row in results["throughput"]:
        row["vs_one"] = round(row["steps_per_s"] / one, 2)
    for lease in (1.0, 2.0, 5.0) if not args.quick else (1.0,):
        samples = [takeover(args.db, lease) for _ in range(trials)]
        took = [s["takeover_s"] for s in samples]
        row = {"lease_s": lease, "takeover_s": statistics.median(took), "trials": took}
        results["takeover"].append(row)
        print(json.dumps(row))
    print("\n| workers | durable steps/s (median) | × one worker | trials | worker CPU ms/step "
          "| machine busy |")  # fmt: skip
    print("|--:|--:|--:|---|--:|--:|")
    for row in results["throughput"]:
        print(f"| {row['workers']} | {row['steps_per_s']:.0f} | {row['vs_one']:.2f} | "
              f"{', '.join(f'{t:.0f}' for t in row['trials'])} | "
              f"{row['worker_cpu_ms_per_step']:.2f} | {row['machine_busy']:.0%} |")  # fmt: skip
    print("\n| lease TTL | takeover after kill -9 (median) | trials |")
    print("|--:|--:|---|")
    for row in results["takeover"]:
        print(f"| {row['lease_s']:g} s | {row['takeover_s']:.2f} s | "
              f"{', '.join(f'{t:.2f}' for t in row['trials'])} |")  # fmt: skip


if __name__ == "__main__":
    main()
