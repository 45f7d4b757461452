"""The journal writer of one execution: group commit, buffered events, conflict handling.

- :meth:`Journal.commit` makes events durable before returning. Concurrent commits (parallel
  branches) that arrive while a write is in flight go out together in the next transaction.
- :meth:`Journal.record` buffers an event (node started/finished); it goes out with the next
  commit, so a step costs at most one transaction.
- If another writer appended meanwhile (a signal, a cancellation, another executor), the
  store raises ``ConcurrencyError``; the journal reads what it missed, folds it into the
  state, and either retries or stops (cancelled, or fenced out by a newer execution).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import anyio
import anyio.lowlevel

from podium.errors import ConcurrencyError, RunCancelled
from podium.events import TERMINAL_TYPES, Event, ExecutionStarted
from podium.runtime.state import ReplayState
from podium.store import Store, StoredEvent

Listener = Callable[[StoredEvent], None]


@dataclass(slots=True)
class _Pending:
    events: tuple[Event, ...]
    done: bool = False
    error: BaseException | None = None


class Journal:
    def __init__(
        self, store: Store, state: ReplayState, owner: str, listeners: tuple[Listener, ...] = ()
    ) -> None:
        self.store = store
        self.state = state
        self.owner = owner
        self.listeners = listeners
        self.foreign_events = 0
        self._buffer: list[Event] = []
        self._queue: list[_Pending] = []
        self._lock = anyio.Lock(fast_acquire=True)
        self.concurrent_writers = 0  # > 0 while parallel branches may commit (see parallel())

    def record(self, event: Event) -> None:
        self._buffer.append(event)

    async def commit(self, *events: Event) -> None:
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
        while True:
            try:
                last = await self.store.append(
                    self.state.run_id, events, expected_seq=self.state.last_seq
                )
            except ConcurrencyError:
                await self.catch_up()
                continue
            first = last - len(events) + 1
            now = time.time()
            stored = []
            for seq, event in enumerate(events, first):
                self.state.apply(seq, event)
                stored.append(StoredEvent(run_id=self.state.run_id, seq=seq, ts=now, event=event))
            self._notify(stored)
            return

    async def catch_up(self) -> None:
        """Fold in events other writers appended; stop if the run ended or was taken over."""
        missed = await self.store.read(self.state.run_id, after_seq=self.state.last_seq)
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
