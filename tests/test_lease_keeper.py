"""The lease of an embedded execution, in-process (podium.runtime.leasing): the heartbeat keeps
it through a long step, a lost lease stops the step, the check before an effect renews a lease
that lapsed locally, and a resume against a live holder is refused."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from podium import Context, Runtime, workflow
from podium.errors import RunLeased
from podium.store import MemoryStore
from podium.types import RunStatus

pytestmark = pytest.mark.anyio
DONE: list[str] = []


@workflow(name="long")
async def long(ctx: Context, seconds: float) -> Any:
    await ctx.step("first", lambda: "first")
    await ctx.step("wait", _wait, seconds)
    return await ctx.step("last", lambda: "last")


async def _wait(seconds: float) -> str:
    await anyio.sleep(seconds)
    DONE.append("wait")
    return "waited"


def _blocked(seconds: float) -> str:
    time.sleep(seconds)  # synchronous: the event loop (and the heartbeat) wait for it
    DONE.append("blocked")
    return "blocked"


@workflow(name="blocking")
async def blocking(ctx: Context, seconds: float) -> Any:
    await ctx.step("block", _blocked, seconds)
    return await ctx.step("after", lambda: "after")


async def test_the_heartbeat_keeps_the_lease_through_a_long_step() -> None:
    store = MemoryStore()
    runtime = Runtime(store, owner="fg", lease_seconds=0.3)
    stolen = []

    async def thief() -> None:
        while True:
            stolen.extend(await store.claim("thief", lease_seconds=60))
            await anyio.sleep(0.02)

    async with anyio.create_task_group() as tg:
        tg.start_soon(thief)
        result = await runtime.run(long, 1.2)  # four leases long, one step
        tg.cancel_scope.cancel()
    assert (result.status, result.output) == (RunStatus.COMPLETED, "last")
    assert stolen == []


async def test_a_lost_lease_stops_the_step_at_once() -> None:
    store = MemoryStore()
    runtime = Runtime(store, owner="fg", lease_seconds=0.3)
    DONE.clear()
    taken = []

    async def takeover() -> None:
        await anyio.sleep(0.2)
        run_id = (await store.list_runs())[0].run_id
        taken.append(await store.acquire(run_id, "w2", lease_seconds=60, take_from="fg"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(takeover)
        result = await runtime.run(long, 5.0)
    assert [lease.owner for lease in taken] == ["w2"]
    assert result.status is RunStatus.RUNNING  # w2 holds it now
    assert DONE == []  # the 5 s step was cancelled, not finished
    keys = [getattr(s.event, "key", "") for s in await store.read(result.run_id)]
    assert "long/wait#2" not in keys


async def test_a_lease_that_lapsed_locally_is_renewed_before_the_next_effect() -> None:
    store = MemoryStore()
    DONE.clear()
    result = await Runtime(store, lease_seconds=0.2).run(blocking, 0.5)
    assert (result.status, result.output) == (RunStatus.COMPLETED, "after")  # nobody took it
    assert DONE == ["blocked"]


async def test_resume_against_a_live_holder_is_refused_and_changes_nothing() -> None:
    store = MemoryStore()
    holder = Runtime(store, owner="holder", lease_seconds=30)
    other = Runtime(store, owner="other")
    refused: list[RunLeased] = []

    async def resume_meanwhile() -> None:
        await anyio.sleep(0.1)
        run_id = (await store.list_runs())[0].run_id
        before = await store.read(run_id)
        with pytest.raises(RunLeased) as caught:
            await other.resume(run_id)
        refused.append(caught.value)
        assert await store.read(run_id) == before

    async with anyio.create_task_group() as tg:
        tg.start_soon(resume_meanwhile)
        result = await holder.run(long, 0.3)
    assert result.status is RunStatus.COMPLETED
    assert [(e.owner, e.run_id) for e in refused] == [("holder", result.run_id)]
    assert 0 < refused[0].seconds_left <= 30
