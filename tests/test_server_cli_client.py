"""The CLI as a client of a real `podium serve` process: `--server URL` (or PODIUM_SERVER) with
PODIUM_API_KEY, no store access — runs, show, logs, approve/reject, signal, cancel."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from server_kit import APPS, ROOT, auth, make_key, podium, server

pytestmark = pytest.mark.slow


def remote(url: str, key: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PODIUM_DB", "PODIUM_API_KEY")}
    if key:
        env["PODIUM_API_KEY"] = key
    env["PODIUM_SERVER"] = url
    env["PODIUM_DB"] = "/nonexistent/no-store-access.db"  # the client never opens it
    return subprocess.run(
        [sys.executable, "-m", "podium", *args], capture_output=True, text=True, timeout=60,
        cwd=ROOT, env=env,
    )  # fmt: skip


def _approval(url: str, token: str, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for item in httpx.get(f"{url}/v1/approvals", headers=auth(token)).json()["approvals"]:
            if item["run_id"] == run_id:
                return dict(item)
        time.sleep(0.1)
    raise AssertionError("no approval")


BODY = {"namespace": "team-a", "deployment": "pay", "input": "invoice 9"}


def _setup(tmp_path: Path) -> tuple[str, dict[str, str]]:
    db = str(tmp_path / "podium.db")
    assert podium(db, "deploy", f"{APPS}/payments.py:payer", "--name", "pay", "-n", "team-a")
    keys = {
        "operator": make_key(db, "team-a", "operator", label="olga"),
        "approver": make_key(db, "team-a", "approver", label="bob"),
        "viewer": make_key(db, "team-a", "viewer"),
        "stranger": make_key(db, "team-b", "admin"),
    }
    return db, keys


def test_read_and_decide_through_the_server(tmp_path: Path) -> None:
    db, keys = _setup(tmp_path)
    operator, approver, viewer = keys["operator"], keys["approver"], keys["viewer"]
    with server(db, tmp_path) as url:
        body = BODY
        run_id = httpx.post(f"{url}/v1/runs", json=body, headers=auth(operator)).json()["run_id"]
        pending = _approval(url, approver, run_id)

        listed = remote(url, viewer, "runs")
        assert listed.returncode == 0, listed.stderr
        assert run_id in listed.stdout
        shown = remote(url, viewer, "show", run_id)
        assert shown.returncode == 0, shown.stderr
        assert "payer" in shown.stdout
        assert "run started deployment:team-a/pay@" in remote(url, viewer, "logs", run_id).stdout

        denied = remote(url, viewer, "approve", pending["approval_id"])
        assert denied.returncode == 8
        assert "may not decide" in denied.stderr
        approved = remote(url, approver, "approve", pending["approval_id"],
                          "--digest", pending["digest"])  # fmt: skip
        assert approved.returncode == 0, approved.stderr
        assert "approved by bob" in approved.stderr
        followed = remote(url, viewer, "logs", run_id, "--follow", "--interval", "0.05")
        assert followed.returncode == 0, followed.stderr
        assert "run completed" in followed.stdout


def test_act_and_be_refused_through_the_server(tmp_path: Path) -> None:
    db, keys = _setup(tmp_path)
    operator, approver, viewer = keys["operator"], keys["approver"], keys["viewer"]
    stranger = keys["stranger"]
    with server(db, tmp_path) as url:
        body = BODY
        run_id = httpx.post(f"{url}/v1/runs", json=body, headers=auth(operator)).json()["run_id"]
        other = httpx.post(f"{url}/v1/runs", json=body, headers=auth(operator)).json()["run_id"]
        _approval(url, approver, other)
        signalled = remote(url, operator, "signal", other, "nudge", "--payload", '{"n": 1}')
        assert signalled.returncode == 0, signalled.stderr
        cancelled = remote(url, operator, "cancel", other, "--reason", "duplicate")
        assert cancelled.returncode == 0, cancelled.stderr
        run = httpx.get(f"{url}/v1/runs/{other}", headers=auth(viewer)).json()
        assert run["status"] == "cancelled"
        entries = httpx.get(f"{url}/v1/runs/{other}/events", headers=auth(viewer)).json()
        cancel = [e for e in entries["events"] if e["type"] == "run_cancelled"]
        assert cancel[0]["event"]["by"] == "olga"

        hidden = remote(url, stranger, "show", run_id)
        assert hidden.returncode == 3
        assert f"no run with id '{run_id}'" in hidden.stderr
        nobody = remote(url, None, "runs")
        assert nobody.returncode == 8
        assert "PODIUM_API_KEY" in nobody.stderr
        refused = remote(url, operator, "run", f"{APPS}/payments.py:payer", "-i", "x")
        assert refused.returncode == 2
        assert "--server" in refused.stderr
