"""The worker loop: claim runnable runs, execute each under its lease, give it back.

- Up to ``concurrency`` executions at once. A claimed run is resumed with its lease
  (:meth:`Runtime.resume`), its workflow loaded from the reference recorded at ``run_started``;
  every append is fenced, and the runtime renews the lease (a heartbeat while a step runs long,
  and commits past half the lease); if the lease moved on or may have lapsed, the execution is
  stopped at once, and no effect is started without checking it (:mod:`podium.runtime.leasing`).
- When the execution suspends or finishes, the lease is released (the run is claimable again
  as soon as something makes it runnable). An execution that fails unexpectedly (the workflow
  cannot be loaded, the journal is corrupt) keeps its lease until it expires: the run is
  retried later, and after ``max_attempts`` claims without a clean hand-back it is
  dead-lettered (a ``run_failed`` event, appended with the lease).
- :meth:`Worker.stop` (SIGTERM or SIGINT with ``handle_signals``) stops claiming, cancels the
  executions in flight and releases their leases at once, so other workers take the runs over
  without waiting for the leases to expire. A second signal abandons the drain.
- A worker never claims a run it is executing: a claim's executions must have committed their
  ``execution_started`` (or ended) before the next claim, because an owner may claim its own
  pending runs again (see :meth:`Store.claim`).
"""

from __future__ import annotations

import itertools
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc

import podium.spec  # noqa: F401  (registers the YAML target loader: runs of specs resume here)
from podium.errors import ConcurrencyError, NonDeterminismError, StoreError
from podium.events import ErrorInfo, RunFailed
from podium.runtime import Runtime
from podium.runtime.leasing import default_owner
from podium.store import Lease, Store, StoredEvent
from podium.types import RunStatus
from podium.worker.outage import OutageLog

__all__ = ["Worker", "WorkerStats"]

log = logging.getLogger("podium.worker")


@dataclass(slots=True)
class WorkerStats:
    """What a worker did so far (``Worker.stats``)."""

    claimed: int = 0
    completed: int = 0  # finished: completed, failed or cancelled
    suspended: int = 0  # suspended or needs attention: released until runnable again
    handed_over: int = 0  # stopped because the lease moved on, or given back by stop()
    dead_lettered: int = 0
    errors: int = 0  # executions that raised (the lease is left to expire)


