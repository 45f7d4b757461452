"""Environments and gated promotion through the service layer (the core the CLI and the HTTP API
call), on SQLite and on PostgreSQL: approvals by distinct non-author approvers, forced promotion
by an admin only, rollback for new runs while started runs keep their version, the operator log."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from podium.errors import PermissionDenied, UserError
from podium.runtime.deployed import parse_ref
from podium.service import Caller, ControlPlane, EnvironmentNotFound, PromotionRefused
from podium.store import SQLiteStore, Store
from podium.store.control import Deployment
from podium.store.postgres import PostgresStore
from server_kit import APPS

pytestmark = pytest.mark.anyio
NS = "shop"


def person(name: str, role: str) -> Caller:
    return Caller(name=name, credential=f"key:{name}", source="test", roles={NS: role})


ALICE = person("alice", "admin")  # deploys: the author of every version here
BOB, CAROL = person("bob", "approver"), person("carol", "approver")
OLIVER = person("oliver", "operator")
ROOT = person("root", "admin")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        made: Store = SQLiteStore(tmp_path / "podium.db")
        yield made
        await made.close()
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"podium_test_{secrets.token_hex(6)}"
    made = await PostgresStore(url, schema=schema, max_size=4).connect()
    try:
        yield made
    finally:
        await made.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


async def deploy(plane: ControlPlane, tmp_path: Path, version: str) -> Deployment:
    bundle = tmp_path / f"bundle-{version}"
    bundle.mkdir()
    source = (APPS / "payments.py").read_text().replace('VERSION = "v1"', f'VERSION = "{version}"')
    (bundle / "payments.py").write_text(source)
    deployment, _ = await plane.deploy(ALICE, NS, "pay", f"{bundle}/payments.py:payer")
    return deployment


async def approve(plane: ControlPlane, version: int, env: str, *who: Caller) -> None:
    for caller in who:
        await plane.approve_promotion(caller, NS, "pay", version, env)


async def test_promotion_walks_the_environments_with_the_approvals_each_needs(
    store: Store, tmp_path: Path
) -> None:
    plane = ControlPlane(store)
    v1 = await deploy(plane, tmp_path, "v1")
    assert [e.name for e in await plane.environments(BOB, NS)] == ["dev", "uat", "preprod", "prod"]
    with pytest.raises(PromotionRefused, match="dev serves nothing, not v1"):
        await plane.promote(OLIVER, NS, "pay", 1, "uat")
    await plane.promote(OLIVER, NS, "pay", 1, "dev")  # dev needs no approval
    with pytest.raises(PromotionRefused, match="0 of 1 approval"):
        await plane.promote(OLIVER, NS, "pay", 1, "uat")
    await approve(plane, 1, "uat", BOB)
    await plane.promote(OLIVER, NS, "pay", 1, "uat")
    await approve(plane, 1, "preprod", CAROL)
    await plane.promote(OLIVER, NS, "pay", 1, "preprod")
    _, new = await plane.approve_promotion(BOB, NS, "pay", 1, "prod")
    assert new
    approvals, new = await plane.approve_promotion(BOB, NS, "pay", 1, "prod")
    assert not new
    assert [a.approver for a in approvals] == ["bob"]
    with pytest.raises(PromotionRefused, match="1 of 2 approval"):
        await plane.promote(OLIVER, NS, "pay", 1, "prod")
    with pytest.raises(PermissionDenied, match="alice authored pay v1"):
        await plane.approve_promotion(ALICE, NS, "pay", 1, "prod")
    with pytest.raises(PermissionDenied, match="may not approve"):
        await plane.approve_promotion(OLIVER, NS, "pay", 1, "prod")
    await approve(plane, 1, "prod", CAROL)
    made = await plane.promote(OLIVER, NS, "pay", 1, "prod")
    assert (made.kind, made.version, made.created_by) == ("promote", 1, "oliver")
    assert await plane.serving(BOB, NS, "pay") == {"dev": 1, "uat": 1, "preprod": 1, "prod": 1}
    run_id, _, used = await plane.start(OLIVER, NS, "pay", "acme", environment="prod")
    assert used.digest == v1.digest
    record = await store.get_run(run_id)
    assert "env:prod" in record.tags
    assert "version:1" in record.tags


async def test_forced_promotion_needs_admin_and_rollback_leaves_started_runs_alone(
    store: Store, tmp_path: Path
) -> None:
    plane = ControlPlane(store)
    v1 = await deploy(plane, tmp_path, "v1")
    v2 = await deploy(plane, tmp_path, "v2")
    await plane.promote(OLIVER, NS, "pay", 1, "dev")
    with pytest.raises(PermissionDenied, match="may not admin"):
        await plane.promote(OLIVER, NS, "pay", 1, "prod", force=True)
    with pytest.raises(PermissionDenied):
        await plane.promote(BOB, NS, "pay", 1, "prod")  # an approver cannot promote
    await plane.promote(ROOT, NS, "pay", 1, "prod", force=True)
    await plane.promote(ROOT, NS, "pay", 2, "prod", force=True)
    on_v2, _, used = await plane.start(OLIVER, NS, "pay", "early", environment="prod")
    assert used.digest == v2.digest
    back = await plane.rollback(OLIVER, NS, "pay", "prod")
    assert (back.kind, back.version) == ("rollback", 1)
    _on_v1, _, used = await plane.start(OLIVER, NS, "pay", "late", environment="prod")
    assert used.digest == v1.digest
    assert parse_ref((await store.get_run(on_v2)).workflow)[2] == v2.digest  # kept its version
    with pytest.raises(PromotionRefused, match="no earlier version"):
        await plane.rollback(OLIVER, NS, "pay", "prod")
    log, problems = await plane.operator_log(ROOT, NS)
    assert problems == []
    moves = [(e.action.action, e.action.principal, dict(e.action.detail)) for e in log]
    forced = [m for m in moves if m[0] == "promotion.force"]
    assert [(m[1], m[2]["version"]) for m in forced] == [("root", 1), ("root", 2)]
    assert "preprod serves nothing, not v2" in forced[1][2]["skipped"]
    assert "0 of 2 approval(s) by distinct approvers" in forced[0][2]["skipped"]
    rollback = [m for m in moves if m[0] == "promotion.rollback"]
    assert rollback == [("promotion.rollback", "oliver", {"env": "prod", "from": 2, "to": 1})]


async def test_configured_environments_and_bad_input(store: Store, tmp_path: Path) -> None:
    plane = ControlPlane(store)
    await deploy(plane, tmp_path, "v1")
    with pytest.raises(PermissionDenied):
        await plane.configure_environments(OLIVER, NS, {"test": {}})
    with pytest.raises(UserError, match=r"environments.live: unknown setting\(s\) aprovals"):
        await plane.configure_environments(ROOT, NS, {"test": {}, "live": {"aprovals": 2}})
    with pytest.raises(UserError, match=r"environments.live.approvals: a whole number"):
        await plane.configure_environments(ROOT, NS, {"test": {}, "live": {"approvals": -1}})
    assert next(e.name for e in await plane.environments(BOB, NS)) == "dev"  # nothing changed
    config = {"test": {}, "live": {"approvals": 1, "approver_roles": ["admin"]}}
    await plane.configure_environments(ROOT, NS, config)
    assert [e.name for e in await plane.environments(BOB, NS)] == ["test", "live"]
    with pytest.raises(EnvironmentNotFound, match="no environment 'prod'"):
        await plane.promote(OLIVER, NS, "pay", 1, "prod")
    await plane.promote(OLIVER, NS, "pay", 1, "test")
    with pytest.raises(PermissionDenied, match="needs admin"):
        await plane.approve_promotion(BOB, NS, "pay", 1, "live")
    await plane.approve_promotion(ROOT, NS, "pay", 1, "live")
    await plane.promote(OLIVER, NS, "pay", 1, "live")
    assert await plane.serving(BOB, NS, "pay") == {"test": 1, "live": 1}
    with pytest.raises(PromotionRefused, match="no version of other has been promoted to live"):
        await plane.start(OLIVER, NS, "other", environment="live")
