"""Changing code while runs wait (issue 13 item 7): ``ctx.patched`` journals a version marker.

A run suspended on v1 and resumed on v2 keeps the old path (no ``NonDeterminismError``); a run
started on v2 takes the new one; later passes replay the journaled decision. A changed effect
class on replay is covered in ``tests/test_kernel.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from podium.events import StepCompleted
from podium.runtime import Context, Runtime, workflow
from podium.store import MemoryStore, SQLiteStore, Store
from podium.types import RunStatus

pytestmark = pytest.mark.anyio

RAN: list[str] = []


def _note(what: str) -> str:
    RAN.append(what)
    return what


@workflow(name="flow")
async def v1(ctx: Context, input: Any) -> Any:
    await ctx.step("a", _note, "a")
    first = await ctx.wait_for("go")
    second = await ctx.wait_for("more")
    return ["old", first, second]


@workflow(name="flow")
async def v2(ctx: Context, input: Any) -> Any:
    await ctx.step("a", _note, "a")
    path = "old"
    if await ctx.patched("fraud-check"):
        await ctx.step("fraud", _note, "fraud")
        path = "new"
    first = await ctx.wait_for("go")
    second = await ctx.wait_for("more")
    return [path, first, second]


@workflow(name="flow")
async def v2_after_wait(ctx: Context, input: Any) -> Any:
    first = await ctx.wait_for("go")
    if await ctx.patched("late"):
        await ctx.step("late", _note, "late")
        return ["new", first]
    return ["old", first]


@workflow(name="flow")
async def v1_wait_first(ctx: Context, input: Any) -> Any:
    return ["old", await ctx.wait_for("go")]


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "p.db")


async def markers(store: Store, run_id: str) -> list[tuple[str, Any]]:
    events = [s.event for s in await store.read(run_id)]
    return [(e.key, e.result) for e in events if isinstance(e, StepCompleted) and e.kind == "patch"]


async def test_a_run_suspended_on_v1_keeps_the_old_path_on_v2(store: Store) -> None:
    RAN.clear()
    old = await Runtime(store).run(v1)
    assert old.status is RunStatus.SUSPENDED
    await Runtime(store).signal(old.run_id, "go", 1)
    second = await Runtime(store).resume(old.run_id, v2)  # v2 code: no NonDeterminismError
    assert second.status is RunStatus.SUSPENDED
    assert await markers(store, old.run_id) == [("flow/patch:fraud-check#0", False)]
    await Runtime(store).signal(old.run_id, "more", 2)
    third = await Runtime(store).resume(old.run_id, v2)
    assert third.status is RunStatus.COMPLETED
    assert third.output == ["old", 1, 2]
    assert RAN == ["a"]  # the new step never ran for the old run
    assert await markers(store, old.run_id) == [("flow/patch:fraud-check#0", False)]


async def test_a_run_started_on_v2_takes_the_new_path_on_every_pass(store: Store) -> None:
    RAN.clear()
    new = await Runtime(store).run(v2)
    assert new.status is RunStatus.SUSPENDED
    assert RAN == ["a", "fraud"]
    await Runtime(store).signal(new.run_id, "go", 1)
    assert (await Runtime(store).resume(new.run_id, v2)).status is RunStatus.SUSPENDED
    await Runtime(store).signal(new.run_id, "more", 2)
    done = await Runtime(store).resume(new.run_id, v2)
    assert done.output == ["new", 1, 2]
    assert RAN == ["a", "fraud"]  # replayed, never run again
    assert await markers(store, new.run_id) == [("flow/patch:fraud-check#0", True)]
    events = [s.event for s in await store.read(new.run_id)]
    keys = [e.key for e in events if isinstance(e, StepCompleted) and e.kind != "patch"]
    assert keys == ["flow/a#1", "flow/fraud#2", "flow/wait:go#3", "flow/wait:more#4"]


async def test_a_run_suspended_before_the_patch_point_takes_the_new_path(store: Store) -> None:
    RAN.clear()
    old = await Runtime(store).run(v1_wait_first)
    await Runtime(store).signal(old.run_id, "go", 7)
    done = await Runtime(store).resume(old.run_id, v2_after_wait)
    assert done.output == ["new", 7]
    assert RAN == ["late"]
    assert await markers(store, old.run_id) == [("flow/patch:late#0", True)]


async def test_a_bad_patch_id_is_refused_and_records_nothing() -> None:
    @workflow(name="bad")
    async def bad(ctx: Context, input: Any) -> Any:
        return await ctx.patched("a/b")

    store = MemoryStore()
    run = await Runtime(store).run(bad)
    assert run.status is RunStatus.FAILED
    assert "patch id 'a/b'" in str(run.error)
    assert await markers(store, run.run_id) == []
