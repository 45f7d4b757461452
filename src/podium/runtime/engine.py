"""The run engine: start, execute (replaying the journal), suspend, resume, signal, cancel.

A run is executed by running its workflow code from the top against the journal: journaled
steps return at once, the first unfinished one runs. Nothing else is kept between attempts,
so a suspended run holds no task and no memory and can resume in any process.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
import pydantic_core
from pydantic import JsonValue

from podium.agents import Agent
from podium.budget import Budget
from podium.clock import Clock, SystemClock
from podium.errors import (
    ConcurrencyError,
    InvalidPayloadError,
    NonDeterminismError,
    PayloadTooLargeError,
    RunCancelled,
    RunIdTaken,
    RunLeased,
    RunStateError,
    StoreError,
    Suspend,
    UserError,
)
from podium.events import (
    ApprovalDecided,
    ErrorInfo,
    Event,
    ExecutionStarted,
    RunCompleted,
    RunFailed,
    RunStarted,
    RunSuspended,
    SignalReceived,
    StepResolved,
)
from podium.events import (
    RunCancelled as RunCancelledEvent,
)
from podium.messages import Usage
from podium.models.limits import RateLimit
from podium.policy import EnvSecrets, Principal, SecretsProvider
from podium.prices import DEFAULT_PRICES, PriceTable
from podium.runtime import approvals as inbox
from podium.runtime import budgeting, deployed, forking, tenant_budget
from podium.runtime.approvals import PendingApproval
from podium.runtime.context import Context, run_node
from podium.runtime.execution import Execution, Services
from podium.runtime.journal import Journal, Listener
from podium.runtime.leasing import LeaseKeeper, dead_here, default_owner
from podium.runtime.nodes import Node, as_node
from podium.runtime.ratelimit import SharedRateLimits
from podium.runtime.state import ReplayState
from podium.runtime.step import Kernel, open_intent
from podium.runtime.targets import load_target, target_ref
from podium.runtime.tenancy import (
    EVERY,
    Namespaces,
    check_name,
    scoped_list,
    scoped_read,
    scoped_record,
)
from podium.store import Lease, MemoryStore, RunFilter, RunRecord, Store, StoredEvent
from podium.types import Resolution, RunStatus, new_run_id

__all__ = ["KEEP", "RunResult", "Runtime"]

KEEP: Any = object()
"""``Runtime.fork(..., input=KEEP)``: the fork keeps the original's input (the default)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RunResult:
    run_id: str
    status: RunStatus
    output: JsonValue = None
    error: str | None = None
    waiting_for: str = ""
    usage: Usage = field(default_factory=Usage)
    model_calls: int = 0
    tool_calls: int = 0


