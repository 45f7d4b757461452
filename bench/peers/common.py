"""Shared helpers for the peer benchmarks (issue 7). Standard library only.

Every ``bench/peers/<name>_impl.py`` runs ONE workload in a fresh process and
prints exactly one ``RESULT {json}`` line as its last stdout line, through
:func:`emit` or :func:`unsupported`. ``bench/compare.py`` collects those lines.

Command line of every impl (see :func:`parse_args`)::

    <python> bench/peers/<name>_impl.py --workload W1 [--smoke] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

LATENCY_S = 0.050  # scripted model latency for the "50 ms" workloads
CHAIN = 10  # agents in the W1/W5 sequential chain
TOOL_CALLS = 5  # tool calls per W3 run

WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6", "W7")

# Run counts per workload: (full, smoke). Upper bounds: the timed loops of W1/W2/W3/W5 are
# time-boxed, W4 shrinks N when 1,000 would take too long, W6 stops at a creation cap (see
# below). W6's full size is 10,000 (projected to 100,000); ``compare.py --w6-runs 100000``
# measures 100,000 directly.
_SIZES: dict[str, tuple[int, int]] = {
    "w1_warmup": (5, 5),
    "w1_runs": (200, 5),
    "w2_agents": (100, 100),
    "w2_reps": (5, 1),
    "w3_warmup": (5, 5),
    "w3_runs": (200, 5),
    "w4_runs": (1000, 50),
    "w5_runs": (100, 5),
    "w6_runs": (10_000, 1000),
    "w7_runs": (1000, 50),
}


def sizes(smoke: bool) -> dict[str, int]:
    """Run counts of the protocol; keys as in ``_SIZES`` (e.g. ``w1_runs``)."""
    out = {k: (v[1] if smoke else v[0]) for k, v in _SIZES.items()}
    if os.environ.get(W6_RUNS_ENV):
        out["w6_runs"] = int(os.environ[W6_RUNS_ENV])
    return out


# -- the time-boxes: the same rule for every framework -----------------------------------------
#
# The full suite must fit in 15 minutes with 3 trials of everything, and the slowest peers take
# 10-100x longer per step than the fastest. So the timed loops of W1, W2, W3 and W5 stop after
# ``max_runs`` runs or, once ``min_runs`` are done, after ``max_seconds`` -- whichever comes
# first; the figures are per step / per call, and the runs made are reported as "runs".

TIME_BOX_S = {"W1": 3.0, "W2": 3.0, "W3": 3.0, "W5": 4.0}
MIN_RUNS = {"W1": 5, "W2": 3, "W3": 5, "W5": 5}
_BOX_SIZE = {"W1": "w1_runs", "W2": "w2_reps", "W3": "w3_runs", "W5": "w5_runs"}


def box(workload: str, smoke: bool) -> dict[str, Any]:
    """Keyword arguments of :func:`timed_runs` for ``workload`` (W1, W2, W3 or W5)."""
    max_runs = sizes(smoke)[_BOX_SIZE[workload]]
    return {
        "max_runs": max_runs,
        "max_seconds": TIME_BOX_S[workload],
        "min_runs": min(MIN_RUNS[workload], max_runs),
    }


def timed_runs(
    run_once: Callable[[], object], *, max_runs: int, max_seconds: float, min_runs: int = 5
) -> tuple[int, float]:
    """Call ``run_once()`` up to ``max_runs`` times, stopping early once ``min_runs`` are done
    and ``max_seconds`` have passed. Returns ``(runs_done, elapsed_seconds)``; a
    ``gc.collect()`` first, as every timed loop does."""
    gc.collect()
    started = time.perf_counter()
    deadline = started + max_seconds
    done = 0
    while done < max_runs:
        run_once()
        done += 1
        if done >= min_runs and time.perf_counter() >= deadline:
            break
    return done, time.perf_counter() - started


async def atimed_runs(
    run_once: Callable[[], Awaitable[object]],
    *,
    max_runs: int,
    max_seconds: float,
    min_runs: int = 5,
) -> tuple[int, float]:
    """:func:`timed_runs` for a coroutine function: ``await run_once()`` each time."""
    gc.collect()
    started = time.perf_counter()
    deadline = started + max_seconds
    done = 0
    while done < max_runs:
        await run_once()
        done += 1
        if done >= min_runs and time.perf_counter() >= deadline:
            break
    return done, time.perf_counter() - started


async def atimed_reps(
    run_once: Callable[[], Awaitable[object]],
    *,
    max_runs: int,
    max_seconds: float,
    min_runs: int = 3,
) -> list[float]:
    """W2's repetitions under the same time-box: the wall time of each ``await run_once()``
    (a ``gc.collect()`` before each, outside the timing)."""
    walls: list[float] = []
    started = time.perf_counter()
    while len(walls) < max_runs:
        gc.collect()
        t0 = time.perf_counter()
        await run_once()
        walls.append(time.perf_counter() - t0)
        if len(walls) >= min_runs and time.perf_counter() - started >= max_seconds:
            break
    return walls


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


# -- W4: how many concurrent runs --------------------------------------------------------------
#
# 1,000 concurrent runs, unless the framework's own probe says they would take longer than
# W4_MAX_S: then the N that fits (at least W4_MIN_RUNS). The probe is W4_PROBE runs at once,
# which is also the warm-up; its CPU time per run (wall minus the ideal 3 x 50 ms) predicts N's
# wall time, since past the model latency the concurrent runs are CPU-bound.

W4_PROBE = 20
W4_MAX_S = 8.0
W4_MIN_RUNS = 50
W4_IDEAL_S = 3 * LATENCY_S


async def w4_fit(run_batch: Callable[[int], Awaitable[object]], smoke: bool) -> tuple[int, str]:
    """Probe with ``await run_batch(W4_PROBE)`` (the warm-up) and return ``(N, note)``: N is
    ``sizes()["w4_runs"]`` or, if that would take more than ``W4_MAX_S``, the N that fits."""
    wanted = sizes(smoke)["w4_runs"]
    started = time.perf_counter()
    await run_batch(min(W4_PROBE, wanted))
    probe = time.perf_counter() - started
    per_run = max(probe - W4_IDEAL_S, 1e-6) / min(W4_PROBE, wanted)
    fits = int((W4_MAX_S - W4_IDEAL_S) / per_run)
    if smoke or fits >= wanted:
        return wanted, ""
    n = max(W4_MIN_RUNS, fits // 10 * 10)
    return n, (
        f"; N={n}, not {wanted}: its {W4_PROBE}-run probe took {probe:.2f} s, so {wanted} "
        f"would take ~{W4_IDEAL_S + wanted * per_run:.0f} s (over the {W4_MAX_S:.0f} s cap)"
    )


# -- W6: runs created, capped; memory per run and a projection to 100,000 --------------------

W6_RUNS_ENV = "BENCH_W6_RUNS"  # set by ``compare.py --w6-runs N``
W6_CAP_ENV = "BENCH_W6_CAP_S"  # ``compare.py --w6-cap S`` ("0": no cap)
W6_CAP_S = {False: 12.0, True: 10.0}
W6_PROJECT_TO = 100_000


def w6_plan(smoke: bool) -> tuple[int, float]:
    """``(runs wanted, creation cap in seconds)``: stop creating runs at the first batch
    boundary after the cap (``inf`` when ``--w6-runs`` asked for a size without ``--w6-cap``)."""
    target = sizes(smoke)["w6_runs"]
    cap = os.environ.get(W6_CAP_ENV)
    if cap is not None:
        seconds = float(cap)
        return target, seconds if seconds > 0 else float("inf")
    if os.environ.get(W6_RUNS_ENV):
        return target, float("inf")
    return target, W6_CAP_S[smoke]


class W6Meter:
    """Drives a W6 creation loop and turns it into figures -- the same rule for everyone::

        meter = common.W6Meter(smoke)
        while k := meter.next_batch(BATCH):
            ...create k suspended runs...
            meter.created(k)
        metrics = meter.metrics(db_mb=...)

    Creation stops at ``runs wanted`` or at the first batch boundary after the cap. RSS is
    sampled after every batch: ``kib_per_run`` is the steady growth per run (from the sample
    nearest 20% of the runs to the last one, so one-time costs such as caches filling and
    the first allocations are left out), ``kib_per_run_avg`` is (peak - before) / runs, and
    ``projected_mb_100k`` = peak + (100,000 - runs) x ``kib_per_run``.
    """

    def __init__(self, smoke: bool) -> None:
        self.target, self.cap = w6_plan(smoke)
        gc.collect()
        self.before = rss_bytes()
        self.samples: list[tuple[int, int]] = [(0, self.before)]
        self.runs = 0
        self.started: float | None = None
        self.create_s = 0.0

    def next_batch(self, batch: int) -> int:
        """How many runs to create next; 0 once the target is reached or the cap has passed."""
        now = time.perf_counter()
        if self.started is None:
            self.started = now
        if self.runs >= self.target or now - self.started >= self.cap:
            return 0
        return min(batch, self.target - self.runs)

    def created(self, k: int) -> None:
        self.runs += k
        self.create_s = time.perf_counter() - (self.started or 0.0)
        self.samples.append((self.runs, rss_bytes()))

    def metrics(self, **extra: float) -> dict[str, float]:
        if self.runs == 0:
            raise RuntimeError("W6: no run was created")
        peak = peak_rss_bytes()
        first = min(self.samples, key=lambda s: abs(s[0] - self.runs * 0.2))
        last = self.samples[-1]
        if last[0] > first[0]:
            kib = max(0, last[1] - first[1]) / (last[0] - first[0]) / 1024
        else:
            kib = max(0, peak - self.before) / self.runs / 1024
        left = max(0, W6_PROJECT_TO - self.runs)
        return {
            "peak_rss_mb": peak / 2**20,
            "rss_before_mb": self.before / 2**20,
            "runs": self.runs,
            "create_s": self.create_s,
            "create_ms_per_run": self.create_s / self.runs * 1000,
            "kib_per_run": kib,
            "kib_per_run_avg": max(0, peak - self.before) / self.runs / 1024,
            "projected_mb_100k": peak / 2**20 + left * kib / 1024,
            **extra,
        }

    def note(self) -> str:
        if self.runs >= self.target:
            return f"; {self.runs:,} runs created in {self.create_s:.1f} s"
        return (
            f"; creation stopped at the {self.cap:.0f} s cap with {self.runs:,} of "
            f"{self.target:,} runs (the same cap for every framework): compare kib_per_run "
            "and projected_mb_100k, not peak_rss_mb"
        )


def _print_result(payload: dict[str, Any]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    print("RESULT " + json.dumps(payload, sort_keys=True), flush=True)


def emit(
    framework: str,
    version: str,
    workload: str,
    metrics: dict[str, Any],
    notes: str = "",
) -> None:
    """Print the successful RESULT line (must be the last stdout line)."""
    _print_result(
        {
            "framework": framework,
            "version": version,
            "workload": workload,
            "ok": True,
            "metrics": metrics,
            "notes": notes,
        }
    )


def unsupported(framework: str, version: str, workload: str, reason: str) -> None:
    """Print a RESULT line saying the framework cannot do this workload."""
    _print_result(
        {
            "framework": framework,
            "version": version,
            "workload": workload,
            "ok": False,
            "unsupported": reason,
        }
    )


def _proc_status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss_bytes() -> int:
    """Current resident set size (VmRSS) of this process, in bytes."""
    return _proc_status_kib("VmRSS") * 1024


def peak_rss_bytes() -> int:
    """Peak resident set size (VmHWM) of this process, in bytes."""
    return _proc_status_kib("VmHWM") * 1024


def reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0); silently ignore failure."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        pass


def parse_args(argv: Sequence[str] | None = None) -> tuple[str, bool, str]:
    """Parse the impl command line; returns ``(workload, smoke, workdir)``.

    ``workdir`` defaults to a fresh temporary directory (created here).
    """
    p = argparse.ArgumentParser()
    p.add_argument("--workload", required=True, choices=WORKLOADS)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--workdir", default=None)
    a = p.parse_args(argv)
    workdir = a.workdir or tempfile.mkdtemp(prefix="peers-")
    os.makedirs(workdir, exist_ok=True)
    return a.workload, a.smoke, workdir


def db_bytes(path: str) -> int:
    """Size of an SQLite database: ``path`` + ``path-wal`` + ``path-shm`` if present."""
    total = 0
    for p in (path, path + "-wal", path + "-shm"):
        with contextlib.suppress(OSError):
            total += os.path.getsize(p)
    return total


class Timer:
    """``with timer() as t: ...`` then ``t.s`` is the elapsed seconds (perf_counter)."""

    def __init__(self) -> None:
        self.start = 0.0
        self.s = 0.0

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.s = time.perf_counter() - self.start


def timer() -> Timer:
    """Context manager timing a block; see :class:`Timer`."""
    return Timer()


# --------------------------------------------------------------------------- W7

W7_RECOVERY_TIMEOUT_S = 90.0  # a recovery slower than this fails the trial


def count_lines(path: str) -> int:
    """Number of non-empty lines in ``path`` (0 if missing)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return sum(1 for line in fh if line.strip())
    except OSError:
        return 0


