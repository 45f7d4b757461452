"""The lease every execution holds on its run: renewals, the local deadline, the effect check.

Every execution holds a lease (:class:`~podium.store.Lease`): a worker's claim, or for
:meth:`Runtime.run <podium.runtime.Runtime.run>` and :meth:`Runtime.resume
<podium.runtime.Runtime.resume>` one the runtime takes itself (a run is created already leased
by its creator). Every journal append carries the lease's epoch and is refused once another
execution claimed the run (fencing). What fencing cannot stop is an effect sent *before* the
next append: a process paused (SIGSTOP, a VM freeze, a long GC) or stuck in synchronous code
past its lease comes back believing it still owns the run, while a successor already ran the
step. So :meth:`LeaseKeeper.check` runs before every external effect (a provider request, a
tool start, a ``ctx.step`` function):

- The keeper knows a LOCAL deadline, on this process's monotonic clock: the start of the request
  that granted or last renewed the lease, plus its length. The store's expiry (on its own clock)
  is never earlier, so the lease certainly holds until then, whatever the clocks say.
- Within ``margin`` of that deadline (or past it), the keeper renews first: the renewal is fenced,
  so it fails if another execution took the run. If the lease cannot be shown to hold (renewal
  refused, or the store unreachable), the execution stops (:class:`~podium.errors.RunCancelled`)
  without sending anything; whoever holds the run next replays the journal.

The keeper also renews the lease from a heartbeat task (a step may run for longer than a lease
without committing) and when a commit finds it past half its length; a heartbeat that finds the
lease gone, or the deadline passed without a renewal, cancels the execution at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import sniffio

from podium.errors import LeaseLost, RunCancelled, StoreError
from podium.store import Lease, Store

__all__ = ["MARGIN", "LeaseKeeper", "dead_here", "default_owner"]

log = logging.getLogger("podium.lease")

MARGIN = 0.2  # of the lease: how close to the local deadline an effect renews first


class LeaseKeeper:
    """The lease of one execution (see the module docstring). ``seconds`` is the length each
    renewal asks for."""

    __slots__ = ("_deadline", "lease", "lost", "margin", "seconds", "store")

    def __init__(self, store: Store, lease: Lease, seconds: float) -> None:
        self.store = store
        self.seconds = seconds
        self.margin = seconds * MARGIN
        self.lost = False  # fenced out, or stopped because the lease may have lapsed
        self.lease = lease
        self._deadline = _local_deadline(lease)

    @property
    def run_id(self) -> str:
        return self.lease.run_id

    def renew_due(self) -> bool:
        """Past half the lease: a commit renews it on its way out."""
        return time.monotonic() >= self._deadline - self.seconds / 2

    async def renew(self) -> None:
        """Extend the lease (fenced). Taken over: stop the execution (``RunCancelled``). A
        transient store error is left for the next renewal (the deadline still tells)."""
        if self.lost:
            raise RunCancelled(f"run {self.run_id}: the lease moved on")
        try:
            lease = await self.store.renew(self.lease, lease_seconds=self.seconds)
        except LeaseLost as error:
            self.lost = True
            raise RunCancelled(str(error)) from None
        except StoreError as error:
            log.warning("run %s: renewing the lease failed (retrying): %s", self.run_id, error)
            return
        self.lease = lease
        self._deadline = _local_deadline(lease)

    def holds(self) -> bool:
        """The lease certainly holds for a while yet (the cheap test of :meth:`check`)."""
        return not self.lost and time.monotonic() < self._deadline - self.margin

    async def check(self, effect: str) -> None:
        """Before an external effect: go on only if the lease certainly still holds."""
        if self.holds():
            return
        try:
            await self.renew()
        except RunCancelled:
            log.warning("run %s: the lease moved on: %s not started", self.run_id, effect)
            raise
        if time.monotonic() >= self._deadline - self.margin:
            self.lost = True
            message = (
                f"run {self.run_id}: its lease may have lapsed (not renewed for "
                f"{self.seconds - self._deadline + time.monotonic():.1f} s of a "
                f"{self.seconds:g} s lease): {effect} not started"
            )
            log.warning("%s", message)
            raise RunCancelled(message)

    async def beat(self) -> bool:
        """One heartbeat: renew; False (and logged) once the lease is lost or may have lapsed."""
        try:
            await self.renew()
        except RunCancelled:
            log.warning("run %s: lease lost, stopping its execution", self.run_id)
            return False
        if time.monotonic() >= self._deadline:
            self.lost = True
            log.warning("run %s: lease lapsed, stopping its execution", self.run_id)
            return False
        return True

    @asynccontextmanager
    async def beating(self) -> AsyncIterator[anyio.CancelScope]:
        """Run the block (the execution) in a cancel scope while a heartbeat renews the lease
        every third of it; the scope is cancelled once the lease is lost or may have lapsed.

        On asyncio the heartbeat is a timer that starts a renewal only when one is due, so an
        execution shorter than a third of its lease costs no task and no loop pass; elsewhere
        it is a task beside the block."""
        with anyio.CancelScope() as scope:
            if sniffio.current_async_library() != "asyncio":
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._beat_task, scope)
                    yield scope
                    tg.cancel_scope.cancel()
                return
            timer = _Timer(self, scope)
            try:
                yield scope
            finally:
                with anyio.CancelScope(shield=True):
                    await timer.stop()

    async def _beat_task(self, scope: anyio.CancelScope) -> None:
        while True:
            await anyio.sleep(self.seconds / 3)
            if not await self.beat():
                scope.cancel()
                return

    async def release(self) -> None:
        """Give the run back now (if the lease is still held; else nothing). Never raises a
        store error: the lease expires instead."""
        try:
            await self.store.release(self.lease)
        except StoreError as error:
            log.warning("run %s: releasing the lease failed: %s", self.run_id, error)


class _Timer:
    """The asyncio heartbeat of :meth:`LeaseKeeper.beating`: ``call_later`` every third of the
    lease starts one renewal task; :meth:`stop` cancels the timer and ends that task (never
    left running past the block)."""

    def __init__(self, keeper: LeaseKeeper, scope: anyio.CancelScope) -> None:
        self.keeper = keeper
        self.scope = scope
        self.loop = asyncio.get_running_loop()
        self.task: asyncio.Task[None] | None = None
        self.handle = self.loop.call_later(keeper.seconds / 3, self._fire)

    def _fire(self) -> None:
        self.task = self.loop.create_task(self._beat())

    async def _beat(self) -> None:
        try:
            alive = await self.keeper.beat()
        except Exception:  # not a store error: a bug; the execution must not go on unleased
            log.exception("run %s: the lease heartbeat failed", self.keeper.run_id)
            alive = False
        if alive:
            self.handle = self.loop.call_later(self.keeper.seconds / 3, self._fire)
        else:
            self.scope.cancel()

    async def stop(self) -> None:
        self.handle.cancel()
        task = self.task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def default_owner() -> str:
    """``host:pid:random``: the name an execution holds leases under, unless one is given."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def dead_here(owner: str) -> bool:
    """Whether ``owner`` (as :func:`default_owner` names them) was a process of THIS host that
    no longer exists: its lease cannot be renewed, so a resume need not wait for it to expire.
    Any doubt (another host, another naming, a live or reused pid) answers False."""
    host, _, rest = owner.partition(":")
    pid, sep, _ = rest.partition(":")
    if host != socket.gethostname() or not sep or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists (another user's): alive as far as we can tell
        return False
    return False


def _local_deadline(lease: Lease) -> float:
    """The lease's end on this process's monotonic clock (the store's clock only if the
    lease does not say: an older store)."""
    if lease.deadline:
        return lease.deadline
    return time.monotonic() + (lease.expires_at - time.time())
