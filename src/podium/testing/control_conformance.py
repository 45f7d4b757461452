"""The control plane's store contract (:class:`~podium.store.control.ControlStore`) as tests.

Subclass :class:`ControlConformance` and give it a ``store_factory`` fixture (an async callable
returning a fresh, empty store) and ``tamper`` (run one SQL statement on the store's database);
``tests/test_store_control.py`` does it for SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import anyio
import pytest

from podium.errors import StoreError
from podium.store.base import Store
from podium.store.control import (
    ApiKey,
    Deployment,
    OperatorAction,
    bundle_digest,
    hash_secret,
    secret_matches,
    verify_operator_log,
)

StoreMaker = Callable[[], Awaitable[Store]]


def _deployment(name: str = "flow", text: str = "v: 1", namespace: str = "team-a") -> Deployment:
    files = {"flow.yaml": text, "helpers.py": "X = 1\n"}
    return Deployment(
        namespace=namespace, name=name, version=0, digest=bundle_digest("flow.yaml", files),
        entry="flow.yaml", files=files, created_by="alice",
    )  # fmt: skip


def _action(n: int, namespace: str = "team-a") -> OperatorAction:
    return OperatorAction(
        principal="alice", credential="key:k1", source="127.0.0.1", action="run.cancel",
        namespace=namespace, target=f"run-{n}", detail={"reason": f"r{n} ✓"},
    )  # fmt: skip


class ControlConformance:
    pytestmark = pytest.mark.anyio

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @pytest.fixture
    def store_factory(self) -> StoreMaker:
        raise NotImplementedError("a conformance subclass provides the store_factory fixture")

    async def tamper(self, store: Store, statement: str) -> None:
        raise NotImplementedError

    @pytest.fixture
    async def store(self, store_factory: StoreMaker, anyio_backend: str) -> AsyncIterator[Store]:
        store = await store_factory()
        yield store
        await store.close()

    # -- deployments ----------------------------------------------------------------------------

    async def test_deploy_assigns_versions_and_is_content_addressed(self, store: Store) -> None:
        first, created = await store.put_deployment(_deployment())
        assert created
        assert first.version == 1
        assert first.created_at > 0
        again, created = await store.put_deployment(_deployment())
        assert not created
        assert again == first
        second, created = await store.put_deployment(_deployment(text="v: 2"))
        assert created
        assert second.version == 2
        assert second.digest != first.digest
        assert await store.get_deployment("team-a", "flow") == second
        assert await store.get_deployment("team-a", "flow", first.digest) == first
        assert await store.get_deployment("team-b", "flow") is None
        assert await store.get_deployment("team-a", "flow", "0" * 64) is None

    async def test_list_deployments_newest_first_per_namespace(self, store: Store) -> None:
        await store.put_deployment(_deployment())
        await store.put_deployment(_deployment(text="v: 2"))
        await store.put_deployment(_deployment(name="other", namespace="team-b"))
        listed = await store.list_deployments("team-a")
        assert [(d.name, d.version) for d in listed] == [("flow", 2), ("flow", 1)]
        assert all(d.files == {} for d in listed)
        assert {d.namespace for d in await store.list_deployments()} == {"team-a", "team-b"}

    async def test_concurrent_deploys_get_distinct_versions(self, store: Store) -> None:
        async with anyio.create_task_group() as tg:
            for i in range(6):
                tg.start_soon(store.put_deployment, _deployment(text=f"v: {i}"))
        versions = sorted(d.version for d in await store.list_deployments("team-a"))
        assert versions == [1, 2, 3, 4, 5, 6]

    # -- API keys -------------------------------------------------------------------------------

    async def test_api_keys_store_only_a_salted_hash(self, store: Store) -> None:
        salt = os.urandom(16)
        key = ApiKey(
            key_id="k1", namespace="team-a", role="operator", salt=salt,
            secret_hash=hash_secret("s3cret", salt), created_at=1.0, expires_at=2e9,
            label="ci", created_by="admin",
        )  # fmt: skip
        await store.put_api_key(key)
        got = await store.get_api_key("k1")
        assert got == key
        assert secret_matches("s3cret", got.salt, got.secret_hash)
        assert not secret_matches("s3cret!", got.salt, got.secret_hash)
        with pytest.raises(StoreError, match="already exists"):
            await store.put_api_key(replace(key, role="admin"))
        assert await store.get_api_key("nope") is None
        assert [k.key_id for k in await store.list_api_keys("team-a")] == ["k1"]
        assert await store.list_api_keys("team-b") == []

    async def test_revocation_is_immediate_and_once(self, store: Store) -> None:
        salt = os.urandom(16)
        key = ApiKey(
            key_id="k2", namespace="team-a", role="viewer", salt=salt,
            secret_hash=hash_secret("x", salt), created_at=1.0,
        )  # fmt: skip
        await store.put_api_key(key)
        assert await store.revoke_api_key("k2")
        assert not await store.revoke_api_key("k2")
        assert not await store.revoke_api_key("missing")
        got = await store.get_api_key("k2")
        assert got is not None
        assert got.revoked_at is not None

    # -- the operator log -----------------------------------------------------------------------

    async def test_operator_log_is_chained_and_verifiable(self, store: Store) -> None:
        for n in range(5):
            entry = await store.log_operator(_action(n))
            assert entry.seq == n + 1
        entries = await store.operator_log()
        assert [e.action.target for e in entries] == [f"run-{n}" for n in range(5)]
        assert entries[0].action == _action(0)
        assert verify_operator_log(entries) == []
        assert [e.seq for e in await store.operator_log(after_seq=3)] == [4, 5]

    async def test_operator_log_tampering_is_detected(self, store: Store) -> None:
        for n in range(3):
            await store.log_operator(_action(n))
        await self.tamper(store, "UPDATE operator_log SET principal='mallory' WHERE seq=2")
        problems = verify_operator_log(await store.operator_log())
        assert problems == ["operator log seq 2: the body does not match its digest"]

    async def test_operator_log_deletion_is_detected(self, store: Store) -> None:
        for n in range(3):
            await store.log_operator(_action(n))
        await self.tamper(store, "DELETE FROM operator_log WHERE seq=2")
        assert verify_operator_log(await store.operator_log()) == [
            "operator log: seq 2 is missing (found 3)"
        ]

    async def test_concurrent_operator_appends_keep_one_chain(self, store: Store) -> None:
        async with anyio.create_task_group() as tg:
            for n in range(8):
                tg.start_soon(store.log_operator, _action(n))
        entries = await store.operator_log()
        assert [e.seq for e in entries] == list(range(1, 9))
        assert verify_operator_log(entries) == []

    # -- idempotency keys -----------------------------------------------------------------------

    async def test_idempotency_key_binds_first_request(self, store: Store) -> None:
        assert await store.reserve_idempotency("a", "k", "d1", "run-1") == ("run-1", "d1")
        assert await store.reserve_idempotency("a", "k", "d2", "run-2") == ("run-1", "d1")
        assert await store.reserve_idempotency("b", "k", "d2", "run-3") == ("run-3", "d2")
