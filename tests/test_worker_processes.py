"""Real `podium worker` processes sharing one database — a SQLite file and the real PostgreSQL
(127.0.0.1:5432, a schema per test): drained together with one owner at a time (counted
inside the tools), killed with -9, paused with SIGSTOP past their lease, stopped with SIGTERM,
and (PostgreSQL) the server restarted under load.

The PostgreSQL cases fail, not skip, under CI=true when the server is unreachable (see
conftest.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet import (
    CAN_RESTART,
    TARGET,
    Fleet,
    assert_one_owner_at_a_time,
    pg_ctl,
    postgres_schema,
    wait_for_postgres,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals"),
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fleet(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Fleet]:
    if request.param == "sqlite":
        fleet = Fleet(tmp_path)
        try:
            yield fleet
        finally:
            fleet.stop_all()
        return
    with postgres_schema(request.getfixturevalue("postgres_url")) as db:
        fleet = Fleet(tmp_path, db=db)
        try:
            yield fleet
        finally:
            fleet.stop_all()


def test_three_workers_drain_the_runs_one_owner_at_a_time(fleet: Fleet) -> None:
    count = 200 if fleet.postgres else 60
    fleet.base_env["WORKER_OWNERS"] = str(fleet.tmp / "owners")
    run_ids = fleet.create(count)
    began = time.monotonic()
    workers = [fleet.start(f"w{i}", "--until-idle", "--lease", "10") for i in range(3)]
    for proc in workers:
        assert proc.wait(timeout=110) == 0
    elapsed = time.monotonic() - began
    logs = "\n".join(fleet.log(f"w{i}") for i in range(3))
    assert "locked" not in logs, logs  # SQLite: never "database is locked"
    statuses = fleet.statuses()
    assert [r for r in run_ids if statuses[r] != "completed"] == [], logs
    owners: Counter[str] = Counter()
    for run_id in run_ids:
        started = fleet.started_by(run_id)
        assert len(started) == 1, (run_id, started)  # executed once, by one worker
        owners[started[0][1]] += 1
    ledger = fleet.ledger()
    assert [r for r in ledger if r["kind"] == "overlap"] == []  # counted inside the tool
    assert_one_owner_at_a_time(ledger)
    assert sum(r["kind"] == "work" for r in ledger) == 2 * count  # two `work` calls per run
    charges = [r for r in ledger if r["kind"] == "charge"]
    assert len(charges) == count
    assert all(r["applied"] for r in charges)
    assert len(os.listdir(fleet.effects)) == count
    assert sum(owners.values()) == count
    print(f"{count} runs by 3 workers in {elapsed:.1f} s; runs per worker: {dict(owners)}")


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


def test_sigterm_hands_the_runs_off(fleet: Fleet) -> None:
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
    # PostgreSQL: the release NOTIFYs the other worker; SQLite: it finds them on its next poll
    assert handoff <= (1.0 if fleet.postgres else 5.0), f"hand-off took {handoff:.2f} s"
    assert_one_owner_at_a_time(fleet.ledger())
    assert "handed over 2" in fleet.log("leaving")
    print(f"SIGTERM: worker exited in {exited:.2f} s; the runs resumed elsewhere {handoff:.2f} s")


def test_run_detach_queues_a_run_for_a_worker(fleet: Fleet) -> None:
    command = [sys.executable, "-m", "podium", "--db", fleet.db, "run", TARGET, "-d"]
    command += ["--input", "7"]
    done = subprocess.run(command, env=fleet.base_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    assert run_id.startswith("run_")
    assert fleet.status(run_id) == "pending"
    assert fleet.ledger() == []
    assert fleet.start("w", "--until-idle").wait(timeout=50) == 0
    assert fleet.status(run_id) == "completed"


# -- PostgreSQL restarted under load ------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.skipif(
    not CAN_RESTART and os.environ.get("CI") != "true",
    reason="restarting PostgreSQL needs pg_ctlcluster as root (this machine kind has it)",
)
def test_postgres_restarted_during_a_100_run_load(postgres_url: str, tmp_path: Path) -> None:
    with postgres_schema(postgres_url) as db:
        fleet = Fleet(tmp_path, db=db)
        try:
            _restart_under_load(fleet, postgres_url)
        finally:
            fleet.stop_all()


def _restart_under_load(fleet: Fleet, postgres_url: str) -> None:
    run_ids = fleet.create(100)
    for i in range(2):
        fleet.start(f"w{i}", "--lease", "3", "-c", "8", step=0.1)

    def done() -> int:
        return sum(s == "completed" for s in fleet.statuses().values())

    fleet.wait(lambda: done() >= 15, timeout=60, why="some runs to finish")
    before = done()
    # the hard way: every backend killed at once, the next start recovers from the WAL
    try:
        pg_ctl("stop", "-m", "immediate")
    finally:
        pg_ctl("start")
    wait_for_postgres(postgres_url)
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
