"""The environments and promotions store contract
(:class:`~podium.store.environments.EnvironmentStore`) as tests.

Subclass :class:`EnvironmentConformance` and give it a ``store_factory`` fixture (an async
callable returning a fresh, empty store); ``tests/test_store_environments.py`` does it for SQLite
and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest

from podium.store.base import Store
from podium.store.environments import (
    Environment,
    EnvSettings,
    Promotion,
    PromotionApproval,
    serving,
)

StoreMaker = Callable[[], Awaitable[Store]]


def _promotion(version: int, kind: str = "promote", env: str = "prod") -> Promotion:
    return Promotion(
        namespace="team-a", name="flow", env=env, seq=0, kind=kind,  # type: ignore[arg-type]
        version=version, created_by="alice",
    )  # fmt: skip


def _approval(approver: str, version: int = 1, env: str = "prod") -> PromotionApproval:
    return PromotionApproval(
        namespace="team-a", name="flow", version=version, env=env, approver=approver,
        role="approver",
    )  # fmt: skip


class EnvironmentConformance:
    pytestmark = pytest.mark.anyio

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @pytest.fixture
    def store_factory(self) -> StoreMaker:
        raise NotImplementedError("a conformance subclass provides the store_factory fixture")

    async def test_environments_round_trip_in_order_and_replace(
        self, store_factory: StoreMaker
    ) -> None:
        store = await store_factory()
        assert await store.get_environments("team-a") == []
        settings = EnvSettings(
            approvals=2, approver_roles=("admin",), models={"gpt-4o": "gpt-4o-mini"},
            secrets={"stripe": "vault:prod/stripe"}, budget={"cost_usd": 5.0},
            rate_limits={"runs_per_minute": 60.0}, approval_rules=({"tool": "refund"},),
        )  # fmt: skip
        envs = [
            Environment(namespace="team-a", name="test", position=0),
            Environment(namespace="team-a", name="live", position=1, settings=settings),
        ]
        await store.put_environments("team-a", envs)
        assert await store.get_environments("team-a") == envs
        assert await store.get_environments("team-b") == []
        await store.put_environments("team-a", envs[1:])
        (only,) = await store.get_environments("team-a")
        assert (only.name, only.position, only.settings) == ("live", 0, settings)

    async def test_promotions_are_numbered_per_environment_and_fold_to_the_served_version(
        self, store_factory: StoreMaker
    ) -> None:
        store = await store_factory()
        first = await store.add_promotion(_promotion(1))
        assert (first.seq, first.created_by) == (1, "alice")
        assert first.created_at > 0
        await store.add_promotion(_promotion(2))
        await store.add_promotion(_promotion(3, env="dev"))
        third = await store.add_promotion(_promotion(1, kind="rollback"))
        assert third.seq == 3
        rows = await store.promotions("team-a", "flow", "prod")
        assert [(r.seq, r.kind, r.version) for r in rows] == [
            (1, "promote", 1), (2, "promote", 2), (3, "rollback", 1),
        ]  # fmt: skip
        assert serving(rows) == 1
        assert serving(await store.promotions("team-a", "flow", "dev")) == 3
        assert await store.promotions("team-a", "other", "prod") == []

    async def test_concurrent_promotions_get_distinct_numbers(
        self, store_factory: StoreMaker
    ) -> None:
        store = await store_factory()
        async with anyio.create_task_group() as group:
            for version in range(1, 9):
                group.start_soon(store.add_promotion, _promotion(version))
        rows = await store.promotions("team-a", "flow", "prod")
        assert [r.seq for r in rows] == list(range(1, 9))
        assert sorted(r.version for r in rows) == list(range(1, 9))

    async def test_an_approver_is_recorded_once_per_version_and_environment(
        self, store_factory: StoreMaker
    ) -> None:
        store = await store_factory()
        assert await store.approve_promotion(_approval("bob"))
        assert not await store.approve_promotion(_approval("bob"))
        assert await store.approve_promotion(_approval("carol"))
        assert await store.approve_promotion(_approval("bob", version=2))
        assert await store.approve_promotion(_approval("bob", env="uat"))
        found = await store.promotion_approvals("team-a", "flow", 1, "prod")
        assert sorted(a.approver for a in found) == ["bob", "carol"]
        assert all(a.role == "approver" and a.created_at > 0 for a in found)
        assert [
            a.approver for a in await store.promotion_approvals("team-a", "flow", 2, "prod")
        ] == ["bob"]
