"""Where an agent step's time goes: cProfile over the memory-store agent chain.

The chain is the one of ``step_overhead.py`` (10 agents, 0 ms scripted models, MemoryStore).
cProfile slows cheap Python calls more than C calls, so read the *shares*; the "≈ µs/step"
column scales each share to an unprofiled measurement taken in the same process.

Costs are grouped into disjoint buckets by the function that starts them (cumulative time of
that function; the buckets never nest in each other on this path), the rest is "other". The
top functions by self time follow. With ``--pyinstrument`` (if it is installed) a sampled
call tree is printed as well.

    python bench/profile_steps.py [--quick] [--runs N] [--pyinstrument]
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import importlib.util
import pstats
import re
import time
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import anyio
from step_overhead import ANSWER, CHAIN_INPUT, CHAIN_LENGTH, REPLY, make_chain

from podium import MemoryStore, Runtime

_LOOP = "asyncio loop passes: _run_once, select, call_soon, resuming the suspended coroutines"
_TO_JSONABLE = "<built-in method pydantic_core._pydantic_core.to_jsonable_python>"

# (bucket, filename suffix, function name): the cumulative time of these functions. None of
# them calls another on this path, so the buckets are disjoint.
BUCKETS: tuple[tuple[str, str, str], ...] = (
    ("event encode: events.encode (pydantic dump_json)", "podium/events.py", "encode"),
    ("event decode on resume: events.decode", "podium/events.py", "decode"),
    ("ModelRequest.digest (dump_json + sha256)", "podium/messages.py", "digest"),
    ("agent output: _Output() (TypeAdapter + json_schema)", "runtime/agent_loop.py", "__init__"),
    ("agent output: _Output.parse (validate_json)", "runtime/agent_loop.py", "parse"),
    ("agent input: _render (to_jsonable + json.dumps)", "runtime/agent_loop.py", "_render"),
    ("store index fold (dataclasses.replace of RunRecord)", "podium/store/index.py", "fold"),
    ("ReplayState.apply", "podium/runtime/state.py", "apply"),
    ("journal lock: anyio.Lock acquire", "anyio/_core/_synchronization.py", "__aenter__"),
    ("journal lock: anyio.Lock release", "anyio/_core/_synchronization.py", "__aexit__"),
    ("MemoryStore.append checkpoint (a loop pass)", "anyio/lowlevel.py", "checkpoint"),
    ("scripted model (0 ms)", "podium/testing/models.py", "request"),
    ("as_node (runtime_checkable Protocol isinstance)", "podium/runtime/nodes.py", "as_node"),
    ("to_jsonable_python (node outputs)", "~", _TO_JSONABLE),
    (_LOOP, "asyncio/base_events.py", "_run_once"),
)


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    share: float  # of the profiled total
    profiled_us_per_step: float
    us_per_step: float  # share x the unprofiled µs/step


@dataclass(frozen=True, slots=True)
class Hotspot:
    function: str
    calls_per_step: float
    self_share: float
    cumulative_share: float


@dataclass(frozen=True, slots=True)
class ProfileResult:
    runs: int
    steps: int
    unprofiled_us_per_step: float
    profiled_us_per_step: float
    buckets: tuple[Bucket, ...]
    top: tuple[Hotspot, ...]
    structured: bool = False

    @property
    def workload(self) -> str:
        kind = "structured-output agent chain" if self.structured else "agent chain"
        return f"MemoryStore {kind} ({CHAIN_LENGTH} agents, 0 ms scripted models)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "runs": self.runs,
            "steps": self.steps,
            "unprofiled_us_per_step": round(self.unprofiled_us_per_step, 2),
            "profiled_us_per_step": round(self.profiled_us_per_step, 2),
            "buckets": [
                {
                    "name": b.name,
                    "share": round(b.share, 4),
                    "profiled_us_per_step": round(b.profiled_us_per_step, 2),
                    "us_per_step": round(b.us_per_step, 2),
                }
                for b in self.buckets
            ],
            "top_self_time": [
                {
                    "function": h.function,
                    "calls_per_step": round(h.calls_per_step, 2),
                    "self_share": round(h.self_share, 4),
                    "cumulative_share": round(h.cumulative_share, 4),
                }
                for h in self.top
            ],
        }


async def _runs(runtime: Runtime, n: int, structured: bool = False) -> float:
    chain = make_chain(structured=structured)
    expected = REPLY.model_dump(mode="json") if structured else ANSWER
    started = time.perf_counter()
    for _ in range(n):
        result = await runtime.run(chain, CHAIN_INPUT)
        if result.output != expected:
            raise RuntimeError(f"unexpected result {result}")
    return time.perf_counter() - started


async def profile_memory_chain(
    runs: int = 300, warmup: int = 30, top: int = 20, *, structured: bool = False
) -> ProfileResult:
    runtime = Runtime(MemoryStore())
    await _runs(runtime, warmup, structured)
    unprofiled = min([await _runs(runtime, runs, structured) for _ in range(3)])
    profiler = cProfile.Profile()
    profiler.enable()
    profiled = await _runs(runtime, runs, structured)
    profiler.disable()
    steps = runs * CHAIN_LENGTH
    result = _analyse(profiler, steps, runs, unprofiled / steps * 1e6, profiled / steps * 1e6, top)
    return replace(result, structured=structured)


def _label(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    for pattern in (r".*/site-packages/", r".*/src/", r".*/lib/python3\.\d+/"):
        shortened = re.sub(pattern, "", filename, count=1)
        if shortened != filename:
            filename = shortened
            break
    return f"{filename}:{line}({name})"


def _loop_pass_time(filename: str, func: str, tt: float, ct: float) -> float:
    """The rest of a loop pass: polling, scheduling, and resuming the suspended stack."""
    if func == "select" and filename.endswith("selectors.py"):
        return ct
    if func == "call_soon" and filename.endswith("asyncio/base_events.py"):
        return ct
    if func == "<method 'run' of '_contextvars.Context' objects>":
        return tt  # its own time is the C-level send() through the awaiting coroutines
    return 0.0


_DATACLASS_BUCKET = "frozen dataclass __init__ (events, StoredEvent, messages, _Pending)"
# dataclass construction already inside another bucket: fold, ReplayState.apply, the model
_COUNTED_IN = frozenset({"replace", "__add__", "_to_response"})


def _is_generated_init(code: Any) -> bool:
    return (
        not isinstance(code, str) and code.co_filename == "<string>" and code.co_name == "__init__"
    )


def _dataclass_init_time(profiler: cProfile.Profile) -> float:
    """Generated ``__init__`` of dataclasses (from the raw entries: pstats merges them all
    into one ``<string>:2(__init__)`` row), except where another bucket already counts it."""
    entries = profiler.getstats()
    spent = sum(e.totaltime for e in entries if _is_generated_init(e.code))
    for entry in entries:
        if not isinstance(entry.code, str) and entry.code.co_name in _COUNTED_IN:
            spent -= sum(c.totaltime for c in entry.calls or () if _is_generated_init(c.code))
    return spent


def _total_time(profiler: cProfile.Profile) -> float:
    return sum(entry.inlinetime for entry in profiler.getstats())


def _analyse(
    profiler: cProfile.Profile,
    steps: int,
    runs: int,
    unprofiled_us: float,
    profiled_us: float,
    top: int,
) -> ProfileResult:
    stats: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = _total_time(profiler)
    buckets: list[Bucket] = []
    covered = 0.0
    for name, suffix, function in BUCKETS:
        spent = 0.0
        for (filename, _line, func), (_cc, _nc, tt, ct, _callers) in stats.items():
            if func == function and filename.endswith(suffix):
                # the loop's own work only: the callbacks it runs are the rest of the profile
                spent += tt if function == "_run_once" else ct
            elif function == "_run_once":
                spent += _loop_pass_time(filename, func, tt, ct)
        covered += spent
        share = spent / total if total else 0.0
        buckets.append(Bucket(name, share, spent / steps * 1e6, share * unprofiled_us))
    spent = _dataclass_init_time(profiler)
    covered += spent
    share = spent / total if total else 0.0
    buckets.append(Bucket(_DATACLASS_BUCKET, share, spent / steps * 1e6, share * unprofiled_us))
    rest = max(total - covered, 0.0)
    buckets.append(
        Bucket(
            "other: coroutine frames and suspensions, runtime glue",
            rest / total,
            rest / steps * 1e6,
            rest / total * unprofiled_us,
        )
    )
    ranked = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    hotspots = tuple(
        Hotspot(_label(func), nc / steps, tt / total, ct / total)
        for func, (_cc, nc, tt, ct, _callers) in ranked
    )
    return ProfileResult(
        runs=runs,
        steps=steps,
        unprofiled_us_per_step=unprofiled_us,
        profiled_us_per_step=profiled_us,
        buckets=tuple(sorted(buckets, key=lambda b: b.share, reverse=True)),
        top=hotspots,
    )


def markdown(result: ProfileResult) -> str:
    lines = [
        f"cProfile, {result.workload}: {result.runs} runs x {CHAIN_LENGTH} steps; "
        f"unprofiled {result.unprofiled_us_per_step:.1f} µs/step, "
        f"profiled {result.profiled_us_per_step:.1f} µs/step",
        "",
        "| cost | share | ≈ µs/step (unprofiled) |",
        "|---|--:|--:|",
    ]
    lines += [f"| {b.name} | {b.share:.1%} | {b.us_per_step:.1f} |" for b in result.buckets]
    lines += [
        "",
        "| function (top self time) | calls/step | self share | cumulative share |",
        "|---|--:|--:|--:|",
    ]
    lines += [
        f"| `{h.function}` | {h.calls_per_step:.2f} | {h.self_share:.1%} "
        f"| {h.cumulative_share:.1%} |"
        for h in result.top
    ]
    return "\n".join(lines)


async def _pyinstrument_tree(runs: int, structured: bool) -> str:
    """A sampled call tree of the same workload (needs ``pip install pyinstrument``)."""
    profiler_cls: Any = importlib.import_module("pyinstrument").Profiler
    runtime = Runtime(MemoryStore())
    await _runs(runtime, 20, structured)
    profiler = profiler_cls(interval=0.0002, async_mode="disabled")
    profiler.start()
    await _runs(runtime, runs, structured)
    profiler.stop()
    return str(profiler.output_text(unicode=True, color=False, time="percent_of_total"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Profile the memory-store agent chain.")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=0)
    parser.add_argument("--structured", action="store_true", help="agents with output_type")
    parser.add_argument("--pyinstrument", action="store_true", help="also print a sampled tree")
    args = parser.parse_args(argv)
    runs = args.runs or (20 if args.quick else 300)
    result = anyio.run(
        partial(profile_memory_chain, runs, 5 if args.quick else 30, structured=args.structured)
    )
    print(markdown(result))
    if args.pyinstrument:
        if importlib.util.find_spec("pyinstrument") is None:
            print("\npyinstrument is not installed: .venv/bin/pip install pyinstrument")
        else:
            print()
            print(anyio.run(_pyinstrument_tree, runs, args.structured))


if __name__ == "__main__":
    main()
