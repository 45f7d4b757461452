"""The /v1 API in process: bad input answered by one-line problems with nothing persisted,
Idempotency-Key, keyset pagination under inserts, the OpenAPI document against the routes, and
runs that resume on their deployed version after a newer one is deployed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from podium.runtime import Runtime
from podium.runtime.deployed import parse_ref
from server_kit import ADMIN, APPS, ROOT, podium
from server_world import A, World, make_world

pytestmark = pytest.mark.anyio


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PODIUM_DEPLOY_CACHE", str(tmp_path / "cache"))
    w = await make_world(tmp_path, max_body_bytes=64 * 1024)
    yield w
    await w.client.aclose()
    await w.store.close()


def _auth(world: World, role: str = "operator") -> dict[str, str]:
    return {"Authorization": f"Bearer {world.keys[A, role]}"}


async def _persisted(world: World) -> tuple[int, int]:
    runs = await world.store.list_runs()
    return len(runs), len(await world.store.operator_log())


def _problem(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "\n" not in response.text
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    return str(body["detail"])


async def test_bad_input_is_one_problem_line_and_persists_nothing(world: World) -> None:
    before = await _persisted(world)
    headers = {**_auth(world), "Content-Type": "application/json"}
    c = world.client
    _problem(await c.post("/v1/runs", content=b'{"namespace": ', headers=headers), 400,
             "malformed_json")  # fmt: skip
    detail = _problem(
        await c.post("/v1/runs", json={"namespace": 5, "deployment": "pay"}, headers=headers),
        422, "invalid_request",
    )  # fmt: skip
    assert detail.startswith("body.namespace:")
    extra = {"namespace": A, "deployment": "pay", "x": 1}
    _problem(await c.post("/v1/runs", json=extra, headers=headers), 422, "invalid_request")
    _problem(await c.post("/v1/runs", json=[1, 2], headers=headers), 422, "invalid_request")
    huge = {"namespace": A, "deployment": "pay", "input": "x" * (200 * 1024)}
    _problem(await c.post("/v1/runs", json=huge, headers=headers), 413, "payload_too_large")

    async def chunks() -> Any:  # no Content-Length: counted while it streams
        for _ in range(100):
            yield b" " * 4096

    _problem(await c.post("/v1/runs", content=chunks(), headers=headers), 413, "payload_too_large")
    detail = _problem(
        await c.post("/v1/runs", json={"namespace": A, "deployment": "nope"}, headers=headers),
        404, "deployment_not_found",
    )  # fmt: skip
    assert "nope" in detail
    _problem(await c.get("/v1/runs?cursor=!!!", headers=headers), 422, "invalid_request")
    _problem(await c.get("/v1/runs?limit=0", headers=headers), 422, "invalid_request")
    assert await _persisted(world) == before


async def test_idempotency_key_never_starts_two_runs(world: World) -> None:
    headers = {**_auth(world), "Idempotency-Key": "order-42"}
    body = {"namespace": A, "deployment": "pay", "input": "invoice 42"}
    first = await world.client.post("/v1/runs", json=body, headers=headers)
    assert first.status_code == 201
    again = await world.client.post("/v1/runs", json=body, headers=headers)
    assert again.status_code == 200
    assert again.json()["run_id"] == first.json()["run_id"]
    assert again.json()["created"] is False
    before = await _persisted(world)
    other = {**body, "input": "invoice 43"}
    _problem(await world.client.post("/v1/runs", json=other, headers=headers), 422,
             "idempotency_conflict")  # fmt: skip
    assert await _persisted(world) == before
    runs = await world.store.list_runs()
    assert [r.run_id for r in runs if r.namespace == A] == [first.json()["run_id"]]
    elsewhere = await world.client.post(
        "/v1/runs", json={**body, "namespace": "team-b"},
        headers={"Authorization": f"Bearer {world.keys['team-b', 'operator']}",
                 "Idempotency-Key": "order-42"},
    )  # fmt: skip
    assert elsewhere.status_code == 201  # keys are per namespace


async def test_cursor_pages_are_stable_under_inserts(world: World) -> None:
    made = [(await world.plane.start(ADMIN, A, "pay", f"r{i}"))[0] for i in range(7)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = "&cursor=" + cursor if cursor else ""
        page = (await world.client.get(f"/v1/runs?namespace={A}&limit=3{query}",
                                       headers=_auth(world))).json()  # fmt: skip
        seen.extend(r["run_id"] for r in page["runs"])
        await world.plane.start(ADMIN, A, "pay", "inserted meanwhile")
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))


async def test_openapi_document_matches_the_routes(world: World) -> None:
    doc = (await world.client.get("/v1/openapi.json")).json()
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    routed = {
        (method, route.path)
        for route in _api_routes(world.app.routes)
        if route.include_in_schema
        for method in route.methods
    }
    assert documented == routed
    assert all(path.startswith("/v1/") for _, path in documented)
    table = (ROOT / "docs" / "server.md").read_text()
    for method, path in documented:  # every route is in the docs' API table
        assert f"| `{method} {path}` |" in table, f"docs/server.md does not list {method} {path}"
    rows = re.findall(r"^\| `([A-Z]+) (/v1/[^`]*)` \|", table, flags=re.MULTILINE)
    assert set(rows) == documented  # and the docs list nothing that is not served


def _api_routes(routes: Any) -> Any:
    """Every APIRoute, also inside included routers (FastAPI wraps those)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _api_routes(route.original_router.routes)


