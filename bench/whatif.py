"""What would the suggested fixes in ``src/`` buy? Monkeypatched experiments, in-process only.

Each patch models one proposed change to ``src/podium`` (nothing on disk is modified; every
patch is undone after its trial). Trials are interleaved (baseline, patch A, patch B, ... then
again) so that load drift on a shared machine hits every configuration alike; the gain is the
median of the per-trial ratios to the baseline of the same round.

These patches reach into private names of ``src/podium``; if one of them no longer exists the
patch is reported as skipped. They are estimates for the closing note, not the fixes.

    python bench/whatif.py [--quick] [--trials N]
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import anyio.lowlevel
from pydantic import TypeAdapter
from step_overhead import (
    ANSWER,
    CHAIN_INPUT,
    CHAIN_LENGTH,
    DURABLE_STEPS,
    REPLY,
    StoreKind,
    make_chain,
    open_store,
)

from podium import Runtime, Workflow
from podium.types import RunStatus

Undo = Callable[[], None]


def _swap(owner: Any, name: str, value: Any) -> Undo:
    original = getattr(owner, name)
    setattr(owner, name, value)
    return lambda: setattr(owner, name, original)


# -- the patches (each returns its undo) --------------------------------------------------------


def patch_output_cache() -> Undo:
    """agent_loop: build ``_Output`` (TypeAdapter + JSON schema) once per output type."""
    from podium.runtime import agent_loop

    original = agent_loop._Output
    cached = functools.lru_cache(maxsize=256)(original)

    def output(output_type: Any) -> Any:
        try:
            return cached(output_type)
        except TypeError:  # an unhashable type: build it as before
            return original(output_type)

    return _swap(agent_loop, "_Output", output)


def patch_fast_lock() -> Undo:
    """journal: ``anyio.Lock(fast_acquire=True)``: no loop pass when the lock is free."""
    from podium.runtime import journal

    original = journal.Journal.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._lock = anyio.Lock(fast_acquire=True)

    return _swap(journal.Journal, "__init__", init)


def patch_memory_no_yield() -> Undo:
    """MemoryStore: ``checkpoint_if_cancelled()`` instead of ``checkpoint()``: no loop pass."""
    from podium.store import memory

    shim = SimpleNamespace(
        lowlevel=SimpleNamespace(checkpoint=anyio.lowlevel.checkpoint_if_cancelled)
    )
    return _swap(memory, "anyio", shim)


def patch_as_node() -> Undo:
    """nodes.as_node: return a ``Workflow`` before the slow runtime-checkable Protocol check."""
    from podium.runtime import context, engine, nodes

    original = nodes.as_node  # the function engine and context imported

    def as_node(obj: Any) -> Any:
        return obj if type(obj) is Workflow else original(obj)

    undo = [_swap(engine, "as_node", as_node), _swap(context, "as_node", as_node)]

    def restore() -> None:
        for step in undo:
            step()

    return restore


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}  # kept across trials, as a module-level cache


def patch_per_type_encode() -> Undo:
    """events.encode: serialize with a per-type TypeAdapter, not the discriminated union's."""
    from podium.store import index

    def encode(event: Any) -> str:
        adapter = _ADAPTERS.get(type(event))
        if adapter is None:
            adapter = _ADAPTERS[type(event)] = TypeAdapter(type(event))
        raw = adapter.dump_json(event, warnings="error")  # as strict as events.encode
        if b"NaN" in raw or b"Infinity" in raw:  # the same screen (same cost)
            json.loads(raw)
        return raw.decode()

    return _swap(index, "encode", encode)


def patch_sqlite_inline() -> Undo:
    """SQLiteStore._run: run the (short, WAL NORMAL) statement on the loop thread, no hop."""
    from podium.store.sqlite import SQLiteStore

    async def run(self: Any, fn: Callable[[], Any]) -> Any:
        await anyio.lowlevel.checkpoint()
        with self._lock:
            return fn()

    return _swap(SQLiteStore, "_run", run)


@dataclass(frozen=True, slots=True)
class Patch:
    name: str
    apply: Callable[[], Undo]
    only: tuple[str, ...] = ()  # workloads it concerns (empty: all)

    @property
    def fix(self) -> str:
        return (self.apply.__doc__ or "").strip()


_BENCHES = ("agent_step", "agent_step_structured", "durable_step")
PATCHES: tuple[Patch, ...] = (
    Patch("output_cache", patch_output_cache, ("memory/agent_step_structured",)),
    Patch("fast_lock", patch_fast_lock),
    Patch("memory_no_yield", patch_memory_no_yield, tuple(f"memory/{b}" for b in _BENCHES)),
    Patch("as_node_fast_path", patch_as_node),
    Patch("per_type_encode", patch_per_type_encode),
    Patch("sqlite_inline", patch_sqlite_inline, ("sqlite/agent_step", "sqlite/durable_step")),
)


