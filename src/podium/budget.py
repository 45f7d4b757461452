"""Budgets: limits on what a run (or one agent in it) may spend, and a ledger that enforces them.

A :class:`Budget` holds optional limits (tokens, dollars, wall time, steps, fan-out, depth). A
:class:`Ledger` is the in-memory accounting of one execution of a run: what was already spent is
passed in (summed from the run's journal, so a crash or a resume never resets it), and every model
call goes through it::

    reservation = ledger.reserve(model, count_tokens(request, model), max_output_tokens, now)
    try:
        response = await call_the_model(request)
    except BaseException:
        ledger.release(reservation)        # the call failed: nothing is charged
        raise
    ledger.settle(reservation, response.usage)

**Reserve before, settle after.** :meth:`Ledger.reserve` is synchronous (it never awaits), so two
parallel branches can never both pass a check against the same remaining budget: the first
reservation is counted before the second one is checked. A reservation is refused with
:class:`BudgetExceeded` when ``spent + reserved + estimate`` would cross a limit.

**The guarantee.** When a reservation is granted, ``spent + reserved <= limit``; settling replaces
a call's estimate by its actual usage. So:

- if every estimate is an upper bound of what its call really uses (``max_output_tokens`` bounds
  the output; the input is counted by :func:`~podium.tokens.count_tokens`: the provider's
  tokenizer where Podium has one offline, else characters / 4), the settled spend never
  exceeds the limit, for any number of concurrent calls;
- otherwise the overshoot is at most the sum of ``actual - estimate`` over the calls that were in
  flight when the last reservation was granted: one call's difference when calls run one at a
  time, ``n`` calls' differences when ``n`` ran in parallel. Once the limit is crossed, every
  further reservation is refused.

Costs come from a :class:`~podium.prices.PriceTable`; a model the table does not know is priced
at ``fallback_price`` when a ledger in the chain has a money limit, and refused (``SpecError``)
when there is no fallback: an unknown model never silently costs 0 against a money limit.

A ledger may have a ``parent``: a per-agent ledger then draws from the run's. Reserving, settling,
releasing and charging a step do the same in every ledger up the chain, and a refusal by any of
them refuses the whole operation and leaves no reservation anywhere. A ledger is not thread-safe:
it belongs to one event loop, whose tasks may share it freely.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from podium.errors import FatalError, SpecError, UserError
from podium.messages import Usage
from podium.prices import DEFAULT_PRICES, ModelPrice, PriceTable
from podium.tokens import count_tokens, estimate_tokens

__all__ = [
    "Budget",
    "BudgetExceeded",
    "Ledger",
    "Reservation",
    "Spend",
    "count_tokens",
    "estimate_tokens",
    "parse_budget",
]

_WHOLE = ("tokens", "steps", "fan_out", "depth")
_AMOUNTS = ("cost_usd", "wall_seconds")
_UNITS = {
    "tokens": "{:,.0f} tokens",
    "cost_usd": "${:.6g}",
    "steps": "{:,.0f} steps",
    "wall_seconds": "{:.1f}s",
    "fan_out": "{:,.0f} branches",
    "depth": "depth {:,.0f}",
}


class BudgetExceeded(FatalError):
    """A limit of a :class:`Budget` would be crossed; nothing was reserved or charged.

    ``limit`` names it (``tokens``, ``cost_usd``, ``steps``, ``wall_seconds``, ``fan_out``,
    ``depth``); ``maximum`` is its value, ``spent`` what was spent (the elapsed time for
    ``wall_seconds``), ``reserved`` what calls in flight hold, ``requested`` what was asked for.
    """

    def __init__(
        self,
        limit: str,
        maximum: float,
        *,
        spent: float = 0.0,
        reserved: float = 0.0,
        requested: float = 0.0,
        what: str = "this step",
        scope: str = "",
    ) -> None:
        unit = _UNITS.get(limit, "{}").format
        head = f"budget{f' of {scope!r}' if scope else ''} exceeded: {limit} limit is "
        if limit == "wall_seconds":
            tail = f"{unit(spent)} have elapsed"
        elif limit in ("fan_out", "depth"):
            tail = f"{what} asks for {unit(requested)}"
        else:
            held = f"spent {unit(spent)}, reserved {unit(reserved)}"
            tail = f"{held}, {what} needs {unit(requested)}"
        super().__init__(f"{head}{unit(maximum)}; {tail}")
        self.limit = limit
        self.maximum = maximum
        self.spent = spent
        self.reserved = reserved
        self.requested = requested
        self.scope = scope


_N = TypeVar("_N", int, float)


def _stricter(a: _N | None, b: _N | None) -> _N | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def _check_number(owner: str, name: str, value: object, *, whole: bool) -> None:
    kind = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        noun = "a whole number" if whole else "a number"
        raise SpecError(f"{owner}.{name} must be {noun}, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise SpecError(f"{owner}.{name} must be finite and >= 0, got {value!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class Budget:
    """Limits; ``None`` means unlimited. Validated: numbers >= 0, booleans refused."""

    tokens: int | None = None
    cost_usd: float | None = None
    wall_seconds: float | None = None
    steps: int | None = None
    fan_out: int | None = None
    depth: int | None = None

    def __post_init__(self) -> None:
        for name in (*_WHOLE, *_AMOUNTS):
            value = getattr(self, name)
            if value is not None:
                _check_number("Budget", name, value, whole=name in _WHOLE)
                if name in _AMOUNTS:
                    object.__setattr__(self, name, float(value))

    def merge(self, other: Budget) -> Budget:
        """The stricter of each limit of ``self`` and ``other``."""
        return Budget(
            tokens=_stricter(self.tokens, other.tokens),
            cost_usd=_stricter(self.cost_usd, other.cost_usd),
            wall_seconds=_stricter(self.wall_seconds, other.wall_seconds),
            steps=_stricter(self.steps, other.steps),
            fan_out=_stricter(self.fan_out, other.fan_out),
            depth=_stricter(self.depth, other.depth),
        )


def parse_budget(text: str, what: str = "budget") -> Budget:
    """``NAME=VALUE[,NAME=VALUE...]`` (e.g. ``tokens=600,cost_usd=2.5``) as a :class:`Budget`;
    for the CLI. Names are the budget's fields; ``UserError`` names ``what`` and the problem."""
    values: dict[str, Any] = {}
    for part in text.replace(" ", "").split(","):
        name, sep, raw = part.partition("=")
        if not sep or name not in (*_WHOLE, *_AMOUNTS) or name in values:
            fields = ", ".join((*_WHOLE, *_AMOUNTS))
            raise UserError(f"{what} {text!r}: {part!r} is not NAME=VALUE (once each; {fields})")
        try:
            values[name] = int(raw) if name in _WHOLE else float(raw)
        except ValueError:
            kind = "a whole number" if name in _WHOLE else "a number"
            raise UserError(f"{what} {text!r}: {name} must be {kind}, got {raw!r}") from None
    try:
        return Budget(**values)
    except SpecError as error:
        raise UserError(f"{what} {text!r}: {error}") from None


