"""The journal writer of one execution: group commit, buffered events, conflict handling.

- :meth:`Journal.commit` makes events durable before returning. Concurrent commits (parallel
  branches) that arrive while a write is in flight go out together in the next transaction.
- :meth:`Journal.record` buffers an event (node started/finished); it goes out with the next
  commit, so a step costs at most one transaction.
- If another writer appended meanwhile (a signal, a cancellation, another executor), the
  store raises ``ConcurrencyError``; the journal reads what it missed, folds it into the
  state, and either retries or stops (cancelled, or fenced out by a newer execution).
- With a lease (:class:`~podium.runtime.leasing.LeaseKeeper`: every execution has one), every
  append is fenced: once the run was claimed again the store refuses it with ``LeaseLost`` and
  the journal stops the execution like a cancellation (:attr:`Journal.lost`); the new owner
  continues. A commit made when the lease is past half its time renews it, so an execution that
  makes progress keeps its run. :meth:`Journal.before_effect` is the check every external
  effect makes first (see :mod:`podium.runtime.leasing`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import anyio
import anyio.lowlevel

from podium.errors import ConcurrencyError, LeaseLost, RunCancelled
from podium.events import TERMINAL_TYPES, Event, ExecutionStarted
from podium.runtime.leasing import LeaseKeeper
from podium.runtime.state import ReplayState
from podium.store import Lease, MemoryStore, Store, StoredEvent

Listener = Callable[[StoredEvent], None]
_YIELD_EVERY = 32  # fast-path commits between two loop passes


@dataclass(slots=True)
class _Pending:
    events: tuple[Event, ...]
    done: bool = False
    error: BaseException | None = None


class Journal:
    def __init__(
        self,
        store: Store,
        state: ReplayState,
        owner: str,
        listeners: tuple[Listener, ...] = (),
        *,
        keeper: LeaseKeeper | None = None,
    ) -> None:
        self.store = store
        self.state = state
        self.owner = owner
        self.listeners = listeners
        self.keeper = keeper  # None: an unleased execution (a store without leases)
        self.foreign_events = 0
        self._buffer: list[Event] = []
        self._queue: list[_Pending] = []
        self._lock = anyio.Lock(fast_acquire=True)
        # a MemoryStore's append has no await: nothing can interrupt it, no shield is needed
        self._shield = type(store) is not MemoryStore
        self._unyielded = 0  # fast-path commits since the last loop pass (see commit)
        self.concurrent_writers = 0  # > 0 while parallel branches may commit (see parallel())

    @property
    def lease(self) -> Lease | None:
        return self.keeper.lease if self.keeper is not None else None

    @property
    def lost(self) -> bool:
        """The lease moved on (or may have lapsed): this execution was stopped."""
        return self.keeper is not None and self.keeper.lost

    async def before_effect(self, effect: str, key: str) -> None:
        """Call right before an external effect (``effect``: "model request", "tool call",
        "step") of step ``key``: stops the execution (``RunCancelled``) unless its lease
        certainly holds. The one lease check every effect goes through."""
        keeper = self.keeper
        if keeper is not None and not keeper.holds():
            await keeper.check(f"{effect} {key}")

    def record(self, event: Event) -> None:
        self._buffer.append(event)

    async def commit(self, *events: Event) -> None:
        if not self.concurrent_writers and not self._queue and not self._lock.locked():
            # the only writer, nothing queued or in flight (a sequential run): write at once,
            # without a queue entry or a loop pass; the lock is held so that a task the code
            # started on its own waits for this write like it would for any other
            self._lock.acquire_nowait()
            try:
                out = [*self._buffer, *events]
                self._buffer = []
                if self._shield:
                    with anyio.CancelScope(shield=True):  # see _write_queue
                        await self._write(out)
                else:
                    await self._write(out)
            finally:
                self._lock.release()
            self._unyielded += 1
            if self._unyielded >= _YIELD_EVERY:  # a run of instant steps never starves the
                self._unyielded = 0  # loop: other runs, heartbeats and cancellations get a turn
                await anyio.lowlevel.checkpoint()
            return
        entry = _Pending(events)
        self._queue.append(entry)
        async with self._lock:
            if entry.error is not None:
                raise entry.error
            if entry.done:
                return
            if self.concurrent_writers and len(self._queue) == 1:
                # branches run in parallel: let those ready in this loop iteration join the
                # batch (one write instead of many); a sequential run never waits here
                await anyio.lowlevel.checkpoint()
            await self._write_queue()

    async def _write_queue(self) -> None:
        """Write the buffer and every queued commit in one transaction (the lock is held)."""
        batch, self._queue = self._queue, []
        out = [*self._buffer, *(e for p in batch for e in p.events)]
        self._buffer = []
        try:
            # shielded: a cancelled branch must not leave a batch half-applied for the
            # others waiting on it (the write is short; cancellation lands just after)
            with anyio.CancelScope(shield=True):
                await self._write(out)
        except BaseException as error:
            for pending in batch:
                pending.error = error
            raise
        for pending in batch:
            pending.done = True

    @contextmanager
    def parallel(self, branches: int) -> Iterator[None]:
        """Declare ``branches`` tasks that commit concurrently, so commits wait to batch."""
        extra = max(0, branches - 1)
        self.concurrent_writers += extra
        try:
            yield
        finally:
            self.concurrent_writers -= extra

    async def flush(self) -> None:
        if self._buffer:
            await self.commit()

    async def _write(self, events: list[Event]) -> None:
        keeper = self.keeper
        if keeper is not None and keeper.lost:
            raise RunCancelled(f"run {self.state.run_id}: the lease moved on")
        while True:
            try:
                last = await self.store.append(
                    self.state.run_id,
                    events,
                    expected_seq=self.state.last_seq,
                    lease=keeper.lease if keeper is not None else None,
                )
            except ConcurrencyError:
                await self.catch_up()
                continue
            except LeaseLost as error:
                if keeper is not None:
                    keeper.lost = True
                raise RunCancelled(str(error)) from None
            first = last - len(events) + 1
            apply = self.state.apply
            for seq, event in enumerate(events, first):
                apply(seq, event)
            if self.listeners:  # no listener: no StoredEvent to build
                now, run_id = time.time(), self.state.run_id
                self._notify(
                    [
                        StoredEvent(run_id=run_id, seq=seq, ts=now, event=event)
                        for seq, event in enumerate(events, first)
                    ]
                )
            if keeper is not None and keeper.renew_due():
                await keeper.renew()
            return

    async def catch_up(self) -> None:
        """Fold in events other writers appended; stop if the run ended or was taken over."""
        missed = await self.store.read(
            self.state.run_id, after_seq=self.state.last_seq, verify=True
        )  # what others appended is replayed too: it must chain onto what was verified
        for stored in missed:
            self.state.apply(stored.seq, stored.event)
            self.foreign_events += 1
        self._notify(missed)
        for stored in missed:
            event = stored.event
            if event.type in TERMINAL_TYPES:
                raise RunCancelled(f"run {self.state.run_id} ended elsewhere ({event.type})")
            if isinstance(event, ExecutionStarted) and event.owner != self.owner:
                raise RunCancelled(f"run {self.state.run_id} was taken over by {event.owner}")

    def _notify(self, stored: list[StoredEvent]) -> None:
        for listener in self.listeners:
            for item in stored:
                listener(item)
