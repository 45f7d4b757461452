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
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

LATENCY_S = 0.050  # scripted model latency for the "50 ms" workloads
CHAIN = 10  # agents in the W1/W5 sequential chain
TOOL_CALLS = 5  # tool calls per W3 run

WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6", "W7")

# Run counts per workload: (full, smoke).
_SIZES: dict[str, tuple[int, int]] = {
    "w1_warmup": (5, 5),
    "w1_runs": (200, 5),
    "w2_agents": (100, 100),
    "w2_reps": (5, 1),
    "w3_warmup": (5, 5),
    "w3_runs": (200, 5),
    "w4_runs": (1000, 50),
    "w5_runs": (100, 5),
    "w6_runs": (100_000, 1000),
    "w7_runs": (1000, 50),
}


def sizes(smoke: bool) -> dict[str, int]:
    """Run counts of the protocol; keys as in ``_SIZES`` (e.g. ``w1_runs``)."""
    return {k: (v[1] if smoke else v[0]) for k, v in _SIZES.items()}


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
    recovery_timeout_s: float = 240.0,
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
