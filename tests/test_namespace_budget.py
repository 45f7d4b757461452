"""A namespace (tenant) budget counts every run of the namespace, across runtimes."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium import Agent, Runtime, SQLiteStore
from podium.budget import Budget
from podium.errors import UserError
from podium.messages import ModelResponse, Usage
from podium.testing import FunctionModel
from podium.types import RunStatus

pytestmark = pytest.mark.anyio


def _agent() -> Agent:
    usage = Usage(input_tokens=90, output_tokens=10)
    model = FunctionModel(lambda request: ModelResponse(text="ok", usage=usage))
    return Agent(name="a", model=model)


async def test_runs_of_a_namespace_share_its_budget(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    budget = Budget(tokens=2_500)  # each call: 100 tokens spent, ~1,030 reserved (estimate)
    acme = Runtime(store, namespace="acme", namespace_budget=budget)
    first = await acme.run(_agent(), "go")
    assert first.status is RunStatus.COMPLETED
    # a new runtime (another process) sees what the namespace spent in the store's index
    again = Runtime(SQLiteStore(tmp_path / "db.sqlite"), namespace="acme", namespace_budget=budget)
    results = [await again.run(_agent(), "go") for _ in range(20)]
    failed = [r for r in results if r.status is RunStatus.FAILED]
    assert failed
    assert all("BudgetExceeded" in (r.error or "") for r in failed)
    assert "namespace acme" in (failed[0].error or "")
    tokens, _cost = await store.spend("acme")
    assert tokens <= 2_500
    other = Runtime(store, namespace="other", namespace_budget=budget)
    assert (await other.run(_agent(), "go")).status is RunStatus.COMPLETED


def test_a_namespace_budget_cannot_limit_wall_time() -> None:
    with pytest.raises(UserError, match="wall time"):
        Runtime(namespace_budget=Budget(wall_seconds=10))
