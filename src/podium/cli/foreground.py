"""``podium run`` and ``podium resume`` in the foreground: executing under a lease, and what is
said when the run moves to another process.

The runtime holds a lease on the run while this process executes it (a run is created already
leased, a resume leases it first; see :mod:`podium.runtime.leasing`). When this process loses
it — paused or cut off from the store past the lease, so a worker took the run over — the
execution stops without running anything more, and the command says so, then follows the run
where it is executed now until it finishes or suspends, and prints that result. A run nobody
took over is resumed here again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

import anyio
import typer

from podium.cli.common import err
from podium.errors import RunLeased, StoreError
from podium.events import ExecutionStarted
from podium.runtime import RunResult, Runtime
from podium.store import Store, StoredEvent
from podium.types import RunStatus

__all__ = ["LeaseOption", "StartedLine", "execute", "handed_back", "settle"]

LeaseOption = Annotated[
    float,
    typer.Option(
        "--lease",
        min=0.1,
        help="Seconds this process's lease on the run lasts unrenewed: if the process dies, "
        "a `podium worker` takes the run over that long after",
    ),
]
_ELSEWHERE = (RunStatus.RUNNING, RunStatus.PENDING)  # what an execution that lost its run sees
_POLL = 0.25  # seconds between two looks at a run executed elsewhere
_OUTAGE = 120.0  # seconds the store may stay unreachable while following a run


class StartedLine:
    """A listener printing ``run ID started`` for the run a command creates, and keeping its id
    (for the message when the command is interrupted)."""

    def __init__(self) -> None:
        self.run_id = ""

    def __call__(self, stored: StoredEvent) -> None:
        if stored.seq == 1 and not self.run_id:
            self.run_id = stored.run_id
            err.print(f"run [bold]{stored.run_id}[/] started", highlight=False)


async def execute(
    store: Store,
    runtime: Runtime,
    run: Callable[[], str],
    first: Callable[[], Awaitable[RunResult]],
    live: Sequence[Callable[[StoredEvent], None]],
) -> RunResult:
    """Run ``first()`` (the execution of the run ``run()`` names once it exists), then
    :func:`settle` where it ended. The store going away mid-run (the database restarting) ends
    this execution, not the run: the command waits for the store and continues or follows it."""
    try:
        result = await first()
    except StoreError as error:
        run_id = run()
        if type(error) is not StoreError or not run_id:  # a bad journal or schema: no retry
            raise
        err.print(f"run {run_id}: {error}; waiting for the store", markup=False, highlight=False)
        result = await _retry(lambda: runtime.resume(run_id))
    return await settle(store, runtime, result, live)


async def settle(
    store: Store, runtime: Runtime, result: RunResult, live: Sequence[Callable[[StoredEvent], None]]
) -> RunResult:
    """``result`` if this process finished or suspended the run; else (the run moved) say so,
    and follow it — or resume it again if nobody holds it — until it finishes or suspends."""
    run_id = result.run_id
    while result.status in _ELSEWHERE:
        try:
            result = await _retry(lambda: runtime.resume(run_id))  # nobody holds it: go on
            continue
        except RunLeased as held:
            err.print(
                f"run {run_id}: this process lost its lease; {held.owner} executes the run now. "
                "Following it until it finishes or suspends",
                markup=False,
                highlight=False,
            )
        result = await _follow(store, runtime, run_id, live)
    return result


async def _retry(call: Callable[[], Awaitable[RunResult]]) -> RunResult:
    """``call()``, again while the store is unreachable (a plain ``StoreError``), for up to
    two minutes."""
    waited = 0.0
    while True:
        try:
            return await call()
        except StoreError as error:
            if type(error) is not StoreError or waited > _OUTAGE:
                raise
        await anyio.sleep(1.0)
        waited += 1.0


async def _follow(
    store: Store, runtime: Runtime, run_id: str, live: Sequence[Callable[[StoredEvent], None]]
) -> RunResult:
    """Print the run's new events while another process executes it; its result once it left
    ``running``/``pending`` (the store may be down for a while meanwhile)."""
    seen = -1  # the events before following it were shown (or not) already
    waited = 0.0
    while True:
        try:
            record = await store.get_run(run_id)
            if seen < 0:
                seen = record.last_seq
            for stored in await store.read(run_id, after_seq=seen):
                seen = stored.seq
                if isinstance(stored.event, ExecutionStarted):
                    _took_over(stored)
                for listener in live:
                    listener(stored)
        except StoreError:
            if waited > _OUTAGE:
                raise
            waited += _POLL
            await anyio.sleep(_POLL)
            continue
        waited = 0.0
        if record.status not in _ELSEWHERE:
            return await runtime.result(run_id)
        await anyio.sleep(_POLL)


def _took_over(stored: StoredEvent) -> None:
    event = stored.event
    assert isinstance(event, ExecutionStarted)
    err.print(f"run {stored.run_id}: executed by {event.owner}", markup=False, highlight=False)


def handed_back(run_id: str) -> None:
    """After Ctrl-C: the lease was released, so the run is anyone's at once."""
    err.print(
        f"interrupted: run {run_id} handed back (its lease released): a `podium worker` "
        f"continues it, or `podium resume {run_id}`",
        markup=False,
        highlight=False,
    )
