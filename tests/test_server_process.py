"""`podium serve` as a real process (uvicorn on a loopback port): deploy, start over HTTP,
follow over SSE, approve as an approver, see the run finish — and resume SSE by Last-Event-ID."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from server_kit import APPS, Follower, auth, make_key, podium, server

pytestmark = pytest.mark.slow


def _wait_for_approval(url: str, token: str, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        inbox = httpx.get(f"{url}/v1/approvals", headers=auth(token)).json()["approvals"]
        mine = [a for a in inbox if a["run_id"] == run_id]
        if mine:
            return mine[0]
        time.sleep(0.1)
    raise AssertionError(f"no approval appeared for {run_id}")


def test_start_follow_approve_complete_on_sqlite(tmp_path: Path) -> None:
    db = str(tmp_path / "podium.db")
    deployed = podium(db, "deploy", f"{APPS}/payments.py:payer", "--name", "pay", "-n", "team-a")
    assert deployed.returncode == 0, deployed.stderr
    assert "team-a/pay v1" in deployed.stdout
    operator = make_key(db, "team-a", "operator")
    approver = make_key(db, "team-a", "approver")
    with server(db, tmp_path) as url:
        body = {"namespace": "team-a", "deployment": "pay", "input": "invoice 42 from ACME"}
        started = httpx.post(f"{url}/v1/runs", json=body, headers=auth(operator))
        assert started.status_code == 201, started.text
        run_id = started.json()["run_id"]
        follower = Follower(f"{url}/v1/runs/{run_id}/stream", operator)
        follower.start()
        approval = _wait_for_approval(url, approver, run_id)
        assert approval["subject"] == "pay"
        refused = httpx.post(
            f"{url}/v1/approvals/{approval['approval_id']}/approve",
            json={"digest": approval["digest"]}, headers=auth(operator),
        )  # fmt: skip
        assert refused.status_code == 403  # an operator may not decide
        decided = httpx.post(
            f"{url}/v1/approvals/{approval['approval_id']}/approve",
            json={"digest": approval["digest"]}, headers=auth(approver),
        )  # fmt: skip
        assert decided.status_code == 200, decided.text
        assert decided.json()["decision"] == "approved"
        follower.join(timeout=60)
        assert follower.error is None
        assert follower.types()[-1] == "end"
        assert follower.messages[-1][2] == {"status": "completed"}
        ids = follower.ids()
        assert ids == list(range(1, len(ids) + 1))  # nothing missed, nothing twice
        assert "approval_decided" in follower.types()
        run = httpx.get(f"{url}/v1/runs/{run_id}", headers=auth(operator)).json()
        assert run["status"] == "completed"
        assert run["output"] == "done: paid 2500.00 EUR to invoice 42 from ACME (v1)"
        assert run["nodes"][0]["path"] == "payer"
        again = Follower(f"{url}/v1/runs/{run_id}/stream", operator, last_event_id=3)
        again.start()
        again.join(timeout=30)
        assert again.ids() == ids[3:]
        log = httpx.get(f"{url}/v1/operator-log", headers=auth(make_key(db, "team-a", "admin")))
        entries = log.json()
        assert entries["verified"] is True
        actions = [(e["action"], e["credential"].split(":")[0]) for e in entries["entries"]]
        assert ("run.start", "key") in actions
        assert ("approval.decide", "key") in actions
        assert all(e["source"] for e in entries["entries"])