# -- workloads ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workload:
    store: StoreKind
    bench: str
    runs: int  # per trial
    steps_per_run: int
    make: Callable[[], Workflow]
    input: Any
    expected: Any

    @property
    def name(self) -> str:
        return f"{self.store}/{self.bench}"


def usable(patch: Patch) -> str | None:
    """None if the patch applies to the current ``src/``; else why not."""
    try:
        patch.apply()()
    except (AttributeError, ImportError, TypeError) as error:
        return f"{type(error).__name__}: {error}"
    return None


def workloads(quick: bool) -> list[Workload]:
    scale = 10 if quick else 1
    durable = 100 if quick else 1000

    def structured() -> Workflow:
        return make_chain(structured=True)

    def steps() -> Workflow:
        return DURABLE_STEPS

    reply = REPLY.model_dump(mode="json")
    chain, n = CHAIN_INPUT, CHAIN_LENGTH
    return [
        Workload("memory", "agent_step", 200 // scale, n, make_chain, chain, ANSWER),
        Workload("memory", "agent_step_structured", 60 // scale, n, structured, chain, reply),
        Workload("memory", "durable_step", 1, durable, steps, durable, durable),
        Workload("sqlite", "agent_step", 40 // scale, n, make_chain, chain, ANSWER),
        Workload("sqlite", "durable_step", 1, durable, steps, durable, durable),
    ]


@contextmanager
def applied(patches: list[Patch]) -> Iterator[None]:
    with ExitStack() as stack:
        for patch in patches:
            stack.callback(patch.apply())
        yield


async def _trial(runtime: Runtime, workload: Workload) -> float:
    workflow = workload.make()
    gc.collect()
    started = time.perf_counter()
    for _ in range(workload.runs):
        result = await runtime.run(workflow, workload.input)
        if result.status is not RunStatus.COMPLETED or result.output != workload.expected:
            raise RuntimeError(f"{workload.name}: unexpected result {result}")
    return (time.perf_counter() - started) / (workload.runs * workload.steps_per_run) * 1e6


@dataclass(slots=True)
class Outcome:
    workload: str
    config: str
    samples: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "config": self.config,
            "us_per_step_median": round(statistics.median(self.samples), 2),
            "us_per_step_min": round(min(self.samples), 2),
            "us_per_step_max": round(max(self.samples), 2),
            "median_ratio_to_baseline": round(statistics.median(self.ratios), 4)
            if self.ratios
            else None,
        }


async def compare(trials: int, quick: bool, *, log: bool = True) -> list[Outcome]:
    outcomes: list[Outcome] = []
    skipped = {p.name: why for p in PATCHES if (why := usable(p)) is not None}
    for name, why in skipped.items():
        print(f"  patch {name} skipped: {why}")
    with tempfile.TemporaryDirectory(prefix="podium-whatif-") as tmp:
        for workload in workloads(quick):
            patches = [
                p
                for p in PATCHES
                if (not p.only or workload.name in p.only) and p.name not in skipped
            ]
            configs: list[tuple[str, list[Patch]]] = [("baseline", [])]
            configs += [(p.name, [p]) for p in patches]
            configs.append(("all of the above", patches))
            runtimes: dict[str, Runtime] = {}
            results = {name: Outcome(workload.name, name) for name, _ in configs}
            for index, (name, chosen) in enumerate(configs):
                store, _path = open_store(workload.store, Path(tmp), f"{workload.bench}-{index}")
                runtimes[name] = Runtime(store)
                with applied(chosen):
                    await _trial(runtimes[name], workload)  # warm-up
            for _ in range(trials):
                baseline = 0.0
                for name, chosen in configs:
                    with applied(chosen):
                        value = await _trial(runtimes[name], workload)
                    results[name].samples.append(value)
                    if name == "baseline":
                        baseline = value
                    else:
                        results[name].ratios.append(value / baseline)
            for runtime in runtimes.values():
                await runtime.store.close()
            outcomes.extend(results.values())
            if log:
                base = statistics.median(results["baseline"].samples)
                print(f"  {workload.name}: baseline {base:.1f} µs/step", flush=True)
    return outcomes


def markdown_table(outcomes: list[Outcome]) -> str:
    lines = [
        "| workload | configuration | µs/step median | min | max | vs baseline (paired median) |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for o in outcomes:
        ratio = f"{(statistics.median(o.ratios) - 1):+.1%}" if o.ratios else ""
        lines.append(
            f"| {o.workload} | {o.config} | {statistics.median(o.samples):,.1f} "
            f"| {min(o.samples):,.1f} | {max(o.samples):,.1f} | {ratio} |"
        )
    lines += ["", "| patch | models this change in src/ |", "|---|---|"]
    lines += [f"| {p.name} | {p.fix} |" for p in PATCHES]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Estimate the gains of the suggested fixes.")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--trials", type=int, default=0)
    args = parser.parse_args(argv)
    trials = args.trials or (2 if args.quick else 7)
    outcomes = anyio.run(compare, trials, args.quick)
    print()
    print(markdown_table(outcomes))


if __name__ == "__main__":
    main()
