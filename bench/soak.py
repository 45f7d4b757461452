"""A chaos soak on PostgreSQL (issue 13): workers and foreground runs while the database restarts
and workers die, then a count of everything that must never happen.

For ``--minutes`` (default 10): ``--workers`` `podium worker` processes (default 3) and
``--foreground`` `podium run` processes at a time (default 2) execute runs of
bench/soak_app.py, while this process keeps a few detached runs queued for the workers. Every
5-40 s PostgreSQL is restarted with ``pg_ctlcluster ... restart -m immediate`` (every backend
killed, recovery from the WAL); every 10-60 s a random worker gets ``kill -9`` and a new one
replaces it. Then the chaos stops, the runs left are drained, and the soak reports:

- runs created, completed (and any other final status), foreground exit codes;
- **steps executed twice**: an execution of a step (a ``ctx.step``, a tool call, a model
  request) that started after that step was journaled, or that overlapped another process's
  execution of it — must be 0. (A step cut short by a crash and run again before anything was
  journaled is a crash re-run, counted apart: that is what at-least-once means.)
- **keyed effects duplicated**: runs whose idempotent charge was applied under more than one
  key — must be 0;
- **at_most_once re-runs**: a ``wire`` call started twice for one step — must be 0;
- **audit failures**: runs whose hash chain does not verify — must be 0.

Needs root and ``pg_ctlcluster`` (this machine kind has them). Restarting the server disturbs
every other user of it. Not run in CI::

    python bench/soak.py --db postgresql://postgres@127.0.0.1:5432/test --minutes 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import psycopg
from soak_report import Ledger, analyse

from podium import Runtime
from podium.errors import PodiumError
from podium.runtime import load_target
from podium.store import RunFilter
from podium.store.open import open_store
from podium.types import RunStatus

APP = Path(__file__).resolve().parent / "soak_app.py"
TARGET = f"{APP}:flow"
QUEUED = 6  # detached runs kept pending for the workers


@dataclass
class Chaos:
    """What the soak did, and the processes it runs."""

    db: str
    tmp: Path
    lease: float
    env: dict[str, str]
    stop: threading.Event = field(default_factory=threading.Event)
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    generation: int = 0
    restarts: list[float] = field(default_factory=list)
    kills: dict[int, float] = field(default_factory=dict)  # pid -> when it was killed
    foreground: Counter[int] = field(default_factory=Counter)  # exit codes
    created: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start_worker(self) -> None:
        with self.lock:
            self.generation += 1
            name = f"w{self.generation}"
            log = (self.tmp / f"{name}.log").open("wb")
            command = [sys.executable, "-m", "podium", "--db", self.db, "worker", "--owner", name]
            command += ["--poll", "0.2", "--lease", str(self.lease), "--concurrency", "4"]
            self.workers[name] = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
            log.close()

    def kill_one(self) -> None:
        with self.lock:
            name = random.choice(sorted(self.workers))
            proc = self.workers.pop(name)
        proc.send_signal(signal.SIGKILL)
        self.kills[proc.pid] = time.time()
        proc.wait()
        print(f"  kill -9 {name} (pid {proc.pid})", flush=True)
        self.start_worker()

    def restart_postgres(self) -> None:
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"]
        began = time.time()
        subprocess.run([*command, "-m", "immediate"], check=True, capture_output=True, timeout=120)
        self.restarts.append(began)
        print(f"  PostgreSQL restarted in {time.time() - began:.1f} s", flush=True)


def chaos_loop(chaos: Chaos, restart: tuple[float, float], kill: tuple[float, float]) -> None:
    now = time.monotonic()
    next_restart, next_kill = now + random.uniform(*restart), now + random.uniform(*kill)
    while not chaos.stop.wait(0.2):
        now = time.monotonic()
        if now >= next_restart:
            chaos.restart_postgres()
            next_restart = time.monotonic() + random.uniform(*restart)
        if now >= next_kill:
            chaos.kill_one()
            next_kill = time.monotonic() + random.uniform(*kill)


def foreground_loop(chaos: Chaos, at_once: int) -> None:
    """Keep ``at_once`` `podium run` processes going; count their exit codes."""
    running: list[subprocess.Popen[bytes]] = []
    n = 0
    while not chaos.stop.is_set() or running:
        for proc in [p for p in running if p.poll() is not None]:
            running.remove(proc)
            chaos.foreground[proc.returncode] += 1
        while not chaos.stop.is_set() and len(running) < at_once:
            n += 1
            log = (chaos.tmp / f"fg{n}.log").open("wb")
            command = [sys.executable, "-m", "podium", "--db", chaos.db, "run", TARGET]
            command += ["--input", f"fg{n}", "--lease", str(chaos.lease), "--quiet"]
            running.append(
                subprocess.Popen(command, env=chaos.env, stdout=log, stderr=subprocess.STDOUT)
            )
            log.close()
            with chaos.lock:
                chaos.created += 1
        time.sleep(0.2)


def queue_loop(chaos: Chaos) -> None:
    """Keep a few detached runs pending for the workers (a store error: try again later)."""

    async def go() -> None:
        store = open_store(chaos.db)
        flow = load_target(TARGET)
        n = 0
        async with store:
            runtime = Runtime(store)
            while not chaos.stop.is_set():
                try:
                    queued = await store.list_runs(RunFilter(statuses=(RunStatus.PENDING,)))
                    if len(queued) < QUEUED:
                        n += 1
                        await runtime.start(flow, f"bg{n}", ref=TARGET)
                        with chaos.lock:
                            chaos.created += 1
                        continue
                except PodiumError:
                    await anyio.sleep(1.0)
                await anyio.sleep(0.2)

    anyio.run(go)


def drain(chaos: Chaos, seconds: float) -> bool:
    """Wait until no run is pending or running (the workers finish what is left)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(_base(chaos.db), autocommit=True) as conn:
                conn.execute(f'SET search_path TO "{_schema(chaos.db)}"')
                row = conn.execute(
                    "SELECT count(*) FROM runs WHERE status IN ('pending', 'running')"
                ).fetchone()
            if row is not None and row[0] == 0:
                return True
        except psycopg.Error:
            pass
        time.sleep(1.0)
    return False


