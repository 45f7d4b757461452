"""The journal writer of one execution: group commit, buffered events, conflict handling.

- :meth:`Journal.commit` makes events durable before returning. Concurrent commits (parallel
  branches) that arrive while a write is in flight go out together in the next transaction.
- :meth:`Journal.record` buffers an event (node started/finished); it goes out with the next
  commit, so a step costs at most one transaction.
- If another writer appended meanwhile (a signal, a cancellation, another executor), the
  store raises ``ConcurrencyError``; the journal reads what it missed, folds it into the
  state, and either retries or stops (cancelled, or fenced out by a newer execution).
- With a :class:`~podium.store.Lease` (a worker's claim), every append is fenced: once the run
  was claimed again the store refuses it with ``LeaseLost`` and the journal stops the execution
  like a cancellation (:attr:`Journal.lost`); the new owner continues. A commit made when the
  lease is past half its time renews it, so an execution that makes progress keeps its run.
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
        lease: Lease | None = None,
        lease_seconds: float | None = None,
    ) -> None:
        self.store = store
        self.state = state
        self.owner = owner
        self.listeners = listeners
        self.lease = lease
        self.lost = False  # the lease moved on: this execution was fenced out
        remaining = max(0.0, lease.expires_at - time.time()) if lease is not None else 0.0
        self.lease_seconds = lease_seconds if lease_seconds is not None else remaining
        # renew once past half the lease (on this machine's monotonic clock)
        self._renew_at = time.monotonic() + remaining - self.lease_seconds / 2
        self.foreign_events = 0
        self._buffer: list[Event] = []
        self._queue: list[_Pending] = []
        self._lock = anyio.Lock(fast_acquire=True)
        # a MemoryStore's append has no await: nothing can interrupt it, no shield is needed
        self._shield = type(store) is not MemoryStore
        self._unyielded = 0  # fast-path commits since the last loop pass (see commit)
        self.concurrent_writers = 0  # > 0 while parallel branches may commit (see parallel())

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
        if self.lost:
            raise RunCancelled(f"run {self.state.run_id}: the lease moved on")
        while True:
            try:
                last = await self.store.append(
                    self.state.run_id, events, expected_seq=self.state.last_seq, lease=self.lease
                )
            except ConcurrencyError:
                await self.catch_up()
                continue
            except LeaseLost as error:
                self.lost = True
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
            if self.lease is not None and time.monotonic() >= self._renew_at:
                await self.renew()
            return

    async def renew(self) -> None:
        """Extend the lease (a commit past half the lease does it). Fenced out: stop the
        execution (``RunCancelled``). Another failure is left for the next commit to retry."""
        if self.lease is None:
            return
        try:
            self.lease = await self.store.renew(self.lease, lease_seconds=self.lease_seconds)
        except LeaseLost as error:
            self.lost = True
            raise RunCancelled(str(error)) from None
        except Exception:  # a transient store error: the lease has half its time left
            return
        self._renew_at = time.monotonic() + self.lease_seconds / 2

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