class Runtime:
    """Runs workflows durably against a :class:`~podium.store.Store`.

    >>> runtime = Runtime(SQLiteStore(".podium/podium.db"))   # doctest: +SKIP
    >>> result = await runtime.run(agent, "hello")             # doctest: +SKIP

    The namespace is the tenant boundary. ``namespace`` is where :meth:`start` records new runs
    and, by default, the only namespace the runtime acts in; ``namespaces`` widens that to a
    set (an API credential's namespaces), or to every one with ``"*"`` (an operator, an
    explicit opt-in; ``namespace="*"`` alone does the same but starts no runs). Every method
    that takes a run or approval id treats a run outside them exactly like an unknown id
    (:class:`~podium.errors.RunNotFound`), and lists (:meth:`approvals`, :meth:`list_runs`)
    show only theirs. See ``docs/governance.md``.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        namespace: str = "default",
        namespaces: str | Iterable[str] | None = None,
        clock: Clock | None = None,
        listeners: Sequence[Listener] = (),
        on_delta: Any = None,
        max_inline_sleep: float = 5.0,
        owner: str | None = None,
        secrets: SecretsProvider | None = None,
        budget: Budget | None = None,
        prices: PriceTable = DEFAULT_PRICES,
        namespace_budget: Budget | None = None,
        agent_override: Callable[[Agent], Agent] | None = None,
        rate_limits: Mapping[str, RateLimit] | None = None,
        lease_seconds: float = 30.0,
    ) -> None:
        self.store = store or MemoryStore()
        self.namespace = namespace  # where start() records new runs ("*": it starts none)
        self.scope = _scope(namespace, namespaces)  # the namespaces it may act in
        self.clock: Clock = clock or SystemClock()
        self.listeners = tuple(listeners)
        self.on_delta: Any = on_delta
        self.max_inline_sleep = max_inline_sleep
        self.owner = owner or default_owner()
        self.secrets: SecretsProvider = secrets or EnvSecrets()
        self.budget = budget  # the default budget of every run (a run's own is merged in)
        self.prices = prices
        if namespace_budget is not None:  # tokens and cost_usd only: UserError otherwise
            tenant_budget.check(namespace_budget)
        self.namespace_budget = namespace_budget  # what all runs of the namespace may spend
        self._agent_override = agent_override
        # per provider or model, shared through the store by every worker (runtime.ratelimit)
        self.rate_limits = SharedRateLimits(self.store, rate_limits) if rate_limits else None
        if not lease_seconds > 0:
            raise UserError(f"lease_seconds must be > 0, got {lease_seconds!r}")
        # how long the lease of each execution runs unrenewed (runtime.leasing)
        self.lease_seconds = lease_seconds
        self._active: dict[str, anyio.CancelScope] = {}
        self.services = Services(
            clock=self.clock, secrets=self.secrets, prices=prices,
            admission=self.rate_limits, max_inline_sleep=max_inline_sleep, on_delta=on_delta,
            agent_override=agent_override,
        )  # fmt: skip

    @property
    def agent_override(self) -> Callable[[Agent], Agent] | None:
        """Every agent runs as ``agent_override(agent)``: tests serve recorded models, tools."""
        return self._agent_override

    @agent_override.setter
    def agent_override(self, override: Callable[[Agent], Agent] | None) -> None:
        self._agent_override = override
        if hasattr(self, "services"):
            self.services = replace(self.services, agent_override=override)

    # -- starting and executing -------------------------------------------------------------

    async def start(
        self,
        workflow: Any,
        input: Any = None,
        *,
        run_id: str | None = None,
        tags: Sequence[str] = (),
        parent_run_id: str | None = None,
        ref: str | None = None,
        budget: Budget | None = None,
    ) -> str:
        """Record a new run (status ``pending``, unleased) without executing it: the next
        ``podium worker`` to poll claims it.

        ``budget`` limits this run (with the runtime's budget, the stricter of each limit);
        it is journaled, so any process resuming the run enforces it.
        """
        started = await self._run_started(
            workflow, input, tags=tags, parent_run_id=parent_run_id, ref=ref, budget=budget
        )
        run_id = run_id or new_run_id()
        try:
            await self.store.append(run_id, [started], expected_seq=0)
        except ConcurrencyError:
            raise RunIdTaken(run_id) from None
        self._tell(run_id, 1, started)
        return run_id

    async def _run_started(
        self,
        workflow: Any,
        input: Any,
        *,
        tags: Sequence[str] = (),
        parent_run_id: str | None = None,
        ref: str | None = None,
        budget: Budget | None = None,
    ) -> RunStarted:
        if self.namespace == EVERY:
            raise UserError(
                "a runtime for every namespace ('*') starts no runs: give it namespace=NAME "
                "(and namespaces='*' to act in every namespace)"
            )
        node = as_node(workflow)
        if parent_run_id is not None:  # a parent in another namespace: not found
            await scoped_record(self.store, parent_run_id, self.scope)
        return RunStarted(
            workflow=ref or target_ref(workflow, node.name),
            input=pydantic_core.to_jsonable_python(input),
            namespace=self.namespace,
            tags=tuple(tags),
            parent_run_id=parent_run_id,
            budget=dataclasses.asdict(budget) if budget is not None else None,
            started_at=self.clock.now(),
        )

    async def run(
        self, workflow: Any, input: Any = None, *, run_id: str | None = None, **start_options: Any
    ) -> RunResult:
        """Start a run and execute it until it finishes or suspends (options as :meth:`start`).

        The run is created ALREADY LEASED by this runtime (in the same transaction as its
        ``run_started``), so no worker can claim it while this execution lives; the lease is
        renewed while it runs and released if it suspends. If this process dies, a worker
        takes the run over once the lease expired (``lease_seconds``).
        """
        started = await self._run_started(workflow, input, **start_options)
        run_id = run_id or new_run_id()
        try:
            lease: Lease | None = await self.store.create_leased(
                run_id, [started], owner=self.owner, lease_seconds=self.lease_seconds
            )
        except NotImplementedError:  # a store without leases (journal only): unleased
            await self._append_unleased(run_id, started)
            lease = None
        except ConcurrencyError:
            raise RunIdTaken(run_id) from None
        self._tell(run_id, 1, started)
        return await self._leased(run_id, workflow, lease, self.lease_seconds, own=True)

    async def fork(
        self,
        run_id: str,
        *,
        at: str,
        input: Any = KEEP,
        workflow: Any = None,
        ref: str | None = None,
        fork_id: str | None = None,
        tags: Sequence[str] = (),
    ) -> str:
        """Record a fork of ``run_id`` (status ``pending``) and return its run id; execute it
        with :meth:`resume`.

        The fork's journal is the original's before ``at`` (a step key or a node path, as
        ``podium show`` prints them), so those steps replay and nothing they did happens again;
        ``at`` and what follows run anew, with ``input`` and ``workflow`` (default: the
        original's) — see :mod:`podium.runtime.forking` for at_most_once steps and approvals at
        the fork point. The fork lives in the original's namespace and is tagged
        ``forked-from:RUN_ID``; a run outside the runtime's namespaces raises
        :class:`~podium.errors.RunNotFound`, like an unknown run id.
        """
        stored = await scoped_read(self.store, run_id, self.scope, verify=True)
        original = stored[0].event
        if not isinstance(original, RunStarted):  # the store guarantees it; be explicit
            raise RunStateError(f"run {run_id} does not begin with run_started")
        fork_id = fork_id or new_run_id()
        carried = forking.prefix(run_id, fork_id, stored, at)
        if workflow is not None:
            ref = ref or target_ref(workflow, as_node(workflow).name)
        label = f"forked-from:{run_id}"
        started = RunStarted(
            workflow=ref or original.workflow,
            input=original.input if input is KEEP else pydantic_core.to_jsonable_python(input),
            namespace=original.namespace,
            tags=tuple(dict.fromkeys((*_own_tags(original.tags), *tags, label))),
            budget=original.budget,
            started_at=self.clock.now(),
            forked_from=run_id,
            fork_point=at,
            carried=len(carried.rows),
        )
        await self.store.import_run(fork_id, [(await self.store.now(), started), *carried.rows])
        self._tell(fork_id, 1, started)
        return fork_id

    async def _append_unleased(self, run_id: str, started: RunStarted) -> None:
        try:
            await self.store.append(run_id, [started], expected_seq=0)
        except ConcurrencyError:
            raise RunIdTaken(run_id) from None

    async def resume(
        self,
        run_id: str,
        workflow: Any = None,
        *,
        lease: Lease | None = None,
        lease_seconds: float | None = None,
    ) -> RunResult:
        """Execute a run from the top of its journal; finished steps replay instantly.

        ``workflow`` defaults to the target recorded when the run started. A corrupt journal
        raises :class:`~podium.errors.CorruptJournalError` before anything executes, and so
        does a journal whose hash chain breaks (:class:`~podium.errors.TamperedJournalError`,
        naming the first bad seq). A run outside the runtime's namespaces raises
        :class:`~podium.errors.RunNotFound`, like an unknown run id (and is not leased). A run
        that already finished is not executed: its result is returned.

        Without ``lease``, the runtime leases the run itself (:meth:`Store.acquire`) and
        releases it when the execution ends without finishing the run; while another live
        execution (a worker, a ``podium run``) holds it, the resume is refused with
        :class:`~podium.errors.RunLeased` and nothing runs. With ``lease`` (a worker's claim,
        :meth:`Store.claim`) the caller owns the lease and releases it.

        Either way every append is fenced: if the run is claimed again meanwhile, the execution
        stops at its next commit or effect without writing or running anything more, and the
        result has the run's current status (the new owner continues it). The lease is
        renewed by ``lease_seconds`` (default: the runtime's ``lease_seconds``) from a
        heartbeat and by commits past half of it (see :mod:`podium.runtime.leasing`).
        """
        seconds = lease_seconds if lease_seconds is not None else self.lease_seconds
        if lease is not None:
            return await self._leased(run_id, workflow, lease, seconds, own=False)
        if not self.scope.every:  # another tenant's run is not leased: it does not exist
            await scoped_record(self.store, run_id, self.scope)
        try:
            lease = await self._acquire(run_id, seconds)
        except RunLeased:
            raise
        except RunStateError:  # finished already: nothing to execute
            return await self.result(run_id)
        except NotImplementedError:  # a store without leases (journal only): unleased
            lease = None
        return await self._leased(run_id, workflow, lease, seconds, own=True)

    async def _acquire(self, run_id: str, seconds: float) -> Lease:
        """Lease the run; a holder that was a process of this host and is gone (killed, its
        lease not yet expired) is taken over at once."""
        try:
            return await self.store.acquire(run_id, self.owner, lease_seconds=seconds)
        except RunLeased as error:
            if not dead_here(error.owner):
                raise
            return await self.store.acquire(
                run_id, self.owner, lease_seconds=seconds, take_from=error.owner
            )

    async def _leased(
        self, run_id: str, workflow: Any, lease: Lease | None, seconds: float, *, own: bool
    ) -> RunResult:
        """Execute under ``lease`` with a heartbeat; release it afterwards if ``own`` and the
        run did not finish (it is claimable again at once)."""
        if lease is None:
            return await self._resume(run_id, workflow, None)
        keeper = LeaseKeeper(self.store, lease, seconds)
        result: RunResult | None = None
        try:
            async with keeper.beating():
                result = await self._resume(run_id, workflow, keeper)
        finally:
            if own and (result is None or not result.status.terminal):
                with anyio.move_on_after(5.0, shield=True):
                    await keeper.release()
        if result is None:  # the heartbeat stopped it: the lease was lost or lapsed
            return await self._current(run_id)
        return result

    async def _resume(self, run_id: str, workflow: Any, keeper: LeaseKeeper | None) -> RunResult:
        stored = await scoped_read(self.store, run_id, self.scope, verify=True)
        state = ReplayState.of(run_id, [(s.seq, s.event) for s in stored])
        self._replay_to_listeners(stored)
        if state.terminal is not None or state.started is None:
            return self._result(state)
        node = as_node(workflow if workflow is not None else await self._load(state.started))
        journal = Journal(self.store, state, self.owner, self.listeners, keeper=keeper)
        try:
            await journal.commit(ExecutionStarted(owner=self.owner, resumed=state.executions > 0))
        except RunCancelled:  # ended, taken over or fenced out before it began
            return await self._elsewhere(journal)
        started_at = state.started.started_at or stored[0].ts
        while True:
            rerun = await self._execute(journal, node, state.started, started_at)
            if not rerun:
                break
        return await self._elsewhere(journal)

    async def _load(self, started: RunStarted) -> Any:
        """The workflow a run recorded: an import reference, or a deployed version."""
        if deployed.is_deployment_ref(started.workflow):
            return await deployed.load_deployed(self.store, started.workflow)
        return load_target(started.workflow)

    async def _current(self, run_id: str) -> RunResult:
        """The run's result as the journal says, with the status the store says (another
        execution may be running it)."""
        result = await self.result(run_id)
        if result.status.terminal:
            return result
        record = await self.store.get_run(run_id)
        return replace(result, status=record.status)

    async def _elsewhere(self, journal: Journal) -> RunResult:
        """The result of an execution, with the store's status if another one took over."""
        taken = journal.lost or journal.state.owner != self.owner
        if taken and journal.state.terminal is None:
            record = await self.store.get_run(journal.state.run_id)  # taken over
            return replace(self._result(journal.state), status=record.status)
        return self._result(journal.state)

    async def _execute(
        self, journal: Journal, node: Node, started: RunStarted, started_at: float
    ) -> bool:
        """One pass over the workflow code. Returns True if it must run again."""
        execution = Execution(
            services=self.services,
            kernel=Kernel(journal),
            namespace=started.namespace,  # the run's own, whoever executes it
            started_at=started_at,
        )
        await budgeting.attach(
            execution, self.store, node, started, self.budget, self.namespace_budget
        )
        run_id = journal.state.run_id
        seen = journal.foreign_events
        outcome: Event | _Diverged | None = None
        with anyio.CancelScope() as scope:
            self._active[run_id] = scope
            try:
                output = await run_node(Context(execution, node.name), node, started.input)
                outcome = RunCompleted(output=pydantic_core.to_jsonable_python(output))
            except BaseException as error:
                outcome = _classify(error, execution.redactor.text)
            finally:
                self._active.pop(run_id, None)
                await execution.close()  # the model clients this pass built: closed now
        if scope.cancelled_caught or outcome is None:
            return False
        if isinstance(outcome, _Diverged):
            # fail closed: keep the journal as it is, park the run, tell the caller
            reason = f"non-deterministic replay: {outcome.error}"
            try:
                await journal.commit(RunSuspended(reason=reason, waiting_for="a code fix"))
            except RunCancelled:
                return False  # no longer ours: whoever has the run will diverge in turn
            raise outcome.error
        if isinstance(outcome, RunSuspended):
            if journal.foreign_events != seen:
                return True  # a signal or resolution arrived while we ran: go again
            outcome = replace(outcome, needs_attention=bool(journal.state.unknown))
        try:
            await journal.commit(outcome)
        except RunCancelled:
            return False
        return False

    # -- outside events ---------------------------------------------------------------------

    async def signal(self, run_id: str, name: str, payload: Any = None, *, by: str = "") -> None:
        """Deliver an external event; a run suspended on it becomes runnable."""
        event = SignalReceived(name=name, payload=pydantic_core.to_jsonable_python(payload), by=by)
        await self._append_outside(run_id, event)

    async def cancel(self, run_id: str, *, reason: str = "", by: str = "") -> None:
        await self._append_outside(run_id, RunCancelledEvent(reason=reason, by=by))
        scope = self._active.get(run_id)
        if scope is not None:
            scope.cancel()

    async def resolve(
        self,
        run_id: str,
        step_key: str,
        action: Resolution | str,
        *,
        result: Any = None,
        by: str = "",
        comment: str = "",
    ) -> None:
        """Decide an ``unknown`` at_most_once step: retry it, skip it (with a result), fail it."""
        stored = await scoped_read(self.store, run_id, self.scope, verify=True)
        state = ReplayState.of(run_id, [(s.seq, s.event) for s in stored])
        if not open_intent(state, step_key):
            unknown = sorted(state.unknown) or "none"
            raise RunStateError(
                f"run {run_id}: step {step_key!r} is not unknown (unknown: {unknown})"
            )
        event = StepResolved(
            key=step_key, action=Resolution(action),
            result=pydantic_core.to_jsonable_python(result), by=by, comment=comment,
        )  # fmt: skip
        seq = await self.store.append(run_id, [event], expected_seq=state.last_seq)
        self._tell(run_id, seq, event)

    async def approvals(
        self, *, namespace: str | None = None, role: str | None = None, limit: int = 1000
    ) -> list[PendingApproval]:
        """The inbox: approvals and questions waiting for a person in the runtime's namespaces
        (``namespace`` narrows them; another one finds nothing), oldest run first."""
        return await inbox.pending(
            self.store, self.scope, namespace=namespace, role=role, limit=limit
        )

    async def decide(
        self,
        approval_id: str,
        verdict: inbox.Verdict,
        *,
        by: Principal,
        comment: str = "",
        answer: Any = None,
        digest: str | None = None,
    ) -> ApprovalDecided:
        """Approve, reject or answer a pending request (``resume`` the run afterwards).

        Refused with :class:`~podium.errors.PermissionDenied` when ``by`` lacks the role or
        asked for it itself, and with :class:`~podium.errors.ApprovalMismatch` when ``digest``
        names another action, and with :class:`~podium.errors.ApprovalExpired` when the
        request expired on the store's clock (the expiry is recorded: denied, or escalated to
        its ``escalate_to`` role). Submitting the same decision again returns the first one.
        """
        return await inbox.decide(
            self.store, self.scope, approval_id, verdict, by,
            comment=comment, answer=answer, digest=digest,
        )  # fmt: skip

    async def result(self, run_id: str) -> RunResult:
        stored = await scoped_read(self.store, run_id, self.scope)
        return self._result(ReplayState.of(run_id, [(s.seq, s.event) for s in stored]))

    # -- reading, within the runtime's namespaces ---------------------------------------------

    async def get_run(self, run_id: str) -> RunRecord:
        """The index row of a run (``RunNotFound`` outside the runtime's namespaces)."""
        return await scoped_record(self.store, run_id, self.scope)

    async def read(
        self, run_id: str, *, after_seq: int = 0, verify: bool = False
    ) -> list[StoredEvent]:
        """A run's events (``RunNotFound`` outside the runtime's namespaces)."""
        return await scoped_read(self.store, run_id, self.scope, after_seq=after_seq, verify=verify)

    async def list_runs(self, query: RunFilter | None = None) -> list[RunRecord]:
        """Index rows in the runtime's namespaces, newest first (``query.namespace`` narrows
        them; another namespace finds nothing)."""
        return await scoped_list(self.store, query or RunFilter(), self.scope)

    async def _append_outside(self, run_id: str, event: Event) -> None:
        for _attempt in range(20):
            record = await scoped_record(self.store, run_id, self.scope)
            if record.status.terminal:
                raise RunStateError(f"run {run_id} is already {record.status.value}")
            try:
                seq = await self.store.append(run_id, [event], expected_seq=record.last_seq)
            except ConcurrencyError:
                continue
            self._tell(run_id, seq, event)
            return
        raise RunStateError(f"run {run_id}: could not append {event.type}: too much contention")

    def _tell(self, run_id: str, seq: int, event: Event) -> None:
        """Events appended from outside an execution reach the listeners too."""
        if not self.listeners:
            return
        stored = StoredEvent(run_id=run_id, seq=seq, ts=time.time(), event=event)
        for listener in self.listeners:
            listener(stored)

    def _replay_to_listeners(self, stored: list[StoredEvent]) -> None:
        """A listener with ``replay(events)`` (a tracer) learns the history before a resume,
        so spans continue where another process left off."""
        for listener in self.listeners:
            replay = getattr(listener, "replay", None)
            if callable(replay):
                replay(stored)

    def _result(self, state: ReplayState) -> RunResult:
        return result_of(state)


def _own_tags(tags: Sequence[str]) -> list[str]:
    """A run's tags without the ``forked-from:`` one it got as a fork (a fork of a fork is
    not a fork of the first run)."""
    return [tag for tag in tags if not tag.startswith("forked-from:")]


def _scope(namespace: str, namespaces: str | Iterable[str] | None) -> Namespaces:
    """The namespaces a runtime acts in: its own (default), ``namespaces``, or every one
    (``"*"``, an explicit opt-in). Its own must be one of them."""
    if namespace == EVERY:
        return Namespaces(every=True)
    check_name(namespace)
    scope = Namespaces.of(namespace if namespaces is None else namespaces)
    if not scope.allows(namespace):
        raise UserError(
            f"namespace {namespace!r} is not among the namespaces it acts in ({scope.describe()})"
        )
    return scope


def result_from(run_id: str, stored: Sequence[StoredEvent]) -> RunResult:
    """A run's result, folded from its stored events (a surface reading the journal)."""
    return result_of(ReplayState.of(run_id, [(s.seq, s.event) for s in stored]))


def result_of(state: ReplayState) -> RunResult:
    # one RunResult built once (dataclasses.replace of a base result costs as much again)
    terminal = state.terminal
    status, output, error, waiting = RunStatus.SUSPENDED, None, None, state.waiting_for
    if isinstance(terminal, RunCompleted):
        status, output, waiting = RunStatus.COMPLETED, terminal.output, ""
    elif isinstance(terminal, RunFailed):
        status, error, waiting = RunStatus.FAILED, terminal.error.describe(), ""
    elif isinstance(terminal, RunCancelledEvent):
        status, error, waiting = RunStatus.CANCELLED, terminal.reason or "cancelled", ""
    elif state.unknown:
        status, waiting = RunStatus.NEEDS_ATTENTION, ", ".join(sorted(state.unknown))
    return RunResult(
        run_id=state.run_id,
        status=status,
        output=output,
        error=error,
        waiting_for=waiting,
        usage=state.usage,
        model_calls=state.model_calls,
        tool_calls=state.tool_calls,
    )


def _classify(error: BaseException, redact: Callable[[str], str]) -> Event | _Diverged | None:
    """Turn how a pass ended into the event that records it (None: nothing to record)."""
    if isinstance(error, BaseExceptionGroup):
        leaves = list(_leaves(error))
        broken = next((e for e in leaves if _store_failed(e)), None)
        if broken is not None:
            raise broken  # not the run's failure: see below
        for kind in (RunCancelled, Suspend):
            found = next((e for e in leaves if isinstance(e, kind)), None)
            if found is not None:
                return _classify(found, redact)
        return _classify(leaves[0], redact) if leaves else None
    if isinstance(error, RunCancelled):
        return None
    if isinstance(error, Suspend):
        return RunSuspended(
            reason=error.reason, waiting_for=error.waiting_for, wake_at=error.wake_at, at=error.at
        )
    if isinstance(error, NonDeterminismError):
        return _Diverged(error)
    if _store_failed(error):
        # The journal could not be written or read (the database went away, the lease moved
        # on): the run did not fail, this execution did. Record nothing; whoever executes the
        # run next replays what was committed.
        raise error
    if isinstance(error, Exception):
        return RunFailed(error=ErrorInfo.of(error, redact=redact))
    raise error


def _store_failed(error: BaseException) -> bool:
    """An infrastructure failure of the store, as opposed to a payload it refused."""
    refused = (PayloadTooLargeError, InvalidPayloadError)
    return isinstance(error, StoreError) and not isinstance(error, refused)


@dataclass(frozen=True, slots=True)
class _Diverged:
    error: NonDeterminismError


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            out.extend(_leaves(error))
        else:
            out.append(error)
    return out
