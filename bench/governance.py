"""Governance benchmarks (issue 4): many runs suspended on approvals, and approval-to-resume.

    .venv/bin/python bench/governance.py            # full: 100,000 suspended runs, ~4 min
    .venv/bin/python bench/governance.py --quick    # smoke: 200 / 1,000 runs, ~10 s

Every run is ``clerk``: an agent whose scripted model calls ``refund`` (a tool with
``approval=ApprovalRule(role="finance")``) on its first turn, so the run journals an
``approval_requested`` event and suspends; after a decision and a resume the tool runs and
the model's second turn ends the run.

1. **Suspended runs in one SQLite store.** Runs are created in child processes, in stages,
   into one file (1,000, then 10,000, then 100,000 in all). After each stage a *fresh*
   process opens the store as a worker would (``SQLiteStore`` + ``Runtime``, nothing else)
   and, in this order, (a) lists the first 100 inbox items (``Runtime.approvals(limit=100)``),
   (b) decides one approval and resumes that run, (c) scans the whole inbox
   (``approvals(limit=10**9)``, which reads every waiting run's journal). The peak RSS
   (``VmHWM``; see :func:`_rss_mb`) is sampled after each step, so each figure is the peak up
   to that step. The DB file is measured after a ``wal_checkpoint(TRUNCATE)``.
2. **Approval-to-resume latency** on the same (largest) store: from ``Runtime.decide``
   returning to ``Runtime.resume`` returning with the run completed (the tool executed),
   in-process, over ``--latency-runs`` runs after one warm-up; and cross-process: decide in
   this process, then ``podium --db DB resume RUN -q`` in a new one, whose wall time includes
   interpreter start-up and imports (measured alone as ``podium --help``).

The whole run uses a copy of ``src/podium`` taken at start (others commit to ``src/`` while it
runs); ``--no-freeze`` uses the live tree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from harness import REPO_DIR, RESULTS_DIR, checkpoint, environment

from podium import Agent, Runtime, SQLiteStore
from podium.policy import ApprovalRule, Principal
from podium.store import RunFilter
from podium.testing import ScriptedModel, call
from podium.tools import tool
from podium.types import RunStatus

APPROVER = Principal("fin-lead", frozenset({"finance"}))
PODIUM = Path(sys.executable).with_name("podium")
SNAPSHOT_ENV = "PODIUM_BENCH_SNAPSHOT"
WAITING = (RunStatus.SUSPENDED, RunStatus.NEEDS_ATTENTION, RunStatus.RUNNING, RunStatus.PENDING)


@tool(approval=ApprovalRule(role="finance", reason="refunds need finance approval"))
def refund(order_id: str, amount: int) -> dict[str, Any]:
    """Refund an order.

    Args:
        order_id: The order number.
        amount: Amount in cents.
    """
    return {"refunded": order_id, "amount": amount}


# module-level, so a run records ``bench/governance.py:clerk`` and any process can resume it
clerk = Agent(
    name="clerk",
    model=ScriptedModel(
        [call("refund", order_id="A-100", amount=1250), "Refunded A-100."], by_turn=True
    ),
    tools=[refund],
)


def _rss_mb() -> dict[str, float]:
    """Resident set of this process, MB: ``peak`` is ``VmHWM`` (the high-water mark of this
    process image; ``ru_maxrss`` would also count the parent's pages at fork, as exec keeps
    it), ``current`` is ``VmRSS``, and ``ru_maxrss`` is reported as well."""
    fields: dict[str, float] = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                fields[name] = int(value.split()[0]) / 1024
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "peak": round(fields["VmHWM"], 1),
        "current": round(fields["VmRSS"], 1),
        "ru_maxrss": round(maxrss, 1),
    }


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _stats_ms(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {
        "n": len(ms),
        "median": round(statistics.median(ms), 2),
        "p95": round(_pct(ms, 0.95), 2),
        "min": round(min(ms), 2),
        "max": round(max(ms), 2),
    }


# -- children ----------------------------------------------------------------------------------


async def create_child(path: str, count: int, batch: int = 1000) -> dict[str, Any]:
    """Create ``count`` runs of ``clerk``, each suspended on its approval."""
    store = SQLiteStore(path)
    runtime = Runtime(store)
    model = clerk.model
    assert isinstance(model, ScriptedModel)
    rates: list[float] = []
    started = time.perf_counter()
    done = 0
    while done < count:
        size = min(batch, count - done)
        t = time.perf_counter()
        for _ in range(size):
            result = await runtime.run(clerk, "refund order A-100")
            if result.status.value != "suspended":
                raise RuntimeError(f"run {result.run_id} is {result.status.value}, not suspended")
        rates.append((time.perf_counter() - t) / size * 1e6)
        model.requests.clear()  # the scripted model keeps every request it saw
        done += size
    seconds = time.perf_counter() - started
    commits = store.commits
    await store.close()
    return {
        "count": count,
        "seconds": seconds,
        "us_per_run": seconds / count * 1e6,
        "us_per_run_first_batch": rates[0],
        "us_per_run_last_batch": rates[-1],
        "commits_per_run": commits / count,
        "rss_mb": _rss_mb(),
    }


async def worker_child(path: str, scan: bool) -> dict[str, Any]:
    """Open the store as a fresh worker: list 100, decide + resume one, scan the whole inbox."""
    out: dict[str, Any] = {"rss_after_imports": _rss_mb()}
    store = SQLiteStore(path)
    runtime = Runtime(store)
    out["rss_after_open"] = _rss_mb()

    t = time.perf_counter()
    first = await runtime.approvals(limit=100)
    out["list100_s"] = time.perf_counter() - t
    out["list100_items"] = len(first)
    out["rss_after_list100"] = _rss_mb()
    # is the first item the oldest pending run in the store ("oldest run first")?
    oldest = await _oldest_suspended(path)
    out["list100_first_is_oldest"] = bool(first) and first[0].run_id == oldest
    t = time.perf_counter()  # the index query alone (the inbox's first step), now warm
    await store.list_runs(RunFilter(statuses=WAITING, limit=100))
    out["list_runs100_s"] = time.perf_counter() - t

    target = first[-1]
    t = time.perf_counter()
    await runtime.decide(target.approval_id, "approve", by=APPROVER, digest=target.request.digest)
    out["decide_s"] = time.perf_counter() - t
    t = time.perf_counter()
    result = await runtime.resume(target.run_id)  # loads bench/governance.py:clerk
    out["resume_s"] = time.perf_counter() - t
    if result.status.value != "completed" or result.tool_calls != 1:
        raise RuntimeError(f"resumed run is {result.status.value}: {result.error}")
    out["rss_after_resume_one"] = _rss_mb()

    if scan:
        t = time.perf_counter()
        everything = await runtime.approvals(limit=10**9)
        out["scan_s"] = time.perf_counter() - t
        out["scan_items"] = len(everything)
        out["rss_after_scan"] = _rss_mb()
        del everything
    await store.close()
    return out


async def _oldest_suspended(path: str) -> str:
    def query() -> str:
        with sqlite3.connect(path) as conn:
            row = conn.execute(
                "SELECT run_id FROM runs WHERE status='suspended' "
                "ORDER BY created_at, run_id LIMIT 1"
            ).fetchone()
        return str(row[0]) if row else ""

    return await anyio.to_thread.run_sync(query)


async def latency_child(path: str, runs: int) -> dict[str, Any]:
    """In-process: decide, then resume; time from decide returning to the run completed."""
    store = SQLiteStore(path)
    runtime = Runtime(store)
    inbox = await runtime.approvals(limit=runs + 1)
    if len(inbox) < runs + 1:
        raise RuntimeError(f"only {len(inbox)} pending approvals for {runs} + 1 runs")
    decide_s: list[float] = []
    resume_s: list[float] = []
    for i, item in enumerate(inbox):
        t0 = time.perf_counter()
        await runtime.decide(item.approval_id, "approve", by=APPROVER)
        t1 = time.perf_counter()
        result = await runtime.resume(item.run_id)
        t2 = time.perf_counter()
        if result.status.value != "completed" or result.tool_calls != 1:
            raise RuntimeError(f"run {item.run_id} is {result.status.value}: {result.error}")
        if i > 0:  # the first one imports the workflow's file
            decide_s.append(t1 - t0)
            resume_s.append(t2 - t1)
    commits = store.commits
    await store.close()
    return {
        "decide": _stats_ms(decide_s),
        "resume": _stats_ms(resume_s),
        "commits_per_decide_and_resume": commits / len(inbox),
        "rss_mb": _rss_mb(),
    }


def _child(mode: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, f"--{mode}", *args],
        capture_output=True, text=True, cwd=REPO_DIR, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{mode} child failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


# -- cross-process -----------------------------------------------------------------------------


def cross_process(path: Path, runs: int) -> dict[str, Any]:
    """Decide here, ``podium resume`` in a new process; its start-up measured alone."""
    env = {**os.environ, "PODIUM_DB": str(path)}
    startup: list[float] = []
    for _ in range(max(5, runs // 5)):
        t = time.perf_counter()
        subprocess.run([str(PODIUM), "--help"], capture_output=True, check=True, env=env)
        startup.append(time.perf_counter() - t)

    async def inbox() -> list[Any]:
        store = SQLiteStore(path)
        try:
            return await Runtime(store).approvals(limit=runs)
        finally:
            await store.close()

    async def decide(approval: str) -> float:
        store = SQLiteStore(path)
        try:
            t = time.perf_counter()
            await Runtime(store).decide(approval, "approve", by=APPROVER)
            return time.perf_counter() - t
        finally:
            await store.close()

    items = anyio.run(inbox)
    if len(items) < runs:
        raise RuntimeError(f"only {len(items)} pending approvals for {runs} runs")
    decide_s: list[float] = []
    total: list[float] = []
    for item in items:
        decide_s.append(anyio.run(decide, item.approval_id))
        t = time.perf_counter()
        done = subprocess.run(
            [str(PODIUM), "--db", str(path), "resume", item.run_id, "-q"],
            capture_output=True, text=True, cwd=REPO_DIR, env=env, check=False,
        )  # fmt: skip
        total.append(time.perf_counter() - t)
        if done.returncode != 0:
            raise RuntimeError(
                f"podium resume {item.run_id}: exit {done.returncode}\n{done.stderr}"
            )
    median_startup = statistics.median(startup)
    return {
        "decide": _stats_ms(decide_s),
        "podium_resume_wall": _stats_ms(total),
        "podium_help_wall": _stats_ms(startup),
        "resume_minus_startup_median_ms": round(
            (statistics.median(total) - median_startup) * 1000, 2
        ),
    }


# -- orchestration -----------------------------------------------------------------------------


def db_facts(path: Path, runs: int) -> dict[str, Any]:
    checkpoint(path)
    with sqlite3.connect(path) as conn:
        events, body = conn.execute(
            "SELECT count(*), coalesce(sum(length(CAST(body AS BLOB))), 0) FROM events"
        ).fetchone()
        statuses = dict(conn.execute("SELECT status, count(*) FROM runs GROUP BY status"))
        plan = [
            str(row[-1])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM runs WHERE status IN (?, ?, ?, ?) "
                "ORDER BY created_at DESC, run_id DESC LIMIT 100",
                tuple(s.value for s in WAITING),
            )
        ]
    size = path.stat().st_size
    return {
        "runs": runs,
        "statuses": statuses,
        "file_bytes": size,
        "file_bytes_per_run": size / runs,
        "events_per_run": events / runs,
        "journal_body_bytes_per_run": body / runs,
        "inbox_query_plan": plan,
    }


def _freeze_source() -> None:
    """Re-run this script on a copy of ``src/podium`` taken now (``PYTHONPATH``), so every
    process of the run (children and ``podium resume``) uses the same code while others edit
    the tree. ``main`` removes the copy at the end."""
    if os.environ.get(SNAPSHOT_ENV) or "--no-freeze" in sys.argv:
        return
    snap = Path(tempfile.mkdtemp(prefix="podium-src-"))
    shutil.copytree(REPO_DIR / "src" / "podium", snap / "podium",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    env = {**os.environ, SNAPSHOT_ENV: str(snap)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(snap), env.get("PYTHONPATH")]))
    os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], env)


def _snapshot_facts() -> dict[str, Any]:
    snap = os.environ.get(SNAPSHOT_ENV)
    if not snap:
        return {"frozen": False}
    import podium

    digest = hashlib.sha256()
    for file in sorted(Path(snap).rglob("*")):
        if file.is_file() and "__pycache__" not in file.parts:
            digest.update(file.relative_to(snap).as_posix().encode() + file.read_bytes())
    return {"frozen": True, "podium_imported_from": str(Path(podium.__file__).parent),
            "sha256": digest.hexdigest()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", help="comma-separated cumulative run counts")
    parser.add_argument("--latency-runs", type=int)
    parser.add_argument("--cli-runs", type=int)
    parser.add_argument("--no-scan", action="store_true", help="skip the whole-inbox scans")
    parser.add_argument("--dir", help="put the temporary database under this directory")
    parser.add_argument("--no-freeze", action="store_true", help="use src/ live, no copy")
    parser.add_argument("--create", nargs=2, metavar=("DB", "COUNT"), help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=2, metavar=("DB", "SCAN"), help=argparse.SUPPRESS)
    parser.add_argument("--latency", nargs=2, metavar=("DB", "RUNS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.create:
        print(json.dumps(anyio.run(create_child, args.create[0], int(args.create[1]))))
        return
    if args.worker:
        print(json.dumps(anyio.run(worker_child, args.worker[0], args.worker[1] == "1")))
        return
    if args.latency:
        print(json.dumps(anyio.run(latency_child, args.latency[0], int(args.latency[1]))))
        return

    _freeze_source()
    try:
        measure(args)
    finally:
        if os.environ.get(SNAPSHOT_ENV):
            shutil.rmtree(os.environ[SNAPSHOT_ENV], ignore_errors=True)


def measure(args: argparse.Namespace) -> None:
    default_sizes = "200,1000" if args.quick else "1000,10000,100000"
    sizes = [int(s) for s in (args.sizes or default_sizes).split(",")]
    latency_runs = args.latency_runs or (20 if args.quick else 100)
    cli_runs = args.cli_runs or (5 if args.quick else 50)
    report: dict[str, Any] = {"environment": environment(), "source": _snapshot_facts()}
    report["stages"] = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        db = Path(tmp) / "governance.db"
        created = 0
        for size in sizes:
            print(f"creating {size - created:,} suspended runs ({size:,} in all) ...", flush=True)
            made = _child("create", str(db), str(size - created))
            created = size
            facts = db_facts(db, size)
            print(f"  {made['us_per_run']:.0f} µs/run; worker ...", flush=True)
            worker = _child("worker", str(db), "0" if args.no_scan else "1")
            report["stages"].append({"size": size, "create": made, "db": facts, "worker": worker})
        print(f"latency: {latency_runs} in-process, {cli_runs} cross-process ...", flush=True)
        report["latency_in_process"] = _child("latency", str(db), str(latency_runs))
        report["latency_cross_process"] = cross_process(db, cli_runs)
    report["total_runs"] = created
    print()
    print(markdown(report))
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = RESULTS_DIR / f"{stamp}-governance-{'quick' if args.quick else 'full'}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nfigures: {out.relative_to(REPO_DIR)}")


def markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    git = env["git"]
    lines = [
        f"{env['timestamp_utc']}, commit `{git['commit'][:7]}`"
        f"{' (src/ dirty)' if git.get('src_dirty') else ''}, Python {env['python']}, "
        f"SQLite {env['sqlite']}, {env['cpu_count']} CPUs, load "
        f"{env['loadavg_1_5_15'][0]}; source "
        + (
            f"frozen copy sha256 `{report['source']['sha256'][:12]}`"
            if report["source"]["frozen"]
            else "live `src/` (not frozen)"
        ),
        "",
        "| suspended runs | create µs/run | DB B/run | events/run | journal B/run "
        "| worker RSS open | + list 100 | + decide & resume 1 | list 100 (index query) "
        "| decide | resume "
        "| scan all | RSS after scan |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for stage in report["stages"]:
        c, d, w = stage["create"], stage["db"], stage["worker"]
        scan = f"{w['scan_s']:.1f} s ({w['scan_items']:,} items)" if "scan_s" in w else "–"
        after = "–"
        if "rss_after_scan" in w:
            grown = w["rss_after_scan"]["peak"] - w["rss_after_resume_one"]["peak"]
            per_item = grown * 2**20 / max(1, w["scan_items"])
            after = f"{w['rss_after_scan']['peak']:.1f} MB (+{per_item:,.0f} B/item)"
        lines.append(
            f"| {stage['size']:,} | {c['us_per_run']:,.0f} | {d['file_bytes_per_run']:,.0f} "
            f"| {d['events_per_run']:.1f} | {d['journal_body_bytes_per_run']:,.0f} "
            f"| {w['rss_after_open']['peak']:.1f} MB | {w['rss_after_list100']['peak']:.1f} MB "
            f"| {w['rss_after_resume_one']['peak']:.1f} MB | {w['list100_s'] * 1000:.1f} ms "
            f"({w['list_runs100_s'] * 1000:.1f} ms) "
            f"| {w['decide_s'] * 1000:.1f} ms | {w['resume_s'] * 1000:.1f} ms | {scan} | {after} |"
        )
    last = report["stages"][-1]
    lines += [
        "",
        f"Inbox query plan: {'; '.join(last['db']['inbox_query_plan'])}. "
        f"First item of `approvals(limit=100)` is the oldest pending run: "
        f"{last['worker']['list100_first_is_oldest']}.",
        "",
    ]
    inproc, cross = report["latency_in_process"], report["latency_cross_process"]
    lines += [
        "| approval → completed | n | median | p95 | min | max |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for label, s in (
        ("in-process `decide` itself", inproc["decide"]),
        ("in-process: `decide` returned → `resume` completed", inproc["resume"]),
        ("cross-process: `podium resume` wall (new process)", cross["podium_resume_wall"]),
        ("cross-process: `podium --help` wall (start-up alone)", cross["podium_help_wall"]),
    ):
        lines.append(
            f"| {label} | {s['n']} | {s['median']:.1f} ms | {s['p95']:.1f} ms "
            f"| {s['min']:.1f} ms | {s['max']:.1f} ms |"
        )
    lines.append(
        f"\n`podium resume` minus start-up (median): {cross['resume_minus_startup_median_ms']:.1f} "
        f"ms; commits per decide + resume: {inproc['commits_per_decide_and_resume']:.2f}."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
