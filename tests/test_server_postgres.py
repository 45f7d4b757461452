"""On PostgreSQL: two `podium serve` replicas and one `podium worker`, all real processes. A run
started on one replica is followed over SSE on the other, approved there, and completes;
a key revoked through one replica is refused by the other on the next request."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from server_kit import APPS, Follower, auth, make_key, podium, server, worker_process

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def pg_db(postgres_url: str) -> Iterator[str]:
    schema = f"podium_test_{secrets.token_hex(6)}"
    yield f"{postgres_url}?schema={schema}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _approval(url: str, token: str, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for item in httpx.get(f"{url}/v1/approvals", headers=auth(token)).json()["approvals"]:
            if item["run_id"] == run_id:
                return dict(item)
        time.sleep(0.1)
    raise AssertionError(f"no approval for {run_id}")


def test_two_replicas_one_worker(pg_db: str, tmp_path: Path) -> None:
    deployed = podium(pg_db, "deploy", f"{APPS}/payments.py:payer", "--name", "pay", "-n", "ops")
    assert deployed.returncode == 0, deployed.stderr
    operator = make_key(pg_db, "ops", "operator")
    approver = make_key(pg_db, "ops", "approver")
    admin = make_key(pg_db, "ops", "admin")
    with (
        server(pg_db, tmp_path) as first,
        server(pg_db, tmp_path) as second,
        worker_process(pg_db, tmp_path),
    ):
        body = {"namespace": "ops", "deployment": "pay", "input": "invoice 7"}
        started = httpx.post(f"{first}/v1/runs", json=body, headers=auth(operator))
        assert started.status_code == 201, started.text
        run_id = started.json()["run_id"]
        follower = Follower(f"{second}/v1/runs/{run_id}/stream", operator)
        follower.start()
        pending = _approval(second, approver, run_id)
        decided = httpx.post(
            f"{second}/v1/approvals/{pending['approval_id']}/approve",
            json={"digest": pending["digest"]}, headers=auth(approver),
        )  # fmt: skip
        assert decided.status_code == 200, decided.text
        follower.join(timeout=60)
        assert follower.error is None
        assert follower.messages[-1][1:] == ("end", {"status": "completed"})
        ids = follower.ids()
        assert ids == list(range(1, len(ids) + 1))
        run = httpx.get(f"{first}/v1/runs/{run_id}", headers=auth(operator)).json()
        assert run["output"] == "done: paid 2500.00 EUR to invoice 7 (v1)"
        executions = [
            m[2]["event"]["owner"] for m in follower.messages if m[1] == "execution_started"
        ]
        assert executions  # the worker executed it, not a replica
        assert all(":" in owner for owner in executions)

        victim = make_key(pg_db, "ops", "viewer")
        assert httpx.get(f"{second}/v1/runs", headers=auth(victim)).status_code == 200
        key_id = victim.split("_")[1]
        revoked = httpx.delete(f"{first}/v1/keys/{key_id}", headers=auth(admin))
        assert revoked.status_code == 204
        refused = httpx.get(f"{second}/v1/runs", headers=auth(victim))
        assert refused.status_code == 401
        assert refused.json()["detail"] == "API key revoked"
        log = httpx.get(f"{second}/v1/operator-log", headers=auth(admin)).json()
        assert log["verified"] is True
        actions = [e["action"] for e in log["entries"]]
        assert actions == [
            "deployment.create", "key.create", "key.create", "key.create", "run.start",
            "approval.decide", "key.create", "key.revoke",
        ]  # fmt: skip
