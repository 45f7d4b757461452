"""Real `podium worker` processes on the real PostgreSQL (127.0.0.1:5432): three workers drain
200 runs with one owner at a time, kill -9 and SIGSTOP past the lease, a PostgreSQL restart in
the middle of a 100-run load, SIGTERM hand-off. Each test works in a schema of its own.

These fail, not skip, under CI=true when PostgreSQL is unreachable (see conftest.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fleet import Fleet, assert_one_owner_at_a_time

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals"),
]


@pytest.fixture
def fleet(postgres_url: str, tmp_path: Path) -> Iterator[Fleet]:
    schema = f"podium_fleet_{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in postgres_url else "?"
    fleet = Fleet(tmp_path, db=f"{postgres_url}{sep}schema={schema}")
    try:
        yield fleet
    finally:
        fleet.stop_all()
        if can_restart and subprocess.run(["pg_lsclusters", "-h"], capture_output=True,
                                          text=True).stdout.count("online") == 0:  # fmt: skip
            _pg_ctl("start")  # whatever happened in a restart test, leave the server running
        _up(postgres_url)
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _up(url: str, timeout: float = 60) -> None:
    """Wait until PostgreSQL accepts connections (after a restart)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _executions(fleet: Fleet, run_ids: list[str]) -> Counter[str]:
    """How many runs each worker started (its execution_started events)."""
    owners: Counter[str] = Counter()
    for run_id in run_ids:
        for _, owner in fleet.started_by(run_id):
            owners[owner] += 1
    return owners


def test_three_workers_drain_200_runs_one_owner_at_a_time(fleet: Fleet) -> None:
    fleet.base_env["WORKER_OWNERS"] = str(fleet.tmp / "owners")
    run_ids = fleet.create(200)
    began = time.monotonic()
    workers = [fleet.start(f"w{i}", "--until-idle", "--lease", "10") for i in range(3)]
    for proc in workers:
        assert proc.wait(timeout=110) == 0
    elapsed = time.monotonic() - began
    logs = "\n".join(fleet.log(f"w{i}") for i in range(3))
    statuses = fleet.statuses()
    assert [r for r in run_ids if statuses[r] != "completed"] == [], logs
    for run_id in run_ids:
        assert len(fleet.started_by(run_id)) == 1, run_id  # executed once, by one worker
    ledger = fleet.ledger()
    assert [r for r in ledger if r["kind"] == "overlap"] == []  # counted inside the tool
    assert_one_owner_at_a_time(ledger)
    assert sum(r["kind"] == "work" for r in ledger) == 400  # two `work` calls per run
    charges = [r for r in ledger if r["kind"] == "charge"]
    assert len(charges) == 200
    assert all(r["applied"] for r in charges)
    assert len(os.listdir(fleet.effects)) == 200
    per_worker = _executions(fleet, run_ids)
    assert sum(per_worker.values()) == 200
    assert len(per_worker) == 3, per_worker  # all three took part
    print(f"200 runs by 3 workers in {elapsed:.1f} s; runs per worker: {dict(per_worker)}")


def test_kill_9_mid_run_another_worker_takes_over_after_the_lease(fleet: Fleet) -> None:
    (run_id,) = fleet.create(1)
    lease = 2.0
    victim = fleet.start_ready("victim", "--lease", str(lease), charge=30)
    fleet.wait(
        lambda: any(r["kind"] == "charge" for r in fleet.ledger()), why="the victim's charge"
    )
    rescuer = fleet.start_ready("rescuer", "--lease", str(lease))
    assert [o for _, o in fleet.started_by(run_id)] == ["victim"]  # still leased
    victim.send_signal(signal.SIGKILL)
    killed_at = time.time()
    victim.wait()
    fleet.wait(lambda: fleet.status(run_id) == "completed", why="the rescuer to finish")
    started = fleet.started_by(run_id)
    assert [owner for _, owner in started] == ["victim", "rescuer"]
    takeover = started[1][0] - killed_at
    assert takeover <= lease + 2.0  # at most one lease after the kill, plus a poll
    charges = [r for r in fleet.ledger() if r["kind"] == "charge"]
    assert [r["applied"] for r in charges] == [True, False]  # repeated, deduplicated by key
    assert len({r["key"] for r in charges}) == 1
    assert len(os.listdir(fleet.effects)) == 1
    assert rescuer.poll() is None
    print(f"takeover {takeover:.2f} s after kill -9 (lease {lease} s)")


