"""Two tenants on one in-process server (httpx's ASGI transport), for the API tests: namespace
``team-a`` and ``team-b``, the ``pay`` deployment in both, an API key per role in each, and runs
that can be completed or parked at their approval on demand. B's runs carry a canary."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi import FastAPI

from podium.runtime import Runtime
from podium.server import create_app
from podium.service import ControlPlane
from podium.store import SQLiteStore
from podium.store.control import ROLES
from server_kit import ADMIN, APPS

A, B = "team-a", "team-b"
CANARY = "CANARY-7f3a-tenant-b"


@dataclass
class World:
    store: SQLiteStore
    client: httpx.AsyncClient
    plane: ControlPlane
    app: FastAPI
    keys: dict[tuple[str, str], str] = field(default_factory=dict)  # (namespace, role) -> token
    bad: dict[str, str] = field(default_factory=dict)  # kind -> token

    async def parked(self, namespace: str = A, text: str = "invoice") -> str:
        """A run stopped at its approval (run in this process)."""
        run_id, _, _ = await self.plane.start(ADMIN, namespace, "pay", text)
        await Runtime(self.store, namespace=namespace).resume(run_id)
        return run_id

    async def completed(self, namespace: str = A, text: str = "invoice") -> str:
        run_id = await self.parked(namespace, text)
        (pending,) = [p for p in await self.plane.approvals(ADMIN, namespace) if p.run_id == run_id]
        approver = ADMIN.__class__(
            name="fixture-approver", credential="local:approver", source="test",
            roles={namespace: "approver"},
        )  # fmt: skip
        await self.plane.decide(approver, pending.approval_id, "approve")
        await Runtime(self.store, namespace=namespace).resume(run_id)
        return run_id

    async def approval(self, namespace: str = A) -> tuple[str, str]:
        run_id = await self.parked(namespace)
        (pending,) = [p for p in await self.plane.approvals(ADMIN, namespace) if p.run_id == run_id]
        return pending.approval_id, pending.request.digest


async def make_world(tmp_path: Path, **app_options: object) -> World:
    store = SQLiteStore(tmp_path / "podium.db")
    app = create_app(store, poll_seconds=0.01, **app_options)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://podium.test")
    world = World(store=store, client=client, plane=ControlPlane(store), app=app)
    for namespace in (A, B):
        await world.plane.deploy(ADMIN, namespace, "pay", f"{APPS}/payments.py:payer")
        for role in ROLES:
            _, token = await world.plane.create_key(
                ADMIN, namespace, role, label=f"{namespace}-{role}"
            )
            world.keys[namespace, role] = token
    _, world.bad["expired"] = await world.plane.create_key(
        ADMIN, A, "admin", expires_at=time.time() - 1
    )
    key, world.bad["revoked"] = await world.plane.create_key(ADMIN, A, "admin")
    await world.plane.revoke_key(ADMIN, key.key_id)
    world.bad["unknown"] = "pdm_0123456789abcdef_" + "x" * 43
    world.bad["garbage"] = "not-a-token"
    for _ in range(2):
        await world.completed(B, f"{CANARY} completed")
        await world.parked(B, f"{CANARY} parked")
    return world
