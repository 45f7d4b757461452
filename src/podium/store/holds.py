"""Spend holds: reservations against a namespace's budget, kept in the store.

A model call of a run under a namespace budget first *holds* its estimate in the store
(:meth:`~podium.store.Store.hold_spend`). The store grants it, atomically with the check, only
if what the namespace spent (the journaled usage of all its runs, deleted ones included) plus
what its live holds keep plus this estimate stays within the limits — one transaction on the
database (SQLite ``BEGIN IMMEDIATE``; PostgreSQL a row lock per namespace), so the limit holds
for any number of runs, processes and machines. When the call's usage is journaled the hold is
released (:meth:`~podium.store.Store.release_spend`); until then both count, which errs on the
safe side.

A hold is *live* while it has not expired (``expires_at`` on the store's clock) and its run is
not finished. Holds left by a process that died are released when the run is executed again
(every execution releases its run's holds before it starts: the journal says what was spent),
and otherwise stop counting when they expire or the run finishes.

:func:`decide` is the whole rule; each store applies it in its transaction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["SpendCheck", "SpendHold", "decide"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SpendHold:
    """What one call holds: ``tokens`` and ``cost_usd`` of ``namespace``, for ``run_id``."""

    hold_id: str
    namespace: str
    run_id: str
    tokens: int
    cost_usd: float


@dataclass(frozen=True, kw_only=True, slots=True)
class SpendCheck:
    """The answer to :meth:`~podium.store.Store.hold_spend`: granted or not, and the namespace's
    totals it was decided on (``spent_*``: journaled; ``held_*``: other live holds)."""

    granted: bool
    spent_tokens: int
    spent_cost_usd: float
    held_tokens: int
    held_cost_usd: float


def decide(
    hold: SpendHold,
    *,
    spent: tuple[int, float],
    held: tuple[int, float],
    max_tokens: int | None,
    max_cost_usd: float | None,
) -> SpendCheck:
    """Grant ``hold`` if ``spent + held + hold`` stays within both limits (None: unlimited).
    Dollar sums forgive float rounding."""
    tokens_ok = max_tokens is None or spent[0] + held[0] + hold.tokens <= max_tokens
    total = spent[1] + held[1] + hold.cost_usd
    cost_ok = (
        max_cost_usd is None
        or total <= max_cost_usd
        or math.isclose(total, max_cost_usd, rel_tol=1e-9, abs_tol=1e-12)
    )
    return SpendCheck(
        granted=tokens_ok and cost_ok,
        spent_tokens=int(spent[0]),
        spent_cost_usd=float(spent[1]),
        held_tokens=int(held[0]),
        held_cost_usd=float(held[1]),
    )
