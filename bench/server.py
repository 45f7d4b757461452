"""`podium serve` under load (issue 14), not a timed test: nothing fails when a target is missed.

    .venv/bin/python bench/server.py [--runs 100000] [--seconds 10] [--followers 500]
                                     [--db postgresql://...] [--keep DIR]

With ``--runs`` runs in the store (created once with the store API, 1 event each, and kept in
``--keep`` for the next time), one `podium serve` process (uvicorn, no in-process worker) on a
loopback port, and load from this process (httpx, asyncio):

- **get-run**: ``--concurrency`` clients GET random runs for ``--seconds``: requests/s, p50/p99;
- **list-runs**: one client GETs ``/v1/runs?limit=50`` (the newest page, then pages by cursor):
  p50/p99;
- **starts**: ``--concurrency`` clients POST runs of a deployment: starts/s;
- **SSE**: ``--followers`` clients follow one live run each; the bench appends a signal to every
  run (store API, from this process) and measures append -> delivery: p50/p99.

Targets on the 2-core machine of the issue: get >= 2,000 req/s, list p99 <= 50 ms, 500 followers
with p99 delivery <= 250 ms. The load generator shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from podium.events import RunStarted, SignalReceived  # noqa: E402
from podium.service import ControlPlane  # noqa: E402
from podium.store import RunFilter, Store  # noqa: E402
from podium.store.open import open_store  # noqa: E402
from server_kit import ADMIN, APPS, free_port  # noqa: E402

NS = "bench"


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def seed(store: Store, runs: int) -> list[str]:
    """``runs`` runs of one event each (kept: a second bench on the same file reuses them)."""
    ids = [f"run_bench_{i:07d}" for i in range(runs)]
    have = {r.run_id for r in await store.list_runs(RunFilter(namespace=NS, limit=2**62))}
    started = time.perf_counter()
    for n, run_id in enumerate(ids):
        if run_id in have:
            continue
        event = RunStarted(workflow="bench:flow", input={"n": n}, namespace=NS)
        await store.append(run_id, [event], expected_seq=0)
        if n and n % 20000 == 0:
            print(f"  seeded {n:,} runs ({time.perf_counter() - started:.0f} s)", flush=True)
    return ids


async def prepare(db: str, runs: int) -> tuple[list[str], dict[str, str]]:
    store = open_store(db)
    try:
        ids = await seed(store, runs)
        plane = ControlPlane(store)
        await plane.deploy(ADMIN, NS, "pay", f"{APPS}/payments.py:payer")
        keys = {}
        for role in ("viewer", "operator"):
            _, keys[role] = await plane.create_key(ADMIN, NS, role)
        return ids, keys
    finally:
        await store.close()


def _in_process(kind: str, *args: Any) -> tuple[list[float], float]:
    """One load-generating process: its latencies and elapsed seconds."""
    return asyncio.run(LOADS[kind](*args))


def fan_out(kind: str, processes: int, *args: Any) -> dict[str, Any]:
    """Run the load ``kind`` in ``processes`` processes at once (one asyncio client each, so
    the generator is not one GIL-bound loop); pooled latencies, total rate."""
    with ProcessPoolExecutor(processes) as pool:
        parts = list(pool.map(_in_process, [kind] * processes, *[[a] * processes for a in args]))
    latencies = [x for part, _ in parts for x in part]
    elapsed = max(e for _, e in parts)
    return {
        "requests": len(latencies), "per_second": len(latencies) / elapsed,
        "p50_ms": pct(latencies, 0.5) * 1e3, "p99_ms": pct(latencies, 0.99) * 1e3,
        "client_processes": processes,
    }  # fmt: skip


async def get_runs(
    url: str, token: str, ids: list[str], seconds: float, conc: int
) -> tuple[list[float], float]:
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        headers = {"Authorization": f"Bearer {token}"}

        async def one() -> None:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                r = await client.get(f"/v1/runs/{random.choice(ids)}", headers=headers)
                assert r.status_code == 200, r.text
                latencies.append(time.perf_counter() - t)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(conc)))
        return latencies, time.perf_counter() - started


async def list_runs(url: str, token: str, count: int) -> dict[str, Any]:
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        cursor = None
        for i in range(count):
            path = "/v1/runs?limit=50" + (f"&cursor={cursor}" if cursor and i % 10 else "")
            t = time.perf_counter()
            r = await client.get(path, headers=headers)
            latencies.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
            cursor = r.json()["next_cursor"]
    return {"requests": count, "p50_ms": pct(latencies, 0.5) * 1e3,
            "p99_ms": pct(latencies, 0.99) * 1e3}  # fmt: skip


async def starts(url: str, token: str, seconds: float, conc: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}"}
    body = {"namespace": NS, "deployment": "pay", "input": "bench"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one() -> None:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                r = await client.post("/v1/runs", json=body, headers=headers)
                assert r.status_code == 201, r.text
                latencies.append(time.perf_counter() - t)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(conc)))
        return latencies, time.perf_counter() - started


async def sse(url: str, db: str, token: str, followers: int) -> dict[str, Any]:
    store = open_store(db)
    run_ids = [f"run_live_{os.getpid()}_{i}" for i in range(followers)]
    for run_id in run_ids:
        await store.append(
            run_id, [RunStarted(workflow="bench:live", input=None, namespace=NS)], expected_seq=0
        )
    sent: dict[str, float] = {}
    delays: list[float] = []
    connected = 0
    all_connected = asyncio.Event()
    limits = httpx.Limits(max_connections=followers + 10)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def follow(run_id: str) -> None:
            nonlocal connected
            headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": "1"}
            async with client.stream("GET", f"/v1/runs/{run_id}/stream", headers=headers) as r:
                connected += 1
                if connected == followers:
                    all_connected.set()
                async for line in r.aiter_lines():
                    if line.startswith("event: signal_received"):
                        delays.append(time.time() - sent[run_id])
                        return

        tasks = [asyncio.create_task(follow(run_id)) for run_id in run_ids]
        await asyncio.wait_for(all_connected.wait(), 120)
        await asyncio.sleep(1.0)  # every follower past its first poll
        for run_id in run_ids:  # spread over ~1 s, as live runs would append
            sent[run_id] = time.time()
            await store.append(run_id, [SignalReceived(name="tick")], expected_seq=1)
            await asyncio.sleep(1.0 / followers)
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
    await store.close()
    return {"followers": followers, "delivered": len(delays),
            "p50_ms": pct(delays, 0.5) * 1e3, "p99_ms": pct(delays, 0.99) * 1e3,
            "max_ms": max(delays) * 1e3}  # fmt: skip


LOADS: dict[str, Any] = {"get": get_runs, "start": starts}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_cpu(pid: int, result: dict[str, Any], before: float) -> dict[str, Any]:
    """The server's own CPU per request: what the figures would be without the rest of the
    machine competing for the cores (a ceiling per core, not a measurement of one)."""
    used = cpu_seconds(pid) - before
    result["server_cpu_s"] = used
    result["server_cpu_ms_per_request"] = used / max(1, result["requests"]) * 1e3
    return result


def serve(db: str, tmp: Path, poll: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PODIUM_SSE_POLL": str(poll), "PODIUM_DEPLOY_CACHE": str(tmp / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "podium", "--db", db, "serve", "--no-worker", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/v1/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("podium serve did not start")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--followers", type=int, default=500)
    parser.add_argument("--clients", type=int, default=2, help="load-generating processes")
    parser.add_argument("--poll", type=float, default=0.1, help="PODIUM_SSE_POLL of the server")
    parser.add_argument("--db", help="a postgresql:// URL (default: a SQLite file in --keep)")
    parser.add_argument(
        "--keep", type=Path, default=Path(tempfile.gettempdir()) / "podium-bench-server"
    )
    args = parser.parse_args()
    args.keep.mkdir(parents=True, exist_ok=True)
    db = args.db or str(args.keep / f"runs-{args.runs}.db")
    print(f"store {db}: seeding {args.runs:,} runs (kept for the next time)", flush=True)
    ids, keys = await prepare(db, args.runs)
    proc, url = serve(db, args.keep, args.poll)
    results: dict[str, Any] = {}
    try:
        before = cpu_seconds(proc.pid)
        get = fan_out(
            "get", args.clients, url, keys["viewer"], ids, args.seconds,
            args.concurrency // args.clients,
        )  # fmt: skip
        results["get_run"] = with_cpu(proc.pid, get, before)
        before = cpu_seconds(proc.pid)
        results["list_runs"] = with_cpu(proc.pid, await list_runs(url, keys["viewer"], 500), before)
        before = cpu_seconds(proc.pid)
        start = fan_out(
            "start", args.clients, url, keys["operator"], args.seconds,
            args.concurrency // args.clients,
        )  # fmt: skip
        results["starts"] = with_cpu(proc.pid, start, before)
        results["sse"] = await sse(url, db, keys["viewer"], args.followers)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    results["machine"] = {"load_average": os.getloadavg()}
    results["setup"] = {"runs": args.runs, "db": "postgresql" if args.db else "sqlite",
                        "concurrency": args.concurrency, "sse_poll_s": args.poll,
                        "cpus": os.cpu_count()}  # fmt: skip
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
