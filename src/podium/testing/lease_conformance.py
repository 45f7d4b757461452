"""The lease conformance suite: every :class:`~podium.store.Store` that supports workers runs it.

Subclass :class:`LeaseConformance` and give it a ``store_factory`` fixture (the same as for
:class:`~podium.testing.conformance.StoreConformance`: an async callable
``(*, max_event_bytes) -> Store`` returning a fresh, empty store). Override :meth:`reconnect`
to return a second connection to the same database, so claims race across connections (as
they do across worker processes); the default races on one connection. ``tests/test_leases.py``
shows the built-in backends. Needs pytest and anyio; library code never imports it.

What it pins down, beyond the docstrings of :meth:`~podium.store.Store.claim`,
:meth:`~podium.store.Store.renew` and :meth:`~podium.store.Store.release`:

- Expiry is ``expires_at <= now`` on the store's clock, so ``lease_seconds=0`` gives a lease
  that is already expired (the tests use it instead of sleeping).
- A fenced append is refused with :class:`~podium.errors.LeaseLost` before the sequence is
  checked (a fenced writer that is behind learns it lost the run, not that it must catch up);
  an expired lease that nobody claimed since still writes (expiry lets others claim; only a
  newer epoch fences).
- ``attempts`` counts the claims since the run was last released: a clean hand-back (release)
  restarts it, so a run that suspends and resumes many times is not dead-lettered; a worker
  that dies never releases.
- Only *another* owner's unexpired lease is skipped: the same owner claiming again gets its
  pending runs back with a new epoch (fencing its own older execution).
- After :meth:`~podium.store.Store.release` the lease is no longer held: renewing it or
  appending with it raises ``LeaseLost``; a ``running`` run that was released is claimable at
  once.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator

import anyio
import pytest

from podium import events as ev
from podium.errors import (
    ConcurrencyError,
    LeaseLost,
    RunLeased,
    RunNotFound,
    RunStateError,
    StoreError,
)
from podium.store.base import DEFAULT_MAX_EVENT_BYTES, Lease, Store
from podium.testing.conformance import StoreFactory
from podium.types import Resolution

__all__ = ["LeaseConformance"]

_START = ev.ExecutionStarted(owner="w1")
_TOLERANCE = 5.0  # seconds between the test's clock and the store's (a database server's)


def _started(namespace: str = "default") -> ev.RunStarted:
    return ev.RunStarted(workflow="wf", input=None, namespace=namespace)


class LeaseConformance:
    """The lease contract of :class:`~podium.store.Store`, as tests. See the module docstring."""

    pytestmark = pytest.mark.anyio

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        raise NotImplementedError("a conformance subclass provides the store_factory fixture")

    async def reconnect(self, store: Store) -> Store:
        """Another connection to ``store``'s database (default: ``store`` itself)."""
        return store

    @pytest.fixture
    async def store(self, store_factory: StoreFactory, anyio_backend: str) -> AsyncIterator[Store]:
        store = await store_factory(max_event_bytes=DEFAULT_MAX_EVENT_BYTES)
        yield store
        await store.close()

    @staticmethod
    async def seed(store: Store, *run_ids: str, namespace: str = "default") -> None:
        """Create pending runs in this order (distinct ``created_at``, oldest first)."""
        for run_id in run_ids:
            await store.append(run_id, [_started(namespace)], expected_seq=0)
            await anyio.sleep(0.002)

    @staticmethod
    async def ids(store: Store, owner: str, *, limit: int = 100, seconds: float = 60) -> list[str]:
        leases = await store.claim(owner, lease_seconds=seconds, limit=limit)
        return [lease.run_id for lease in leases]

    # -- claim ----------------------------------------------------------------------------------

    async def test_nothing_to_claim(self, store: Store) -> None:
        assert await store.claim("w1", lease_seconds=30) == []
        await store.append("done", [_started(), ev.RunCompleted(output=1)], expected_seq=0)
        assert await store.claim("w1", lease_seconds=30, limit=10) == []

    async def test_claims_oldest_first_up_to_the_limit(self, store: Store) -> None:
        await self.seed(store, "r1", "r2", "r3", "r4")
        before = time.time()
        leases = await store.claim("w1", lease_seconds=30, limit=3)
        assert [lease.run_id for lease in leases] == ["r1", "r2", "r3"]
        for lease in leases:
            assert (lease.owner, lease.epoch, lease.attempts) == ("w1", 1, 1)
            assert before - _TOLERANCE < lease.expires_at - 30 < time.time() + _TOLERANCE
        assert await self.ids(store, "w2") == ["r4"]
        assert await self.ids(store, "w3") == []

    async def test_limit_zero_claims_nothing(self, store: Store) -> None:
        await self.seed(store, "r1")
        assert await store.claim("w1", lease_seconds=30, limit=0) == []
        assert await self.ids(store, "w1") == ["r1"]

    async def test_another_owners_unexpired_lease_is_skipped(self, store: Store) -> None:
        await self.seed(store, "r1", "r2")
        assert await self.ids(store, "w1", limit=1) == ["r1"]
        assert await self.ids(store, "w2") == ["r2"]  # r1 skipped, not waited for
        assert await self.ids(store, "w3") == []

    async def test_an_owner_may_claim_its_own_run_again(self, store: Store) -> None:
        """Only *another* owner's unexpired lease is skipped: an owner that claims again gets
        its own runs back with a new epoch (a restarted worker with a stable name resumes at
        once) — which fences the execution holding the older epoch. A worker running several
        executions under one owner must not claim a run it is executing; see podium.worker."""
        await self.seed(store, "r1")
        (first,) = await store.claim("w1", lease_seconds=60)
        (again,) = await store.claim("w1", lease_seconds=60)
        assert (again.run_id, again.epoch, again.attempts) == ("r1", 2, 2)
        with pytest.raises(LeaseLost):
            await store.append("r1", [_START], expected_seq=1, lease=first)
        await store.append("r1", [_START], expected_seq=1, lease=again)
        assert await self.ids(store, "w1") == []  # running under an unexpired lease

    async def test_expired_lease_is_claimed_again_with_a_new_epoch(self, store: Store) -> None:
        await self.seed(store, "r1")
        (first,) = await store.claim("w1", lease_seconds=0)
        (second,) = await store.claim("w2", lease_seconds=0)
        (third,) = await store.claim("w3", lease_seconds=60)
        assert [(x.owner, x.epoch, x.attempts) for x in (first, second, third)] == [
            ("w1", 1, 1),
            ("w2", 2, 2),
            ("w3", 3, 3),
        ]
        assert await self.ids(store, "w1") == []

    async def test_running_run_is_claimable_only_once_its_lease_expired(self, store: Store) -> None:
        await self.seed(store, "long", "short")
        (long,) = await store.claim("w0", lease_seconds=60, limit=1)
        (short,) = await store.claim("w1", lease_seconds=0, limit=1)
        assert (long.run_id, short.run_id) == ("long", "short")
        for lease in (short, long):
            await store.append(lease.run_id, [_START], expected_seq=1, lease=lease)
        assert await self.ids(store, "w2") == ["short"]  # its worker died
        assert await self.ids(store, "w3") == []

    async def test_what_is_runnable(self, store: Store) -> None:
        past, future = time.time() - 3600, time.time() + 3600
        runs: dict[str, list[ev.Event]] = {
            "pending": [],
            "signalled": [_START, ev.RunSuspended(reason="wait"), ev.SignalReceived(name="go")],
            "resolved": [
                _START,
                ev.StepUnknown(key="k", tool="t"),
                ev.StepResolved(key="k", action=Resolution.RETRY),
            ],
            "due": [_START, ev.RunSuspended(reason="timer", wake_at=past)],
            "not-due": [_START, ev.RunSuspended(reason="timer", wake_at=future)],
            "waiting": [_START, ev.RunSuspended(reason="signal", waiting_for="signal:go")],
            "attention": [_START, ev.StepUnknown(key="k", tool="t")],
            "unleased-running": [_START],  # executed by `podium run`, not by a worker
            "completed": [ev.RunCompleted(output=1)],
            "failed": [ev.RunFailed(error=ev.ErrorInfo(type="E", message="m"))],
            "cancelled": [ev.RunCancelled()],
        }
        for run_id, events in runs.items():
            await store.append(run_id, [_started(), *events], expected_seq=0)
            await anyio.sleep(0.002)
        assert await self.ids(store, "w1") == ["pending", "signalled", "resolved", "due"]

    async def test_namespace_limits_the_claim(self, store: Store) -> None:
        await self.seed(store, "a1", namespace="a")
        await self.seed(store, "b1", namespace="b")
        await self.seed(store, "a2", namespace="a")
        leases = await store.claim("w1", lease_seconds=30, limit=10, namespace="a")
        assert [lease.run_id for lease in leases] == ["a1", "a2"]
        assert await store.claim("w1", lease_seconds=30, namespace="c") == []
        assert await self.ids(store, "w2") == ["b1"]

    async def test_racing_claimers_never_share_a_run(self, store: Store) -> None:
        run_ids = [f"r{i:02}" for i in range(30)]
        await self.seed(store, *run_ids)
        other = await self.reconnect(store)
        claimed: list[tuple[str, str]] = []

        async def claimer(name: str, on: Store) -> None:
            for n in itertools.count():  # a new owner per call: an owner may re-claim its own
                leases = await on.claim(f"{name}.{n}", lease_seconds=60, limit=2)
                if not leases:
                    return
                claimed.extend((lease.run_id, name) for lease in leases)

        try:
            async with anyio.create_task_group() as tg:
                for i in range(6):
                    tg.start_soon(claimer, f"w{i}", store if i % 2 else other)
        finally:
            if other is not store:
                await other.close()
        assert sorted(run_id for run_id, _ in claimed) == run_ids

    # -- renew and release ----------------------------------------------------------------------

    async def test_renew_extends_a_held_lease(self, store: Store) -> None:
        await self.seed(store, "r1")
        (lease,) = await store.claim("w1", lease_seconds=0)
        renewed = await store.renew(lease, lease_seconds=60)
        assert (renewed.run_id, renewed.owner, renewed.epoch) == ("r1", "w1", 1)
        assert renewed.attempts == 1
        assert renewed.expires_at > time.time() + 60 - _TOLERANCE
        assert await self.ids(store, "w2") == []  # no longer expired
        await store.append("r1", [_START], expected_seq=1, lease=renewed)
        await store.append("r1", [ev.NodeStarted(path="a", kind="f")], expected_seq=2, lease=lease)

    async def test_renew_after_another_claim_is_lease_lost(self, store: Store) -> None:
        await self.seed(store, "r1")
        (lease,) = await store.claim("w1", lease_seconds=0)
        (newer,) = await store.claim("w2", lease_seconds=60)
        with pytest.raises(LeaseLost) as caught:
            await store.renew(lease, lease_seconds=60)
        assert caught.value.run_id == "r1"
        assert isinstance(caught.value, StoreError)
        assert (await store.renew(newer, lease_seconds=60)).epoch == 2

    async def test_release_makes_the_run_claimable_at_once(self, store: Store) -> None:
        await self.seed(store, "r1")
        (lease,) = await store.claim("w1", lease_seconds=60)
        await store.append("r1", [_START], expected_seq=1, lease=lease)  # running
        await store.release(lease)
        (taken,) = await store.claim("w2", lease_seconds=60)
        assert (taken.run_id, taken.epoch) == ("r1", 2)

    async def test_a_released_lease_is_no_longer_held(self, store: Store) -> None:
        await self.seed(store, "r1")
        (lease,) = await store.claim("w1", lease_seconds=60)
        await store.release(lease)
        await store.release(lease)  # again: nothing
        with pytest.raises(LeaseLost):
            await store.renew(lease, lease_seconds=60)
        with pytest.raises(LeaseLost):
            await store.append("r1", [_START], expected_seq=1, lease=lease)
        assert (await store.get_run("r1")).last_seq == 1

    async def test_release_of_a_stale_lease_does_nothing(self, store: Store) -> None:
        await self.seed(store, "r1")
        (old,) = await store.claim("w1", lease_seconds=0)
        (current,) = await store.claim("w2", lease_seconds=60)
        await store.release(old)
        assert await self.ids(store, "w3") == []  # w2 still holds it
        await store.append("r1", [_START], expected_seq=1, lease=current)

    async def test_release_restarts_the_attempt_count(self, store: Store) -> None:
        await self.seed(store, "r1")
        (lease,) = await store.claim("w1", lease_seconds=0)
        (lease,) = await store.claim("w2", lease_seconds=60)
        assert lease.attempts == 2  # w1 died without giving it back
        await store.release(lease)
        (again,) = await store.claim("w3", lease_seconds=60)
        assert (again.epoch, again.attempts) == (3, 1)

    async def test_unknown_run(self, store: Store) -> None:
        ghost = Lease(run_id="ghost", owner="w1", epoch=1, expires_at=time.time() + 60)
        with pytest.raises(LeaseLost):
            await store.renew(ghost, lease_seconds=60)
        await store.release(ghost)

    # -- runs created leased, and leased for an explicit resume ---------------------------------

    async def test_a_run_created_leased_is_never_claimed_while_its_lease_lives(
        self, store: Store
    ) -> None:
        lease = await store.create_leased("r1", [_started()], owner="fg", lease_seconds=60)
        assert (lease.run_id, lease.owner, lease.epoch, lease.attempts) == ("r1", "fg", 1, 1)
        assert abs(lease.expires_at - (time.time() + 60)) < _TOLERANCE
        assert lease.deadline > time.monotonic() + 50
        assert (await store.get_run("r1")).status.value == "pending"
        assert await self.ids(store, "w1") == []  # pending, but another owner's
        seq = await store.append("r1", [ev.ExecutionStarted(owner="fg")], expected_seq=1,
                                 lease=lease)  # fmt: skip
        assert seq == 2
        assert await self.ids(store, "w1") == []  # running under a live lease
        renewed = await store.renew(lease, lease_seconds=60)
        assert renewed.epoch == 1

    async def test_a_crashed_creators_run_is_claimed_once_its_lease_expired(
        self, store: Store
    ) -> None:
        lease = await store.create_leased("r1", [_started()], owner="fg", lease_seconds=0)
        await store.append("r1", [ev.ExecutionStarted(owner="fg")], expected_seq=1, lease=lease)
        (taken,) = await store.claim("w1", lease_seconds=60)
        assert (taken.run_id, taken.epoch) == ("r1", 2)
        with pytest.raises(LeaseLost):  # the creator, back from a pause, is fenced out
            await store.append("r1", [ev.RunCompleted(output=1)], expected_seq=2, lease=lease)

    async def test_create_leased_of_an_existing_run_writes_nothing(self, store: Store) -> None:
        await self.seed(store, "r1")
        with pytest.raises(ConcurrencyError):
            await store.create_leased("r1", [_started()], owner="fg", lease_seconds=60)
        assert [s.seq for s in await store.read("r1")] == [1]
        assert await self.ids(store, "w1") == ["r1"]  # still unleased

    async def test_acquire_takes_an_unleased_or_expired_run(self, store: Store) -> None:
        await self.seed(store, "r1")
        lease = await store.acquire("r1", "cli", lease_seconds=60)
        assert (lease.owner, lease.epoch, lease.attempts) == ("cli", 1, 1)
        assert await self.ids(store, "w1") == []
        again = await store.acquire("r1", "cli", lease_seconds=0)  # its own: a new epoch
        assert again.epoch == 2
        with pytest.raises(LeaseLost):
            await store.append("r1", [_START], expected_seq=1, lease=lease)
        other = await store.acquire("r1", "w1", lease_seconds=60)  # expired: anyone's
        assert (other.owner, other.epoch) == ("w1", 3)

    async def test_acquire_against_a_live_owner_is_refused(self, store: Store) -> None:
        created = await store.create_leased("r1", [_started()], owner="fg", lease_seconds=60)
        with pytest.raises(RunLeased) as caught:
            await store.acquire("r1", "cli", lease_seconds=60)
        assert caught.value.owner == "fg"
        assert 0 < caught.value.seconds_left <= 60 + _TOLERANCE
        assert await store.append("r1", [_START], expected_seq=1, lease=created) == 2  # intact

    async def test_acquire_of_a_finished_or_unknown_run(self, store: Store) -> None:
        await store.append("r1", [_started(), ev.RunCompleted(output=1)], expected_seq=0)
        with pytest.raises(RunStateError):
            await store.acquire("r1", "cli", lease_seconds=60)
        with pytest.raises(RunNotFound):
            await store.acquire("nope", "cli", lease_seconds=60)

    # -- fenced appends -------------------------------------------------------------------------

    async def test_fenced_appends_with_the_current_lease(self, store: Store) -> None:
        await self.seed(store, "r1")
        (lease,) = await store.claim("w1", lease_seconds=60)
        seq = await store.append("r1", [_START], expected_seq=1, lease=lease)
        seq = await store.append("r1", [ev.SignalReceived(name="s")], expected_seq=seq)  # unfenced
        seq = await store.append("r1", [ev.RunCompleted(output=1)], expected_seq=seq, lease=lease)
        assert seq == 4
        assert [s.event.type for s in await store.read("r1")][-1] == "run_completed"

    async def test_an_expired_lease_nobody_claimed_still_writes(self, store: Store) -> None:
        await self.seed(store, "r1")
        (lease,) = await store.claim("w1", lease_seconds=0)
        assert await store.append("r1", [_START], expected_seq=1, lease=lease) == 2

    async def test_fenced_append_after_takeover_writes_nothing(self, store: Store) -> None:
        await self.seed(store, "r1")
        (old,) = await store.claim("w1", lease_seconds=0)
        await store.append("r1", [_START], expected_seq=1, lease=old)
        (new,) = await store.claim("w2", lease_seconds=60)
        seq = await store.append("r1", [ev.ExecutionStarted(owner="w2")], expected_seq=2, lease=new)
        before = await store.get_run("r1")
        late: list[ev.Event] = [ev.NodeStarted(path="a", kind="f"), ev.RunCompleted(output="stale")]
        for expected in (seq, 2):  # up to date or behind: LeaseLost either way, not a conflict
            with pytest.raises(LeaseLost) as caught:
                await store.append("r1", late, expected_seq=expected, lease=old)
            assert not isinstance(caught.value, ConcurrencyError)
            assert caught.value.run_id == "r1"
        assert await store.get_run("r1") == before
        assert [s.seq for s in await store.read("r1")] == [1, 2, 3]

    async def test_a_lease_fences_only_its_own_run(self, store: Store) -> None:
        await self.seed(store, "r1", "r2")
        one, _two = await store.claim("w1", lease_seconds=60, limit=2)
        forged = Lease(run_id="r2", owner="w1", epoch=one.epoch + 5, expires_at=one.expires_at)
        with pytest.raises(LeaseLost):
            await store.append("r2", [_START], expected_seq=1, lease=forged)
        with pytest.raises(LeaseLost):  # a run that was never claimed
            await store.append("r3", [_started()], expected_seq=0, lease=one)

    async def test_a_fenced_terminal_event_ends_the_claims(self, store: Store) -> None:
        await self.seed(store, "r1")
        (lease,) = await store.claim("w1", lease_seconds=0)
        failed = ev.RunFailed(error=ev.ErrorInfo(type="DeadLettered", message="after 5 attempts"))
        await store.append("r1", [failed], expected_seq=1, lease=lease)
        await store.release(lease)
        assert await self.ids(store, "w2") == []
        assert (await store.get_run("r1")).status.terminal
