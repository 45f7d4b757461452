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

import logging
import os
import socket
import time
import uuid

import anyio

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

    async def heartbeat(self, scope: anyio.CancelScope) -> None:
        """Renew every third of the lease while the execution runs; cancel ``scope`` (the
        execution) once the lease is lost or may have lapsed."""
        while True:
            await anyio.sleep(self.seconds / 3)
            try:
                await self.renew()
            except RunCancelled:
                log.warning("run %s: lease lost, stopping its execution", self.run_id)
                scope.cancel()
                return
            if time.monotonic() >= self._deadline:
                self.lost = True
                log.warning("run %s: lease lapsed, stopping its execution", self.run_id)
                scope.cancel()
                return

    async def release(self) -> None:
        """Give the run back now (if the lease is still held; else nothing). Never raises a
        store error: the lease expires instead."""
        try:
            await self.store.release(self.lease)
        except StoreError as error:
            log.warning("run %s: releasing the lease failed: %s", self.run_id, error)


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