def mark(path: str, token: str) -> None:
    """Append one line ``token`` to a marker file (O_APPEND: safe across tasks
    and processes for short lines). Use it from step 1 of the W7 chain (child)
    and from the last step (recovery) so the parent can count progress."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (token + "\n").encode())
    finally:
        os.close(fd)


def _wait_started(child: subprocess.Popen[bytes], marker: str, n: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while count_lines(marker) < n:
        if child.poll() is not None:
            raise RuntimeError(
                f"W7 child exited early (rc={child.returncode}) with "
                f"{count_lines(marker)}/{n} started"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"W7: only {count_lines(marker)}/{n} started in time")
        time.sleep(0.02)


def _wait_recovered(
    rec: subprocess.Popen[bytes], done: Callable[[], bool] | None, n: int, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if done is None:
            if rec.poll() is not None:
                if rec.returncode != 0:
                    raise RuntimeError(f"W7 recovery failed (rc={rec.returncode})")
                return
        elif done():
            return
        elif rec.poll() is not None and not done():
            raise RuntimeError(
                f"W7 recovery exited (rc={rec.returncode}) before all {n} runs completed"
            )
        if time.monotonic() > deadline:
            raise RuntimeError("W7 recovery timed out")
        time.sleep(0.01)


def _reap(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    if proc.poll() is None:
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def kill9_harness(
    child_cmd: Sequence[str],
    recovery_cmd: Sequence[str],
    n: int,
    started_marker: str,
    *,
    done_marker: str | None = None,
    done_check: Callable[[], bool] | None = None,
    settle_s: float = 0.2,
    start_timeout_s: float = 240.0,
    recovery_timeout_s: float = W7_RECOVERY_TIMEOUT_S,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Shared W7 machinery: start, kill -9, recover, time.

    1. Launch ``child_cmd`` (a process that starts ``n`` runs of the 3-step
       chain and appends one line to ``started_marker`` -- see :func:`mark` --
       once a run's step 1 is durably journaled; its step 2 then blocks).
    2. Poll until ``started_marker`` has ``n`` lines, wait ``settle_s`` more
       (lets the last checkpoint commit), then ``SIGKILL`` the child.
    3. Launch ``recovery_cmd`` and measure the seconds from launch until the
       recovery is complete: ``done_marker`` has ``n`` lines (written by the
       last step, e.g. with :func:`mark`), else ``done_check()`` returns True,
       else -- if neither is given -- the recovery process exits 0. The
       recovery process is then waited for (killed if still running 30 s
       after completion was detected).

    Returns ``{"resume_s": float, "runs": n, "started": int, "done": int}``.
    Raises ``RuntimeError`` on timeouts or a failing recovery process.
    Child/recovery stdout+stderr go to this process's stderr so the
    RESULT line stays last on stdout.
    """
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    child = subprocess.Popen(list(child_cmd), stdout=sys.stderr, stderr=sys.stderr, env=full_env)
    try:
        _wait_started(child, started_marker, n, start_timeout_s)
        time.sleep(settle_s)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait()
    started = count_lines(started_marker)

    done: Callable[[], bool] | None = done_check
    if done_marker is not None:
        marker = done_marker

        def done() -> bool:
            return count_lines(marker) >= n

    t0 = time.perf_counter()
    rec = subprocess.Popen(list(recovery_cmd), stdout=sys.stderr, stderr=sys.stderr, env=full_env)
    try:
        _wait_recovered(rec, done, n, recovery_timeout_s)
        resume_s = time.perf_counter() - t0
    finally:
        _reap(rec, 30.0)
    finished = count_lines(done_marker) if done_marker else n
    return {"resume_s": resume_s, "runs": n, "started": started, "done": finished}