async def test_run_resumes_on_its_version_after_a_newer_deploy(
    world: World, tmp_path: Path
) -> None:
    app = tmp_path / "bundle"
    app.mkdir()
    shutil.copy(APPS / "payments.py", app / "payments.py")
    v1, _ = await world.plane.deploy(ADMIN, A, "versioned", f"{app}/payments.py:payer")
    old = (await world.plane.start(ADMIN, A, "versioned", "old"))[0]
    await Runtime(world.store, namespace=A).resume(old)
    source = (app / "payments.py").read_text().replace('VERSION = "v1"', 'VERSION = "v2"')
    (app / "payments.py").write_text(source)
    v2, created = await world.plane.deploy(ADMIN, A, "versioned", f"{app}/payments.py:payer")
    assert created
    assert v2.version == 2
    assert v2.digest != v1.digest
    new = (await world.plane.start(ADMIN, A, "versioned", "new"))[0]
    for run_id in (old, new):
        await Runtime(world.store, namespace=A).resume(run_id)
        (pending,) = [p for p in await world.plane.approvals(ADMIN, A) if p.run_id == run_id]
        await world.client.post(
            f"/v1/approvals/{pending.approval_id}/approve", headers=_auth(world, "approver")
        )
        await Runtime(world.store, namespace=A).resume(run_id)
    outputs = {}
    for run_id in (old, new):
        record = await world.store.get_run(run_id)
        assert parse_ref(record.workflow)[2] == (v1 if run_id == old else v2).digest
        outputs[run_id] = (
            await world.client.get(f"/v1/runs/{run_id}", headers=_auth(world))
        ).json()
    assert outputs[old]["output"] == "done: paid 2500.00 EUR to old (v1)"
    assert outputs[new]["output"] == "done: paid 2500.00 EUR to new (v2)"
    assert "version:1" in outputs[old]["tags"]


def test_deploy_a_yaml_spec_with_its_python_helpers(tmp_path: Path) -> None:
    db = str(tmp_path / "podium.db")
    spec = tmp_path / "flow"
    shutil.copytree(ROOT / "tests" / "specs", spec, ignore=shutil.ignore_patterns("__pycache__"))
    first = podium(db, "deploy", str(spec / "approval.yaml"), "--name", "approval")
    assert first.returncode == 0, first.stderr
    assert "default/approval v1" in first.stdout
    again = podium(db, "deploy", str(spec / "approval.yaml"), "--name", "approval")
    assert "unchanged" in again.stdout
    listed = podium(db, "deployments", "--json")
    (row,) = json.loads(listed.stdout)
    assert row["entry"] == "approval.yaml"
    broken = podium(db, "deploy", str(spec / "nope.yaml"), "--name", "x")
    assert broken.returncode == 2
    assert "does not exist" in broken.stderr