def test_a_paused_worker_writes_nothing_after_the_takeover(fleet: Fleet) -> None:
    (run_id,) = fleet.create(1)
    sleeper = fleet.start_ready("sleeper", "--lease", "1", step=2.0)
    fleet.wait(lambda: any(r["kind"] == "enter" for r in fleet.ledger()), why="a step")
    sleeper.send_signal(signal.SIGSTOP)  # paused mid-step, holding a 1 s lease
    fleet.start("taker", "--lease", "5", step=1.5)
    fleet.wait(lambda: len(fleet.started_by(run_id)) == 2, why="the takeover")
    taken_at = len(fleet.journal(run_id))
    sleeper.send_signal(signal.SIGCONT)  # its step ends; it tries to commit the result
    fleet.wait(lambda: "lease lost" in fleet.log("sleeper"), why="the sleeper to notice")
    fleet.wait(lambda: fleet.status(run_id) == "completed", why="the taker to finish")
    journal = [event for _, event in fleet.journal(run_id)]
    starts = [i for i, e in enumerate(journal) if e["type"] == "execution_started"]
    assert [journal[i]["owner"] for i in starts] == ["sleeper", "taker"]
    assert starts[1] == taken_at - 1
    taker_pid, sleeper_pid = fleet.procs["taker"].pid, sleeper.pid
    after = [e for e in journal[starts[1] :] if e["type"] == "tool_call_completed"]
    assert after
    assert all(e["result"].endswith(f"in {taker_pid}") for e in after), after
    results = [e["result"] for e in journal if e["type"] == "tool_call_completed"]
    assert not any(r.endswith(f"in {sleeper_pid}") for r in results)  # zero writes by it
    keys = [e["key"] for e in journal if e["type"] == "tool_call_completed"]
    assert len(keys) == len(set(keys)) == 3
    ran = [r for r in fleet.ledger() if r["kind"] == "work" and r["pid"] == sleeper_pid]
    assert len(ran) == 1  # its step did finish after SIGCONT, and nothing else ran


def _pg_ctl(action: str, *options: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action, *options]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def _restart_postgres() -> None:
    """Stop the server the hard way (``-m immediate``: every backend is killed at once and the
    next start recovers from the WAL, as after a crash), then start it again."""
    try:
        _pg_ctl("stop", "-m", "immediate")
    finally:
        _pg_ctl("start")


can_restart = shutil.which("pg_ctlcluster") is not None and os.geteuid() == 0


@pytest.mark.skipif(
    not can_restart and os.environ.get("CI") != "true",
    reason="restarting PostgreSQL needs pg_ctlcluster as root (this machine kind has it)",
)
def test_postgres_restarted_during_a_100_run_load(fleet: Fleet, postgres_url: str) -> None:
    run_ids = fleet.create(100)
    for i in range(2):
        fleet.start(f"w{i}", "--lease", "3", "-c", "8", step=0.1)

    def done() -> int:
        return sum(s == "completed" for s in fleet.statuses().values())

    fleet.wait(lambda: done() >= 15, timeout=60, why="some runs to finish")
    before = done()
    _restart_postgres()
    _up(postgres_url)
    fleet.wait(lambda: done() == 100, timeout=150, why="every run to finish after the restart")
    assert all(proc.poll() is None for proc in fleet.procs.values())  # the workers lived on
    for run_id in run_ids:
        journal = [e for _, e in fleet.journal(run_id)]
        keys = [e["key"] for e in journal if e["type"] == "tool_call_completed"]
        assert len(keys) == len(set(keys)) == 3, (run_id, keys)  # nothing journaled twice
        assert journal[-1]["type"] == "run_completed"
    applied = [r["key"] for r in fleet.ledger() if r["kind"] == "charge" and r["applied"]]
    assert len(applied) == len(set(applied)) == 100  # every charge once, none lost
    assert sorted(os.listdir(fleet.effects)) == sorted(applied)
    retried = sum(len(fleet.started_by(r)) > 1 for r in run_ids)
    print(f"restart after {before} runs; {retried} runs were taken over after it")


def test_sigterm_hands_the_runs_off_within_a_second(fleet: Fleet) -> None:
    run_ids = fleet.create(2)
    leaving = fleet.start_ready("leaving", "--lease", "30", step=30)
    fleet.wait(
        lambda: sum(r["kind"] == "enter" for r in fleet.ledger()) == 2, why="both runs running"
    )
    fleet.start_ready("staying", "--lease", "30")
    assert all(len(fleet.started_by(r)) == 1 for r in run_ids)  # leased for 30 s
    sent = time.time()
    leaving.send_signal(signal.SIGTERM)
    assert leaving.wait(timeout=10) == 0
    exited = time.time() - sent
    fleet.wait(lambda: all(fleet.status(r) == "completed" for r in run_ids), why="the hand-off")
    handoff = max(fleet.started_by(r)[1][0] for r in run_ids) - sent
    assert [o for _, o in fleet.started_by(run_ids[0])] == ["leaving", "staying"]
    assert handoff <= 1.0, f"hand-off took {handoff:.2f} s"
    assert_one_owner_at_a_time(fleet.ledger())
    assert "handed over 2" in fleet.log("leaving")
    print(f"SIGTERM: worker exited in {exited:.2f} s; the runs resumed elsewhere {handoff:.2f} s")
