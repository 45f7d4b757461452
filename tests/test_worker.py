"""Workers in-process: fenced executions, lease renewal, store failures, draining, signals,
dead letters, stop(). Real `podium worker` processes are in tests/test_worker_processes.py."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from fleet import (
    APP,
    owners,
    read_ledger,
    start_runs,
)
from podium import Context, Runtime, workflow
from podium.errors import StoreError
from podium.events import RunFailed
from podium.runtime import load_target
from podium.store import MemoryStore
from podium.types import RunStatus
from podium.worker import Worker


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKER_LEDGER", str(tmp_path / "ledger.jsonl"))
    monkeypatch.setenv("WORKER_EFFECTS", str(tmp_path / "effects"))
    monkeypatch.setenv("WORKER_STEP_SECONDS", "0.01")
    return tmp_path


# -- in-process: the runtime under a lease ------------------------------------------------------

STEPS: list[str] = []


@workflow(name="stepper")
async def stepper(ctx: Context, input: Any) -> Any:
    for i in range(int(input["steps"])):
        await ctx.step(f"s{i}", _step, i, float(input.get("pause", 0)))
    return "done"


async def _step(i: int, pause: float) -> int:
    STEPS.append(f"s{i}")
    if pause:
        await anyio.sleep(pause)
    if i == 1 and THIEF:
        await THIEF[0]()  # another worker claims the run while this step runs
    return i


THIEF: list[Callable[[], Any]] = []


@pytest.mark.anyio
async def test_a_fenced_execution_stops_at_its_next_commit() -> None:
    store = MemoryStore()
    run_id = await Runtime(store).start(stepper, {"steps": 4})
    (lease,) = await store.claim("w1", lease_seconds=0)  # expired: renewed before s0 runs
    stolen = []

    async def thief() -> None:
        _stuck(0.3)  # w1 is stuck past its 0.2 s lease (no heartbeat can run meanwhile)
        stolen.extend(await store.claim("w2", lease_seconds=60))

    STEPS.clear()
    THIEF[:] = [thief]
    try:
        result = await Runtime(store, owner="w1").resume(
            run_id, stepper, lease=lease, lease_seconds=0.2
        )
    finally:
        THIEF.clear()
    assert [x.owner for x in stolen] == ["w2"]
    assert result.status is RunStatus.RUNNING  # as the store says: w2 holds it now
    assert STEPS == ["s0", "s1"]  # s1's result was refused; nothing after it ran
    events = [s.event for s in await store.read(run_id)]
    keys = [getattr(e, "key", None) for e in events]
    assert "stepper/s0#1" in keys
    assert "stepper/s1#2" not in keys
    done = await Runtime(store, owner="w2").resume(run_id, stepper, lease=stolen[0])
    assert done.status is RunStatus.COMPLETED
    assert await owners(store, run_id) == ["w1", "w2"]


@pytest.mark.anyio
async def test_commits_renew_the_lease() -> None:
    """No heartbeat here: only the execution's commits keep a 0.3 s lease for 1.2 s."""
    store = MemoryStore()
    run_id = await Runtime(store).start(stepper, {"steps": 12, "pause": 0.1})
    (lease,) = await store.claim("w1", lease_seconds=0.3)
    stolen = []

    async def thief() -> None:
        while True:
            stolen.extend(await store.claim("thief", lease_seconds=60))
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        tg.start_soon(thief)
        result = await Runtime(store, owner="w1").resume(
            run_id, stepper, lease=lease, lease_seconds=0.3
        )
        tg.cancel_scope.cancel()
    assert result.status is RunStatus.COMPLETED
    assert stolen == []


@pytest.mark.anyio
async def test_a_lost_lease_before_the_start_writes_nothing() -> None:
    store = MemoryStore()
    run_id = await Runtime(store).start(stepper, {"steps": 1})
    (old,) = await store.claim("w1", lease_seconds=0)
    await store.claim("w2", lease_seconds=60)
    STEPS.clear()
    result = await Runtime(store, owner="w1").resume(run_id, stepper, lease=old)
    assert result.status is RunStatus.PENDING
    assert STEPS == []
    assert (await store.get_run(run_id)).last_seq == 1


def _stuck(seconds: float) -> None:
    """Synchronous work: the event loop (and the lease's heartbeat) waits for it."""
    time.sleep(seconds)


class FlakyStore(MemoryStore):
    """Its appends fail while ``down`` (the database went away)."""

    down = False

    async def append(self, run_id: str, events: Any, **kwargs: Any) -> Any:
        if self.down:
            raise StoreError("the database went away")
        return await super().append(run_id, events, **kwargs)


