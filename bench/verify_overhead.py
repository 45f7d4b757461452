"""What verifying the hash chain costs an executor (issue 12, item 8).

Every executor reads the journal it replays with ``store.read(run_id, verify=True)``: each row's
body against its digest, each row's hash against the row before it, the last one against the
index's head — two SHA-256 per event over bytes the read already holds, no extra query. This
script measures it on a run of ``--events`` durable steps (``ctx.step``), on a
:class:`MemoryStore` and a :class:`SQLiteStore`:

- ``read``: ``store.read(run_id)`` against ``store.read(run_id, verify=True)``;
- ``replay``: ``Runtime.resume`` of a run whose steps are all journaled (it replays every
  step and then suspends on a signal), which reads with ``verify=True``, against the same
  with the check switched off (``verify`` forced to False) — what a resume after a crash or a
  decision costs.

Figures: the median over ``--trials`` interleaved trials, in ms per run and µs per event. Not a
timed test; nothing fails on a slow machine.

``python bench/verify_overhead.py [--events N] [--trials N]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from podium import Context, MemoryStore, Runtime, SQLiteStore, workflow
from podium.store import Store, StoredEvent


def _value(i: int) -> int:
    return i


def chain(steps: int) -> Any:
    @workflow(name="chain")
    async def run(ctx: Context, _: Any) -> Any:
        for i in range(steps):
            await ctx.step("s", _value, i)
        return await ctx.wait_for("go")

    return run


class _Unverified:
    """A store whose reads never verify (the baseline of ``replay``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def read(
        self, run_id: str, *, after_seq: int = 0, verify: bool = False
    ) -> list[StoredEvent]:
        return await self._store.read(run_id, after_seq=after_seq)


async def _timed(fn: Callable[[], Awaitable[object]]) -> float:
    began = time.perf_counter()
    await fn()
    return time.perf_counter() - began


async def measure(store: Store, events: int, trials: int) -> dict[str, tuple[float, float]]:
    flow = chain(events)
    runtime = Runtime(store)
    run_id = (await runtime.run(flow, None)).run_id  # suspends on "go" after the steps
    total = len(await store.read(run_id))
    plain = Runtime(_Unverified(store))  # type: ignore[arg-type]
    cases: dict[str, Callable[[], Awaitable[object]]] = {
        "read": lambda: store.read(run_id),
        "read+verify": lambda: store.read(run_id, verify=True),
        "replay": lambda: plain.resume(run_id, flow),
        "replay+verify": lambda: runtime.resume(run_id, flow),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm-up
        await fn()
    for _ in range(trials):  # interleaved
        for name, fn in cases.items():
            samples[name].append(await _timed(fn))
    return {
        name: (statistics.median(s) * 1e3, statistics.median(s) * 1e6 / total)
        for name, s in samples.items()
    }


async def main(events: int, trials: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stores: dict[str, Store] = {
            "memory": MemoryStore(),
            "sqlite": SQLiteStore(Path(tmp) / "bench.db"),
        }
        print(f"{events} durable steps per run; median of {trials} trials\n")
        print("| store | case | ms per run | µs per event |")
        print("| --- | --- | ---: | ---: |")
        for kind, store in stores.items():
            figures = await measure(store, events, trials)
            for name, (ms, us) in figures.items():
                print(f"| {kind} | {name} | {ms:.2f} | {us:.2f} |")
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=15)
    args = parser.parse_args()
    anyio.run(main, args.events, args.trials)
