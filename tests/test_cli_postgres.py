"""The CLI against PostgreSQL: `--db postgresql://...` for run, run --detach, a worker, runs,
show and audit verify (real processes, the real server; fails in CI if it is unreachable)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
APP = Path(__file__).parent / "apps" / "simple_app.py"


@pytest.fixture
def db(postgres_url: str) -> Iterator[str]:
    schema = f"podium_cli_{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{sep}schema={schema}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def podium(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "podium", "--db", db, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_the_cli_runs_detaches_and_works_on_postgres(db: str) -> None:
    ran = podium(db, "run", f"{APP}:calculator", "-i", "add 2 and 3")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "the sum is 5"
    detached = podium(db, "run", f"{APP}:calculator", "-i", "add 2 and 3", "--detach")
    assert detached.returncode == 0, detached.stderr
    run_id = detached.stdout.split()[-1]
    assert podium(db, "show", run_id).stdout.count("pending") == 1
    worker = podium(db, "worker", "--until-idle", "--quiet")
    assert worker.returncode == 0, worker.stderr
    shown = podium(db, "show", run_id)
    assert "completed" in shown.stdout
    listing = podium(db, "runs")
    assert listing.stdout.count("completed") == 2
    verified = podium(db, "audit", "verify", run_id)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_signal_resume_logs_and_cancel_on_postgres(db: str) -> None:
    started = podium(db, "run", f"{APP}:waiter", "-i", "x")
    assert started.returncode == 4, started.stderr  # suspended (documented exit code)
    run_id = started.stderr.split()[1]
    assert run_id.startswith("run_"), started.stderr
    signalled = podium(db, "signal", run_id, "go", "--payload", '{"ok": true}')
    assert signalled.returncode == 0, signalled.stderr
    resumed = podium(db, "resume", run_id)
    assert resumed.returncode == 0, resumed.stderr
    assert '"ok": true' in resumed.stdout
    logs = podium(db, "logs", run_id)
    assert logs.returncode == 0, logs.stderr
    assert "signal go" in logs.stdout
    assert "run completed" in logs.stdout
    other = podium(db, "run", f"{APP}:waiter", "-i", "y", "--detach")
    other_id = other.stdout.split()[-1]
    cancelled = podium(db, "cancel", other_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert "cancelled" in podium(db, "show", other_id).stdout