@pytest.mark.anyio
async def test_a_store_failure_mid_run_fails_the_execution_not_the_run() -> None:
    store = FlakyStore()
    run_id = await Runtime(store).start(stepper, {"steps": 3})
    (lease,) = await store.claim("w1", lease_seconds=0)
    STEPS.clear()

    async def outage() -> None:
        store.down = True

    THIEF[:] = [outage]  # the store goes down while step s1 runs
    try:
        with pytest.raises(StoreError, match="went away"):
            await Runtime(store, owner="w1").resume(run_id, stepper, lease=lease, lease_seconds=0.1)
    finally:
        THIEF.clear()
    store.down = False
    await anyio.sleep(0.15)  # nobody renews the lease now
    record = await store.get_run(run_id)
    assert record.status is RunStatus.RUNNING  # no run_failed: the execution died, not the run
    assert not any(isinstance(s.event, RunFailed) for s in await store.read(run_id))
    (again,) = await store.claim("w2", lease_seconds=60)  # the lease expired
    done = await Runtime(store, owner="w2").resume(run_id, stepper, lease=again)
    assert (done.status, done.output) == (RunStatus.COMPLETED, "done")
    assert STEPS == ["s0", "s1", "s1", "s2"]  # s1's result never reached the journal: redone


# -- in-process: the worker ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_worker_drains_the_runnable_runs(app_env: Path) -> None:
    store = MemoryStore()
    run_ids = await start_runs(store, 10)
    worker = Worker(store, owner="w1", concurrency=3, poll_interval=0.05)
    with anyio.fail_after(30):
        await worker.run(until_idle=True)
    for run_id in run_ids:
        assert (await store.get_run(run_id)).status is RunStatus.COMPLETED
        assert await owners(store, run_id) == ["w1"]
    assert (worker.stats.claimed, worker.stats.completed) == (10, 10)
    assert len(os.listdir(app_env / "effects")) == 10
    assert await store.claim("w2", lease_seconds=60) == []  # released, and nothing runnable


@pytest.mark.anyio
async def test_worker_resumes_a_run_made_runnable_by_a_signal(app_env: Path) -> None:
    store = MemoryStore()
    waiter = load_target(f"{Path(__file__).parent / 'apps' / 'simple_app.py'}:waiter")
    runtime = Runtime(store)
    run_id = await runtime.start(waiter, "x", ref=f"{APP.parent / 'simple_app.py'}:waiter")
    worker = Worker(store, owner="w1", poll_interval=0.05)
    await worker.run(until_idle=True)
    assert (await store.get_run(run_id)).status is RunStatus.SUSPENDED
    await runtime.signal(run_id, "go", {"ok": True})
    await worker.run(until_idle=True)
    result = await runtime.result(run_id)
    assert (result.status, result.output) == (
        RunStatus.COMPLETED,
        {"input": "x", "decision": {"ok": True}},
    )
    assert (worker.stats.claimed, worker.stats.suspended, worker.stats.completed) == (2, 1, 1)


@pytest.mark.anyio
async def test_a_run_that_keeps_killing_its_worker_is_dead_lettered(app_env: Path) -> None:
    store = MemoryStore()
    (poison, healthy) = await start_runs(store, 2)
    for n in range(5):  # five workers claimed it and died (their leases expired)
        (lease,) = await store.claim(f"dead-{n}", lease_seconds=0, limit=1)
        assert lease.run_id == poison
    worker = Worker(store, owner="w1", max_attempts=5, poll_interval=0.05)
    with anyio.fail_after(30):
        await worker.run(until_idle=True)
    record = await store.get_run(poison)
    assert record.status is RunStatus.FAILED
    assert record.error == "DeadLettered: dead-lettered after 5 attempts"
    last = (await store.read(poison))[-1].event
    assert isinstance(last, RunFailed)
    assert (await store.get_run(healthy)).status is RunStatus.COMPLETED
    assert (worker.stats.dead_lettered, worker.stats.completed) == (1, 1)


@pytest.mark.anyio
async def test_stop_hands_the_runs_in_flight_back_at_once(
    app_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_STEP_SECONDS", "30")
    store = MemoryStore()
    run_ids = await start_runs(store, 2)
    worker = Worker(store, owner="w1", lease_seconds=60, poll_interval=0.05)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        with anyio.fail_after(10):
            while _entered(app_env) < 2:  # noqa: ASYNC110 (another task writes the file)
                await anyio.sleep(0.01)
        began = time.monotonic()
        worker.stop()
    drained = time.monotonic() - began
    assert drained < 1.0
    taken = await store.claim("w2", lease_seconds=60, limit=10)
    assert sorted(lease.run_id for lease in taken) == sorted(run_ids)
    assert worker.stats.handed_over == 2


def _entered(folder: Path) -> int:
    return sum(r["kind"] == "enter" for r in read_ledger(folder / "ledger.jsonl"))
