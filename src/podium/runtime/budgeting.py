"""Budgets in a run: a ledger per run (and per agent that has its own budget), rebuilt from the
journal on every execution, so a crash never resets what was spent.

The run's ledger is the root; an agent with a ``budget`` gets a child ledger that draws from the
ledger of whoever runs it (its parent agent's, else the run's). Model calls reserve an estimate
before they go out (synchronously: parallel branches cannot both pass a check for the same
remaining budget) and settle the real usage after. Under a namespace budget, each call also
holds its estimate in the store (:mod:`podium.runtime.tenant_budget`) from before it goes out
until its usage is journaled.
"""

from __future__ import annotations

from typing import Any

from podium.agents import Agent
from podium.budget import Budget, Ledger, Reservation, Spend
from podium.events import RunStarted
from podium.prices import PriceTable
from podium.runtime import tenant_budget
from podium.runtime.context import Context
from podium.runtime.execution import Execution
from podium.runtime.tenant_budget import NamespaceBudget
from podium.store import Store

DEFAULT_MAX_OUTPUT_TOKENS = 1024
"""Output tokens reserved for a call whose settings give no ``max_tokens``."""


def run_ledger(
    spent: Spend,
    budget: Budget | None,
    prices: PriceTable,
    started_at: float,
    *,
    parent: Ledger | None = None,
) -> Ledger:
    """The run's ledger, with what its journal says was spent already."""
    if parent is not None:
        return parent.child(budget or Budget(), started_at=started_at, spent=spent, name="run")
    return Ledger(budget or Budget(), spent, started_at, prices, name="run")


async def attach(
    execution: Execution,
    store: Store,
    node: Any,
    started: RunStarted,
    default: Budget | None,
    namespace_budget: Budget | None,
) -> None:
    """Give an execution its run ledger and, under a namespace budget, its
    :class:`~podium.runtime.tenant_budget.NamespaceBudget`.

    The run's budget is the one journaled with it merged with ``default`` (the runtime's); the
    namespace's is ``namespace_budget`` merged with what ``node`` declares (a spec's). Holds
    the run left in the store (a process that died mid-call) are released first: what was
    spent is in the journal.
    """
    run_id = execution.kernel.run_id
    await store.release_spend(run_id=run_id)
    own = budget_from(started.budget)
    budget = own.merge(default) if own and default else own or default
    declared = tenant_budget.declared(node)
    tenant = (
        namespace_budget.merge(declared)
        if namespace_budget and declared
        else namespace_budget or declared
    )
    prices = execution.services.prices
    if tenant is not None:
        execution.namespace_budget = NamespaceBudget(
            store, started.namespace, run_id, tenant, prices
        )
    if budget is not None or tenant is not None:  # a ledger prices the estimate to hold
        execution.ledger = run_ledger(
            execution.kernel.spent(), budget, prices, execution.started_at
        )


async def hold_namespace(
    ctx: Context, model: str, ledger: Ledger | None, reservation: Reservation | None
) -> str | None:
    """Hold ``reservation``'s estimate against the namespace's budget (None: no such budget).

    Refused: the reservation is released and :class:`~podium.budget.BudgetExceeded` raised."""
    tenant = ctx.execution.namespace_budget
    if tenant is None or ledger is None or reservation is None:
        return None
    try:
        return await tenant.hold(model, reservation.estimate)
    except BaseException:
        ledger.release(reservation)
        raise


async def release_namespace(ctx: Context, hold_ids: list[str]) -> None:
    """Release holds once their call's usage is journaled (or the call failed)."""
    tenant = ctx.execution.namespace_budget
    while tenant is not None and hold_ids:
        await tenant.release(hold_ids.pop())


def current(ctx: Context) -> Ledger | None:
    """The ledger spending at ``ctx`` draws from: the innermost agent's, else the run's."""
    return ctx.frame.ledger or ctx.execution.ledger


async def agent_ledger(ctx: Context, agent: Agent) -> Ledger | None:
    """The agent's own ledger (if it has a budget), drawing from :func:`current`.

    Its wall time counts from the agent's first start (journaled, so a replay sees the same).
    """
    if agent.budget is None:
        return None
    execution = ctx.execution
    parent = current(ctx)
    if parent is None:  # no run budget: an unlimited root, so the agent's spend is counted
        parent = run_ledger(
            execution.kernel.spent(), None, execution.services.prices, execution.started_at
        )
        execution.ledger = parent
    started = await ctx.now() if agent.budget.wall_seconds is not None else None
    tokens, cost, steps = execution.kernel.spend_under(ctx.path)
    return parent.child(
        agent.budget,
        started_at=started,
        spent=Spend(tokens=tokens, cost_usd=cost, steps=steps),
        name=ctx.path,
    )


def budget_from(value: Any) -> Budget | None:
    """A budget journaled in ``run_started`` (a dict), or None."""
    if not isinstance(value, dict):
        return None
    return Budget(**value)


def charge_step(ctx: Context) -> None:
    """Count one tool step (run, refused or delegated alike) against the budget; a journaled
    tool result is a step when the ledger is rebuilt, so both counts agree after a crash."""
    ledger = current(ctx)
    if ledger is not None:
        ledger.charge_step(ctx.execution.clock.now())
