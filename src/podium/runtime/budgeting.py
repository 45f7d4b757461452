"""Budgets in a run: a ledger per run (and per agent that has its own budget), rebuilt from the
journal on every execution, so a crash never resets what was spent.

The run's ledger is the root; an agent with a ``budget`` gets a child ledger that draws from the
ledger of whoever runs it (its parent agent's, else the run's). Model calls reserve an estimate
before they go out (synchronously: parallel branches cannot both pass a check for the same
remaining budget) and settle the real usage after.
"""

from __future__ import annotations

from typing import Any

from podium.agents import Agent
from podium.budget import Budget, Ledger, Spend
from podium.prices import PriceTable
from podium.runtime.context import Context

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


def namespace_ledger(
    budget: Budget, tokens: int, cost: float, prices: PriceTable, namespace: str
) -> Ledger:
    """The tenant's ledger: what every run of the namespace spent (from the store's index).

    Runs executing at the same time in other processes are not seen until they commit: the
    limit is exact per process and may be overshot by what concurrent runs elsewhere spend.
    """
    spent = Spend(tokens=tokens, cost_usd=cost)
    return Ledger(budget, spent, None, prices, name=f"namespace {namespace}")


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
