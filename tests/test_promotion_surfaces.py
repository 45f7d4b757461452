"""Promotion and rollback where users meet them: `podium promote/rollback/environments` in a
subprocess, and the /v1 HTTP endpoints with API keys per role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from server_kit import APPS, podium
from server_world import A, World, make_world

pytestmark = pytest.mark.anyio


def as_user(name: str) -> dict[str, str]:
    return {"PODIUM_USER": name}


def test_cli_promotes_with_distinct_approvers_forces_and_rolls_back(tmp_path: Path) -> None:
    db = str(tmp_path / "podium.db")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    source = (APPS / "payments.py").read_text()
    for version in ("v1", "v2"):
        (bundle / "payments.py").write_text(
            source.replace('VERSION = "v1"', f'VERSION = "{version}"')
        )
        made = podium(
            db, "deploy", f"{bundle}/payments.py:payer", "--name", "pay", env=as_user("alice")
        )
        assert made.returncode == 0, made.stderr
    step = podium(db, "promote", "pay", "1", "--to", "dev")
    assert step.returncode == 0, step.stderr
    assert "default/pay v1 promoted to dev" in step.stderr
    for env in ("uat", "preprod"):
        assert (
            podium(
                db, "promote", "pay", "1", "--to", env, "--approve", env=as_user("bob")
            ).returncode
            == 0
        )
        assert podium(db, "promote", "pay", "1", "--to", env).returncode == 0
    again = podium(db, "promote", "pay", "1", "--to", "prod", "--approve", env=as_user("bob"))
    assert again.returncode == 0
    again = podium(db, "promote", "pay", "1", "--to", "prod", "--approve", env=as_user("bob"))
    assert "already approved by you (counted once) · approvers: bob" in again.stderr
    refused = podium(db, "promote", "pay", "1", "--to", "prod")
    assert refused.returncode == 2
    assert "1 of 2 approval(s) by distinct approvers" in refused.stderr
    own = podium(db, "promote", "pay", "1", "--to", "prod", "--approve", env=as_user("alice"))
    assert own.returncode == 8
    assert "alice authored pay v1 and cannot approve its promotion" in own.stderr
    assert (
        podium(
            db, "promote", "pay", "1", "--to", "prod", "--approve", env=as_user("carol")
        ).returncode
        == 0
    )
    assert podium(db, "promote", "pay", "1", "--to", "prod").returncode == 0
    forced = podium(db, "promote", "pay", "2", "--to", "prod", "--force", env=as_user("root"))
    assert "default/pay v2 forced into prod" in forced.stderr
    shown = podium(db, "environments", "--deployment", "pay")
    assert [e["serving"] for e in json.loads(shown.stdout)] == [1, 1, 1, 2]
    back = podium(db, "rollback", "pay", "--env", "prod")
    assert back.returncode == 0, back.stderr
    assert "default/pay in prod rolled back to v1" in back.stderr
    shown = podium(db, "environments", "--deployment", "pay")
    assert [e["serving"] for e in json.loads(shown.stdout)] == [1, 1, 1, 1]
    bad = tmp_path / "envs.yaml"
    bad.write_text("test: {}\nlive: {approvals: two}\n")
    wrong = podium(db, "environments", "--set", str(bad))
    assert wrong.returncode == 2
    assert "environments.live.approvals: a whole number >= 0, not 'two'" in wrong.stderr


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PODIUM_DEPLOY_CACHE", str(tmp_path / "cache"))
    w = await make_world(tmp_path)
    yield w
    await w.client.aclose()
    await w.store.close()


def _auth(world: World, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.keys[A, role]}"}


async def test_http_promote_approve_force_and_rollback(world: World) -> None:
    c = world.client
    base = f"/v1/deployments/{A}/pay"
    cfg = {"environments": {"stage": {}, "live": {"approvals": 2}}}
    r = await c.put(f"/v1/environments/{A}", json=cfg, headers=_auth(world, "operator"))
    assert r.status_code == 403
    r = await c.put(f"/v1/environments/{A}", json=cfg, headers=_auth(world, "admin"))
    assert [e["name"] for e in r.json()["environments"]] == ["stage", "live"]
    r = await c.post(
        f"{base}/promote", json={"version": 1, "to": "stage"}, headers=_auth(world, "operator")
    )
    assert r.status_code == 201
    for role in ("approver", "approver"):
        r = await c.post(
            f"{base}/versions/1/approvals", json={"to": "live"}, headers=_auth(world, role)
        )
    assert r.json() == {"new": False, "approvers": ["team-a-approver"]}
    r = await c.post(
        f"{base}/promote", json={"version": 1, "to": "live"}, headers=_auth(world, "operator")
    )
    assert r.status_code == 409
    assert r.json()["code"] == "promotion_refused"
    assert "1 of 2 approval(s)" in r.json()["detail"]
    r = await c.post(
        f"{base}/promote",
        json={"version": 1, "to": "live", "force": True},
        headers=_auth(world, "operator"),
    )
    assert r.status_code == 403
    r = await c.post(
        f"{base}/versions/1/approvals", json={"to": "live"}, headers=_auth(world, "admin")
    )
    assert r.json()["approvers"] == ["team-a-approver", "team-a-admin"]
    r = await c.post(
        f"{base}/promote", json={"version": 1, "to": "live"}, headers=_auth(world, "operator")
    )
    assert (r.status_code, r.json()["kind"], r.json()["by"]) == (201, "promote", "team-a-operator")
    r = await c.post(
        "/v1/runs",
        json={"namespace": A, "deployment": "pay", "input": "x", "environment": "live"},
        headers=_auth(world, "operator"),
    )
    assert (r.status_code, r.json()["version"]) == (201, 1)
    r = await c.post(f"{base}/rollback", json={"env": "live"}, headers=_auth(world, "operator"))
    assert r.status_code == 409
    assert "no earlier version" in r.json()["detail"]
    r = await c.post(
        f"{base}/promote", json={"version": 1, "to": "prod"}, headers=_auth(world, "operator")
    )
    assert (r.status_code, r.json()["code"]) == (404, "environment_not_found")
    r = await c.get(f"{base}/environments", headers=_auth(world, "viewer"))
    assert r.json() == {"serving": {"stage": 1, "live": 1}}
    r = await c.get("/v1/operator-log", params={"namespace": A}, headers=_auth(world, "admin"))
    actions = [e["action"] for e in r.json()["entries"]]
    assert actions.count("promotion.approve") == 2
    assert "environments.configure" in actions
