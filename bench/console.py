"""The web console under a big store (issue 15), not a timed test: nothing fails on a miss.

    .venv/bin/python bench/console.py [--runs 100000] [--requests 200] [--updates 60]
                                      [--keep DIR]

- **runs page**: the server renders ``/runs`` (a logged-in operator, 50 runs a page) over
  ``--runs`` runs in one SQLite store: the newest page, older pages by cursor, and a status
  filter, through the ASGI app in this process (no network): p50/p95 of the whole request.
  Target: p95 <= 150 ms.
- **live run view**: real Chromium shows a run page served by a `podium serve` process (SSE
  followers poll the store every ``--poll`` s, ``PODIUM_SSE_POLL``, default 0.2); this process
  appends ``--updates`` signals to the run through the service layer, one every 0.3 s, and the
  page records (MutationObserver, ``Date.now()``) when each new journal length appears.
  Latency = that moment - the event's commit time on the store's clock (the same machine
  clock). Target: p95 <= 250 ms.

The seeded store is kept in ``--keep`` (runs of one event each, namespace ``bench``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from console_kit import chromium, login  # noqa: E402
from podium.events import RunStarted  # noqa: E402
from podium.server import create_app  # noqa: E402
from podium.service import ControlPlane  # noqa: E402
from podium.store import RunFilter, Store  # noqa: E402
from podium.store.open import open_store  # noqa: E402
from server_kit import ADMIN, server  # noqa: E402

NS = "bench"
OBSERVE = """() => {
  window.__updates = [];
  const seen = () => document.getElementById('event-count');
  new MutationObserver(() => {
    const el = seen();
    if (el) window.__updates.push([Date.now(), parseInt(el.textContent, 10)]);
  }).observe(document.getElementById('live'), {childList: true, subtree: true});
}"""


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def seed(store: Store, runs: int) -> None:
    have = len(await store.list_runs(RunFilter(namespace=NS, limit=2**62)))
    started = time.perf_counter()
    for n in range(have, runs):
        event = RunStarted(workflow="bench:flow", input={"n": n}, namespace=NS)
        await store.append(f"run_bench_{n:07d}", [event], expected_seq=0)
        if n and n % 20000 == 0:
            print(f"  seeded {n:,} runs ({time.perf_counter() - started:.0f} s)", flush=True)


async def render(db: str, runs: int, requests: int) -> dict[str, Any]:
    store = open_store(db)
    await seed(store, runs)
    _, token = await ControlPlane(store).create_key(ADMIN, NS, "operator", label="bench")
    app = create_app(store)
    transport = httpx.ASGITransport(app=app)
    samples: list[float] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        form = (await client.get("/login")).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf
        done = await client.post("/login", data={"api_key": token, "csrf": csrf[1]})
        assert done.status_code == 303, done.text
        cursor = ""
        for i in range(requests):
            path = "/runs" if i % 4 else "/runs?status=pending"
            if i % 4 == 2 and cursor:
                path = f"/runs?cursor={cursor}"
            started = time.perf_counter()
            page = await client.get(path)
            samples.append(time.perf_counter() - started)
            assert page.status_code == 200, page.text[:500]
            found = re.search(r'rel="next" href="[^"]*cursor=([^"&]+)"', page.text)
            cursor = found[1] if found and i % 20 else ""
    await store.close()
    return {
        "runs": runs, "requests": requests, "p50_ms": pct(samples, 0.5) * 1e3,
        "p95_ms": pct(samples, 0.95) * 1e3, "max_ms": max(samples) * 1e3,
    }  # fmt: skip


async def _make_run(db: str) -> str:
    async with open_store(db) as store:
        run_id = f"run_bench_live_{int(time.time() * 1000)}"
        await store.append(run_id, [RunStarted(workflow="bench:flow", input={}, namespace=NS)],
                           expected_seq=0)  # fmt: skip
        return run_id


async def _signal(db: str, run_id: str, n: int) -> float:
    async with open_store(db) as store:
        await ControlPlane(store).signal(ADMIN, run_id, "tick", n)
        events = await store.read(run_id)
        return events[-1].ts if events[-1].event.type == "signal_received" else float("nan")


def live(db: str, tmp: Path, updates: int, poll: float) -> dict[str, Any]:
    token = anyio.run(_key, db)
    run_id = anyio.run(_make_run, db)
    env = {"PODIUM_SSE_POLL": str(poll)}
    pool = ThreadPoolExecutor(1)
    with server(db, tmp, worker=False, env=env) as url, chromium() as browser:
        _, page = login(browser, url, token)
        page.goto(f"{url}/runs/{run_id}")
        page.evaluate(OBSERVE)
        time.sleep(1.0)
        committed: dict[int, float] = {}
        for n in range(updates):
            ts = pool.submit(anyio.run, _signal, db, run_id, n).result()  # off Playwright's loop
            committed[len(committed) + 2] = ts  # seq of the signal: 1 is run_started
            time.sleep(0.3)
        time.sleep(1.0)
        seen: list[list[float]] = page.evaluate("window.__updates")
    pool.shutdown()
    first: dict[int, float] = {}
    for at, count in seen:
        first.setdefault(int(count), at / 1000.0)
    latencies = [first[seq] - ts for seq, ts in committed.items() if seq in first]
    return {
        "updates": updates, "seen": len(latencies), "p50_ms": pct(latencies, 0.5) * 1e3,
        "p95_ms": pct(latencies, 0.95) * 1e3, "max_ms": max(latencies, default=0) * 1e3,
        "sse_poll_s": poll,
    }  # fmt: skip


async def _key(db: str) -> str:
    async with open_store(db) as store:
        _, token = await ControlPlane(store).create_key(ADMIN, NS, "viewer", label="bench-live")
        return token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--updates", type=int, default=60)
    parser.add_argument("--poll", type=float, default=0.2, help="PODIUM_SSE_POLL of the server")
    parser.add_argument(
        "--keep", type=Path, default=Path(tempfile.gettempdir()) / "podium-bench-console"
    )
    args = parser.parse_args()
    args.keep.mkdir(parents=True, exist_ok=True)
    db = str(args.keep / f"runs-{args.runs}.db")
    print(f"store {db}: seeding {args.runs:,} runs if missing", flush=True)
    rendered = anyio.run(render, db, args.runs, args.requests)
    print(f"runs page: {json.dumps(rendered)}  (target p95 <= 150 ms)", flush=True)
    work = Path(tempfile.mkdtemp(prefix="podium-console-live-"))
    try:
        updated = live(db, work, args.updates, args.poll)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"live run view: {json.dumps(updated)}  (target p95 <= 250 ms)", flush=True)


if __name__ == "__main__":
    main()
