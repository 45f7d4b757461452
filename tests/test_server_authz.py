"""The authorization matrix: every endpoint × every role × own or foreign namespace × no,
expired, revoked, unknown or malformed credential gets its documented status, and nothing of
tenant B (a canary planted in its runs) appears in any body answered to a credential of A."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from podium.store.control import ROLES
from server_kit import ADMIN
from server_world import CANARY, A, B, World, make_world

pytestmark = pytest.mark.anyio

Request = tuple[str, str, Any]  # method, path, JSON body (None: no body)


@dataclass(frozen=True)
class Endpoint:
    name: str
    permission: str  # read, operate, decide, admin
    ok: int  # status when allowed
    prepare: Callable[[World], Awaitable[Request]]
    foreign: int = 404  # status for a credential of the other namespace


def _get(path: str) -> Callable[[World], Awaitable[Request]]:
    async def prepare(w: World) -> Request:
        return "GET", path, None

    return prepare


def _on_run(suffix: str, method: str = "GET", body: Any = None, *, parked: bool = False) -> Any:
    async def prepare(w: World) -> Request:
        run_id = await (w.parked(A) if parked else w.completed(A))
        return method, f"/v1/runs/{run_id}{suffix}", body

    return prepare


def _decision(verb: str) -> Any:
    async def prepare(w: World) -> Request:
        approval_id, digest = await w.approval(A)
        return "POST", f"/v1/approvals/{approval_id}/{verb}", {"digest": digest}

    return prepare


async def _start(w: World) -> Request:
    return "POST", "/v1/runs", {"namespace": A, "deployment": "pay", "input": "x"}


async def _revoke(w: World) -> Request:
    key, _ = await w.plane.create_key(ADMIN, A, "viewer")
    return "DELETE", f"/v1/keys/{key.key_id}", None


async def _create_key(w: World) -> Request:
    return "POST", "/v1/keys", {"namespace": A, "role": "viewer"}


ENDPOINTS = (
    Endpoint("list runs", "read", 200, _get(f"/v1/runs?namespace={A}"), foreign=200),
    Endpoint("get run", "read", 200, _on_run("")),
    Endpoint("events", "read", 200, _on_run("/events")),
    Endpoint("stream", "read", 200, _on_run("/stream")),
    Endpoint("audit", "read", 200, _on_run("/audit")),
    Endpoint("export", "read", 200, _on_run("/export")),
    Endpoint("approvals", "read", 200, _get(f"/v1/approvals?namespace={A}"), foreign=200),
    Endpoint("costs", "read", 200, _get(f"/v1/costs?namespace={A}"), foreign=200),
    Endpoint("deployments", "read", 200, _get(f"/v1/deployments?namespace={A}"), foreign=200),
    Endpoint("start", "operate", 201, _start),
    Endpoint("signal", "operate", 202, _on_run("/signal", "POST", {"name": "go"}, parked=True)),
    Endpoint("cancel", "operate", 202, _on_run("/cancel", "POST", {"reason": "r"}, parked=True)),
    Endpoint("resume", "operate", 202, _on_run("/resume", "POST", parked=True)),
    Endpoint(
        "resolve",
        "operate",
        409,
        _on_run("/resolve", "POST", {"step_key": "payer/x", "action": "skip"}, parked=True),
    ),
    Endpoint("approve", "decide", 200, _decision("approve")),
    Endpoint("reject", "decide", 200, _decision("reject")),
    Endpoint("list keys", "admin", 200, _get(f"/v1/keys?namespace={A}"), foreign=403),
    Endpoint("create key", "admin", 201, _create_key, foreign=403),
    Endpoint("revoke key", "admin", 204, _revoke),
    Endpoint("operator log", "admin", 200, _get(f"/v1/operator-log?namespace={A}"), foreign=403),
)
GRANTS = {
    "viewer": {"read"},
    "operator": {"read", "operate"},
    "approver": {"read", "decide"},
    "admin": {"read", "operate", "decide", "admin"},
}


def _expected(e: Endpoint, namespace: str, role: str) -> int:
    if namespace == B:
        if e.name == "start":
            return 404  # deployment_not_found: A's deployments do not exist for B
        return e.foreign
    return e.ok if e.permission in GRANTS[role] else 403


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PODIUM_DEPLOY_CACHE", str(tmp_path / "cache"))
    w = await make_world(tmp_path)
    yield w
    await w.client.aclose()
    await w.store.close()


async def test_authorization_matrix(world: World) -> None:
    failures: list[str] = []
    leaks: list[str] = []
    for endpoint in ENDPOINTS:
        for namespace in (A, B):
            for role in ROLES:
                method, path, body = await endpoint.prepare(world)
                token = world.keys[namespace, role]
                response = await world.client.request(
                    method, path, json=body, headers={"Authorization": f"Bearer {token}"}
                )
                want = _expected(endpoint, namespace, role)
                if response.status_code != want:
                    failures.append(
                        f"{endpoint.name} as {namespace}/{role}: {response.status_code} "
                        f"(want {want}) {response.text[:200]}"
                    )
                if response.status_code >= 400:
                    assert response.headers["content-type"] == "application/problem+json"
                    assert "\n" not in response.text
                if namespace == A and CANARY in response.text:
                    leaks.append(f"{endpoint.name} as {role}")
        method, path, body = await endpoint.prepare(world)
        for kind, token in [("none", ""), *world.bad.items()]:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = await world.client.request(method, path, json=body, headers=headers)
            if response.status_code != 401:
                failures.append(f"{endpoint.name} with {kind} credential: {response.status_code}")
            elif response.json()["code"] != "unauthenticated":
                failures.append(f"{endpoint.name} with {kind}: code {response.json()['code']}")
    assert failures == []
    assert leaks == []


async def test_foreign_run_answers_exactly_like_a_missing_one(world: World) -> None:
    foreign = await world.parked(B, f"{CANARY} probe")
    token = {"Authorization": f"Bearer {world.keys[A, 'admin']}"}
    for suffix in ("", "/events", "/stream", "/audit", "/export"):
        theirs = await world.client.get(f"/v1/runs/{foreign}{suffix}", headers=token)
        missing = await world.client.get(f"/v1/runs/run_doesnotexist{suffix}", headers=token)
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json() | {"detail": ""} == missing.json() | {"detail": ""}
        assert theirs.json()["detail"] == missing.json()["detail"].replace(
            "run_doesnotexist", foreign
        )
    listed = await world.client.get("/v1/runs?limit=500", headers=token)
    assert foreign not in listed.text
    assert CANARY not in listed.text
