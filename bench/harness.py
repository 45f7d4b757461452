"""Shared helpers for the benchmarks: summaries, environment facts, SQLite inspection.

Nothing here is timed. The benchmarks import it as a sibling module (``python bench/x.py``).
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"


@dataclass(frozen=True, slots=True)
class Summary:
    """Median and spread of one figure over the trials (warm-up excluded)."""

    median: float
    min: float
    max: float
    mean: float
    stdev: float
    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: list[float]) -> Summary:
        if not samples:
            raise ValueError("no samples")
        return cls(
            median=statistics.median(samples),
            min=min(samples),
            max=max(samples),
            mean=statistics.fmean(samples),
            stdev=statistics.stdev(samples) if len(samples) > 1 else 0.0,
            samples=tuple(samples),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "median": round(self.median, 3),
            "min": round(self.min, 3),
            "max": round(self.max, 3),
            "mean": round(self.mean, 3),
            "stdev": round(self.stdev, 3),
            "samples": [round(s, 3) for s in self.samples],
        }


def environment() -> dict[str, Any]:
    """What the figures depend on: interpreter, library versions, machine, source revision."""
    versions = {}
    for dist in ("podium", "pydantic", "pydantic_core", "anyio"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "timestamp_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "loadavg_1_5_15": [round(x, 2) for x in load],
        "sqlite": sqlite3.sqlite_version,
        "calibration": calibration(),
        "versions": versions,
        "git": _git_revision(),
    }


def calibration() -> dict[str, float]:
    """Machine speed on two fixed snippets, to compare figures taken on other machines."""
    import asyncio
    import timeit

    loop_us = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6

    async def passes(n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            await asyncio.sleep(0)
        return (time.perf_counter() - started) / n * 1e6

    pass_us = min(asyncio.run(passes(20000)) for _ in range(3))
    return {"sum_range_1000_us": round(loop_us, 3), "asyncio_loop_pass_us": round(pass_us, 3)}


def _git_revision() -> dict[str, Any]:
    """The commit and whether ``src/`` differs from it (others edit it concurrently)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=REPO_DIR, capture_output=True, text=True, check=False, timeout=10
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--", "src")
    except (OSError, subprocess.SubprocessError):
        return {"commit": "", "src_dirty": None}
    return {"commit": commit, "src_dirty": bool(dirty), "src_changes": dirty.splitlines()}


# -- SQLite inspection (a second, read-mostly connection; the store's own is never touched) ----


@contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        yield conn


def checkpoint(path: Path) -> None:
    """Fold the WAL into the main file and truncate the WAL to zero bytes."""
    with _connect(path) as conn:
        busy, _log, _checkpointed = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        raise RuntimeError(f"{path}: checkpoint was blocked by a reader")


def wal_frames(path: Path) -> int:
    """Frames in the WAL file (header 32 bytes, each frame a 24-byte header and a page).

    Exact only if no checkpoint restarted the WAL since it was truncated (keep batches under
    the 1,000-page autocheckpoint).
    """
    wal = path.with_name(path.name + "-wal")
    size = file_size(wal)
    return 0 if size <= 32 else (size - 32) // (page_size(path) + 24)


def page_size(path: Path) -> int:
    with _connect(path) as conn:
        (size,) = conn.execute("PRAGMA page_size").fetchone()
    return int(size)


def journal_bytes(path: Path, run_ids: list[str]) -> tuple[int, int]:
    """(events, bytes of their ``body``) for the given runs, from the ``events`` table."""
    sql = (
        "SELECT count(*), coalesce(sum(length(CAST(body AS BLOB))), 0) FROM events "
        "WHERE run_id IN (SELECT value FROM json_each(?))"
    )
    with _connect(path) as conn:
        count, size = conn.execute(sql, (json.dumps(run_ids),)).fetchone()
    return int(count), int(size)


def file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0
