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
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
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


def _worker(db: str, name: str, *options: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "podium", "--db", db, "worker", "--owner", name]
    command += ["--poll", "0.1", "--quiet", *options]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _rows(base: str, schema: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


def throughput(base: str, workers: int, runs: int, steps: int, concurrency: int) -> dict[str, Any]:
    db, schema = _schema_url(base)
    try:
        _create(db, f"{APP}:chain", runs, steps)
        env = {**os.environ, "PODIUM_ALLOW_MODEL_REQUESTS": "0"}
        procs = [
            _worker(db, f"w{i}", "--until-idle", "-c", str(concurrency), env=env)
            for i in range(workers)
        ]
        for proc in procs:
            if proc.wait(timeout=600) != 0:
                raise RuntimeError(f"worker exited with {proc.returncode}")
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
            deadline = time.monotonic() + 60
            while not marker.exists():
                if time.monotonic() > deadline:
                    raise RuntimeError("the victim never started the step")
                time.sleep(0.01)
            rescuer = _worker(db, "rescuer", "--lease", str(lease), env=env)
            time.sleep(1.0)  # the rescuer is up and polling
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
    for workers in (1, 2, 4):
        samples = [throughput(args.db, workers, runs, steps, concurrency) for _ in range(trials)]
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
    print("\n| workers | durable steps/s (median) | × one worker | trials |")
    print("|--:|--:|--:|---|")
    for row in results["throughput"]:
        print(f"| {row['workers']} | {row['steps_per_s']:.0f} | {row['vs_one']:.2f} | "
              f"{', '.join(f'{t:.0f}' for t in row['trials'])} |")  # fmt: skip
    print("\n| lease TTL | takeover after kill -9 (median) | trials |")
    print("|--:|--:|---|")
    for row in results["takeover"]:
        print(f"| {row['lease_s']:g} s | {row['takeover_s']:.2f} s | "
              f"{', '.join(f'{t:.2f}' for t in row['trials'])} |")  # fmt: skip


if __name__ == "__main__":
    main()