def _base(db: str) -> str:
    return db.partition("?")[0]


def _schema(db: str) -> str:
    query = db.partition("?")[2]
    return dict(p.split("=", 1) for p in query.split("&") if p)["schema"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--foreground", type=int, default=2)
    parser.add_argument("--lease", type=float, default=3.0)
    parser.add_argument("--restart", type=float, nargs=2, default=(5.0, 40.0))
    parser.add_argument("--kill", type=float, nargs=2, default=(10.0, 60.0))
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="podium-soak-"))
    schema = f"podium_soak_{uuid.uuid4().hex[:8]}"
    db = f"{args.db}{'&' if '?' in args.db else '?'}schema={schema}"
    env = {
        **os.environ, "SOAK_LEDGER": str(tmp / "ledger.jsonl"),
        "SOAK_EFFECTS": str(tmp / "effects"), "PODIUM_ALLOW_MODEL_REQUESTS": "0",
    }  # fmt: skip
    chaos = Chaos(db=db, tmp=tmp, lease=args.lease, env=env)
    print(f"soak: {args.minutes} min on {schema}, files in {tmp}", flush=True)
    began = time.time()
    for _ in range(args.workers):
        chaos.start_worker()
    threads = [
        threading.Thread(target=chaos_loop, args=(chaos, args.restart, args.kill)),
        threading.Thread(target=foreground_loop, args=(chaos, args.foreground)),
        threading.Thread(target=queue_loop, args=(chaos,)),
    ]
    for thread in threads:
        thread.start()
    time.sleep(args.minutes * 60)
    chaos.stop.set()
    for thread in threads:
        thread.join()
    drained = drain(chaos, 180)
    for proc in chaos.workers.values():
        proc.send_signal(signal.SIGTERM)
    for proc in chaos.workers.values():
        proc.wait(timeout=60)
    ledger = Ledger.load(tmp / "ledger.jsonl", tmp / "effects", chaos.kills)
    report = anyio.run(analyse, db, ledger)
    report.update(
        minutes=round((time.time() - began) / 60, 2), chaos_minutes=args.minutes,
        workers=args.workers, foreground_at_once=args.foreground, lease_seconds=args.lease,
        postgres_restarts=len(chaos.restarts), workers_killed=len(chaos.kills),
        runs_created=chaos.created, drained=drained,
        foreground_exit_codes=dict(sorted(chaos.foreground.items())),
    )  # fmt: skip
    print(json.dumps(report, indent=2))
    (tmp / "report.json").write_text(json.dumps(report, indent=2))
    if not args.keep:
        _drop(db)
    bad = ("steps_executed_twice", "keyed_effects_duplicated", "at_most_once_reruns")
    sys.exit(1 if any(report[k] for k in bad) or report["audit_failures"] else 0)


def _drop(db: str) -> None:
    with psycopg.connect(_base(db), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{_schema(db)}" CASCADE')


if __name__ == "__main__":
    main()