class Worker:
    """Claims runnable runs from ``store`` and executes them (see the module docstring).

    ``owner`` names this worker in leases and ``execution_started`` events (default
    ``host:pid:random``); ``runtime_options`` go to each execution's :class:`Runtime`
    (``secrets``, ``budget``, ``prices``, ``listeners``...; the namespace is the run's own).
    """

    def __init__(
        self,
        store: Store,
        owner: str | None = None,
        concurrency: int = 4,
        lease_seconds: float = 30.0,
        poll_interval: float = 1.0,
        max_attempts: int = 5,
        *,
        namespace: str | None = None,
        drain_seconds: float = 1.0,
        **runtime_options: Any,
    ) -> None:
        if concurrency < 1 or lease_seconds <= 0 or poll_interval <= 0 or max_attempts < 1:
            raise ValueError("concurrency, lease_seconds, poll_interval, max_attempts must be > 0")
        self.store = store
        self.owner = owner or default_owner()
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.namespace = namespace
        self.drain_seconds = drain_seconds
        self.runtime_options = runtime_options
        self.stats = WorkerStats()
        self._stopping = False
        self._inflight: dict[int, anyio.CancelScope] = {}
        self._ids = itertools.count()
        self._changed: anyio.Event | None = None
        self._outage = OutageLog(log)

    # -- the loop ---------------------------------------------------------------------------

    async def run(self, *, handle_signals: bool = False, until_idle: bool = False) -> None:
        """Claim and execute runs until :meth:`stop` (or, with ``until_idle``, until nothing
        is runnable and nothing is in flight). ``handle_signals`` makes SIGTERM and SIGINT
        call :meth:`stop` (main thread only)."""
        self._stopping = False
        async with anyio.create_task_group() as outer:
            if handle_signals:
                outer.start_soon(self._watch_signals, outer.cancel_scope)
            async with anyio.create_task_group() as executions:
                await self._loop(executions, until_idle)
            outer.cancel_scope.cancel()

    def stop(self) -> None:
        """Stop claiming; cancel the executions in flight (their leases are released)."""
        if not self._stopping:
            log.info("worker %s stopping: %d run(s) in flight", self.owner, len(self._inflight))
        self._stopping = True
        for scope in self._inflight.values():
            scope.cancel()
        if self._changed is not None:
            self._changed.set()

    async def _loop(self, executions: anyio.abc.TaskGroup, until_idle: bool) -> None:
        while not self._stopping:
            self._changed = anyio.Event()
            if await self._claim(executions):
                continue
            if until_idle and not self._inflight:
                return
            await self._idle(self._changed)

    async def _claim(self, executions: anyio.abc.TaskGroup) -> bool:
        free = self.concurrency - len(self._inflight)
        if free <= 0:
            return False
        try:
            leases = await self.store.claim(
                self.owner, lease_seconds=self.lease_seconds, limit=free, namespace=self.namespace
            )
        except StoreError as error:
            self._outage.failed("claim", error)
            return False
        self._outage.succeeded()
        started = []
        for lease in leases:
            self.stats.claimed += 1
            key, scope, event = next(self._ids), anyio.CancelScope(), anyio.Event()
            if self._stopping:  # stop() came during the claim: give it straight back
                scope.cancel()
            self._inflight[key] = scope
            started.append(event)
            executions.start_soon(self._execute, key, lease, scope, event)
        for event in started:  # never claim again while a claimed run is still pending
            await event.wait()
        return bool(leases)

    async def _idle(self, changed: anyio.Event) -> None:
        """Wait for a poll interval, a slot to free up, or the store to say a run is runnable
        (``wait_runnable``, e.g. PostgreSQL LISTEN/NOTIFY) — whichever comes first."""
        waits: list[Callable[[], Awaitable[object]]] = [changed.wait]
        wait_runnable = getattr(self.store, "wait_runnable", None)
        if callable(wait_runnable) and len(self._inflight) < self.concurrency:
            waits.append(lambda: _hint(wait_runnable, self.poll_interval))
        with anyio.move_on_after(self.poll_interval):
            async with anyio.create_task_group() as tg:
                for wait in waits:
                    tg.start_soon(_first, wait, tg.cancel_scope)

    async def _watch_signals(self, scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                if self._stopping:
                    log.warning("second %s: abandoning the drain", signal.Signals(signum).name)
                    scope.cancel()
                    return
                log.info("%s received", signal.Signals(signum).name)
                self.stop()

    # -- one execution ----------------------------------------------------------------------

    async def _execute(
        self, key: int, lease: Lease, scope: anyio.CancelScope, started: anyio.Event
    ) -> None:
        release = True
        try:
            with scope:
                if lease.attempts > self.max_attempts:
                    await self._dead_letter(lease)
                    return
                await self._resume(lease, started)
            if scope.cancelled_caught:
                self.stats.handed_over += 1
                log.info("run %s handed over", lease.run_id)
        except NonDeterminismError as error:  # parked by the runtime until the code is fixed
            self.stats.suspended += 1
            log.warning("run %s parked: %s", lease.run_id, error)
        except Exception as error:
            release = False  # retried when the lease expires; dead-lettered after max_attempts
            self.stats.errors += 1
            cause = _leaf(error)
            if isinstance(cause, StoreError) and self._outage.down:  # said once already
                log.info("run %s: stopped by the store outage: %s", lease.run_id, cause)
            else:
                log.error("run %s: %s: %s", lease.run_id, type(cause).__name__, cause)
        finally:
            started.set()
            self._inflight.pop(key, None)
            if release:
                with anyio.move_on_after(self.drain_seconds, shield=True):
                    await self._release(lease)
            if self._changed is not None:
                self._changed.set()

    async def _resume(self, lease: Lease, started: anyio.Event) -> None:
        record = await self.store.get_run(lease.run_id)
        options = dict(self.runtime_options)

        def on_event(stored: StoredEvent) -> None:
            event = stored.event
            if event.type == "execution_started" and getattr(event, "owner", "") == self.owner:
                started.set()

        options["listeners"] = (*options.get("listeners", ()), on_event)
        options.setdefault("lease_seconds", self.lease_seconds)
        runtime = Runtime(self.store, namespace=record.namespace, owner=self.owner, **options)
        log.info("run %s claimed (epoch %d, attempt %d)", lease.run_id, lease.epoch, lease.attempts)
        # the runtime renews the lease (heartbeat, commits) and stops the execution if it is
        # lost or may have lapsed (podium.runtime.leasing)
        result = await runtime.resume(lease.run_id, lease=lease, lease_seconds=self.lease_seconds)
        if result.status.terminal:
            self.stats.completed += 1
        elif result.status in (RunStatus.SUSPENDED, RunStatus.NEEDS_ATTENTION):
            self.stats.suspended += 1
        else:  # fenced out: another worker has it
            self.stats.handed_over += 1
            log.warning("run %s: lease lost, left to its new owner", lease.run_id)
            return
        log.info("run %s %s", lease.run_id, result.status.value)

    async def _dead_letter(self, lease: Lease) -> None:
        failures = lease.attempts - 1
        error = ErrorInfo(type="DeadLettered", message=f"dead-lettered after {failures} attempts")
        for _ in range(20):
            record = await self.store.get_run(lease.run_id)
            if record.status.terminal:
                return
            try:
                await self.store.append(
                    lease.run_id, [RunFailed(error=error)], expected_seq=record.last_seq,
                    lease=lease,
                )  # fmt: skip
            except ConcurrencyError:
                continue
            self.stats.dead_lettered += 1
            log.error("run %s dead-lettered after %d attempts", lease.run_id, failures)
            return

    async def _release(self, lease: Lease) -> None:
        try:
            await self.store.release(lease)
        except StoreError as error:  # it expires instead
            log.warning("run %s: releasing the lease failed: %s", lease.run_id, error)


def _leaf(error: BaseException) -> BaseException:
    """The first error inside (nested) exception groups, for the log."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


async def _hint(wait_runnable: Callable[[float], Awaitable[object]], seconds: float) -> None:
    """The store's wake-up hint; when it fails (the database is restarting), the poll interval
    is the fallback: polling stays the truth."""
    try:
        await wait_runnable(seconds)
    except StoreError as error:
        log.debug("waiting for a notification failed: %s", error)
        await anyio.sleep(seconds)


async def _first(wait: Callable[[], Awaitable[object]], scope: anyio.CancelScope) -> None:
    await wait()
    scope.cancel()