@dataclass(frozen=True, kw_only=True, slots=True)
class Spend:
    """What was (or would be) spent: tokens, dollars, steps. Spends add up with ``+``."""

    tokens: int = 0
    cost_usd: float = 0.0
    steps: int = 0

    def __post_init__(self) -> None:
        _check_number("Spend", "tokens", self.tokens, whole=True)
        _check_number("Spend", "cost_usd", self.cost_usd, whole=False)
        _check_number("Spend", "steps", self.steps, whole=True)
        object.__setattr__(self, "cost_usd", float(self.cost_usd))

    def __add__(self, other: Spend) -> Spend:
        return Spend(
            tokens=self.tokens + other.tokens,
            cost_usd=self.cost_usd + other.cost_usd,
            steps=self.steps + other.steps,
        )


_NOTHING = Spend()


@dataclass(frozen=True, eq=False, slots=True)
class Reservation:
    """A granted reservation: settle it or release it exactly once, on the ledger that made it."""

    model: str
    estimate: Spend
    upstream: Reservation | None = field(default=None, repr=False)
    """The matching reservation in the parent ledger (internal)."""


class Ledger:
    """Accounting of one execution against ``budget``; see the module docstring.

    ``spent`` is what the run spent before this execution (from its journal); ``started_at`` is
    when the run (or the agent, for a child ledger) started, on the clock that passes ``now``, and
    is required with a ``wall_seconds`` limit. Charges are priced with ``prices`` (and
    ``fallback_price`` for unknown models) of the ledger they are made on, and the same charge goes
    to every ledger up the ``parent`` chain.
    """

    def __init__(
        self,
        budget: Budget,
        spent: Spend = _NOTHING,
        started_at: float | None = None,
        prices: PriceTable = DEFAULT_PRICES,
        fallback_price: ModelPrice | None = None,
        *,
        parent: Ledger | None = None,
        name: str = "",
    ) -> None:
        if budget.wall_seconds is not None and started_at is None:
            raise SpecError("a budget with wall_seconds needs the ledger's started_at")
        self.budget = budget
        self.started_at = started_at
        self.prices = prices
        self.fallback_price = fallback_price
        self.parent = parent
        self.name = name
        self._spent = spent
        self._open: dict[Reservation, None] = {}

    def child(
        self,
        budget: Budget,
        *,
        started_at: float | None = None,
        spent: Spend = _NOTHING,
        name: str = "",
    ) -> Ledger:
        """A ledger drawing from this one, with the same prices and fallback price."""
        return Ledger(
            budget, spent, started_at, self.prices, self.fallback_price, parent=self, name=name
        )

    @property
    def spent(self) -> Spend:
        """Everything settled so far, including the ``spent`` passed in."""
        return self._spent

    @property
    def reserved(self) -> Spend:
        """What the open reservations hold."""
        total = _NOTHING
        for reservation in self._open:
            total = total + reservation.estimate
        return total

    # -- model calls ------------------------------------------------------------------------

    def reserve(
        self, model: str, estimate_input_tokens: int, max_output_tokens: int, now: float
    ) -> Reservation:
        """Reserve one model call, or raise :class:`BudgetExceeded` and reserve nothing.

        The estimate is ``estimate_input_tokens + max_output_tokens`` tokens, their price (all
        input billed uncached) and one step.
        """
        _check_number("reserve", "estimate_input_tokens", estimate_input_tokens, whole=True)
        _check_number("reserve", "max_output_tokens", max_output_tokens, whole=True)
        usage = Usage(input_tokens=estimate_input_tokens, output_tokens=max_output_tokens)
        need = Spend(tokens=usage.total_tokens, cost_usd=self._cost(model, usage), steps=1)
        chain = list(self._chain())
        for ledger in chain:
            ledger._check(need, now, f"this call to {model}")
        upstream: Reservation | None = None
        for ledger in reversed(chain):
            upstream = Reservation(model, need, upstream)
            ledger._open[upstream] = None
        assert upstream is not None
        return upstream

    def settle(self, reservation: Reservation, usage: Usage) -> Spend:
        """Release ``reservation`` and charge ``usage`` (one step) instead; returns the charge."""
        charge = Spend(
            tokens=usage.total_tokens, cost_usd=self._cost(reservation.model, usage), steps=1
        )
        for ledger, _ in self._close(reservation):
            ledger._spent = ledger._spent + charge
        return charge

    def release(self, reservation: Reservation) -> None:
        """Drop ``reservation`` without charging anything (the call failed)."""
        for _ in self._close(reservation):
            pass

    # -- other steps and shapes -------------------------------------------------------------

    def charge_step(self, now: float | None = None) -> Spend:
        """Charge one non-model step (a tool call) toward ``steps``, checked like a reservation.

        The wall time is checked too when ``now`` is given.
        """
        need = Spend(steps=1)
        chain = list(self._chain())
        for ledger in chain:
            ledger._check(need, now, "this step")
        for ledger in chain:
            ledger._spent = ledger._spent + need
        return need

    def check_fan_out(self, width: int) -> None:
        """Refuse running ``width`` branches at once if a ledger in the chain forbids it."""
        _check_number("check_fan_out", "width", width, whole=True)
        for ledger in self._chain():
            limit = ledger.budget.fan_out
            if limit is not None and width > limit:
                raise BudgetExceeded(
                    "fan_out", limit, requested=width, what="this fan-out", scope=ledger.name
                )

    def check_depth(self, depth: int) -> None:
        """Refuse nesting at ``depth`` if a ledger in the chain forbids it."""
        _check_number("check_depth", "depth", depth, whole=True)
        for ledger in self._chain():
            limit = ledger.budget.depth
            if limit is not None and depth > limit:
                raise BudgetExceeded(
                    "depth", limit, requested=depth, what="this node", scope=ledger.name
                )

    def remaining(self, now: float) -> Budget:
        """What is left of every limit at ``now``, up the whole chain (fan-out, depth as set).

        Reserved amounts count as used. Suitable for bounding a child: ``budget.merge(...)``.
        """
        budget, spent = self.budget, self._spent + self.reserved
        elapsed = now - self.started_at if self.started_at is not None else 0.0
        own = Budget(
            tokens=_left(budget.tokens, spent.tokens),
            cost_usd=_left(budget.cost_usd, spent.cost_usd),
            wall_seconds=_left(budget.wall_seconds, elapsed),
            steps=_left(budget.steps, spent.steps),
            fan_out=budget.fan_out,
            depth=budget.depth,
        )
        return own if self.parent is None else own.merge(self.parent.remaining(now))

    # -- internals --------------------------------------------------------------------------

    def _chain(self) -> Iterator[Ledger]:
        ledger: Ledger | None = self
        while ledger is not None:
            yield ledger
            ledger = ledger.parent

    def _close(self, reservation: Reservation) -> list[tuple[Ledger, Reservation]]:
        """Remove ``reservation`` from every ledger up the chain, or from none."""
        pairs: list[tuple[Ledger, Reservation]] = []
        current: Reservation | None = reservation
        for ledger in self._chain():
            if current is None or current not in ledger._open:
                raise UserError(
                    f"reservation for {reservation.model} is not open on this ledger "
                    "(settled or released already, or made on another ledger)"
                )
            pairs.append((ledger, current))
            current = current.upstream
        for ledger, held in pairs:
            del ledger._open[held]
        return pairs

    def _cost(self, model: str, usage: Usage) -> float:
        cost = self.prices.cost(model, usage)
        if cost is not None:
            return cost
        if self.fallback_price is not None:
            return self.fallback_price.cost(usage)
        if any(ledger.budget.cost_usd is not None for ledger in self._chain()):
            raise SpecError(
                f"no price for model {model!r} in price table {self.prices.version!r} and no "
                "fallback_price, but the budget limits cost_usd: add the model with "
                "PriceTable.with_overrides or give the ledger a fallback_price"
            )
        return 0.0

    def _check(self, need: Spend, now: float | None, what: str) -> None:
        budget, spent, reserved = self.budget, self._spent, self.reserved
        for limit, maximum, used, held, asked in (
            ("tokens", budget.tokens, spent.tokens, reserved.tokens, need.tokens),
            ("cost_usd", budget.cost_usd, spent.cost_usd, reserved.cost_usd, need.cost_usd),
            ("steps", budget.steps, spent.steps, reserved.steps, need.steps),
        ):
            if maximum is not None and _over(used + held + asked, maximum):
                raise BudgetExceeded(
                    limit,
                    maximum,
                    spent=used,
                    reserved=held,
                    requested=asked,
                    what=what,
                    scope=self.name,
                )
        if budget.wall_seconds is not None and now is not None and self.started_at is not None:
            elapsed = now - self.started_at
            if elapsed > budget.wall_seconds:
                raise BudgetExceeded(
                    "wall_seconds", budget.wall_seconds, spent=elapsed, scope=self.name
                )


def _over(total: float, maximum: float) -> bool:
    """``total > maximum``, forgiving float rounding in summed dollar amounts."""
    return total > maximum and not math.isclose(total, maximum, rel_tol=1e-9, abs_tol=1e-12)


def _left(limit: _N | None, used: _N) -> _N | None:
    return None if limit is None else max(limit - used, 0)
