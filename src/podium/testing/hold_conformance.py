"""Spend-hold tests (namespace budgets) every :class:`~podium.store.Store` backend must pass.

:class:`~podium.testing.conformance.StoreConformance` inherits them; a backend gets them by
subclassing it as usual (they use its ``store`` fixture). What they pin down, beyond the
docstring of :meth:`~podium.store.Store.hold_spend`:

- a hold is granted only if journaled spend + live holds + the hold stays within every limit
  given (equal to the limit is within); a refusal writes nothing and reports the totals;
- holds of many concurrent callers never sum past the limit (they race on the store's
  connections: several for PostgreSQL);
- a hold stops counting when released (by id or by run), when it expires (``seconds=0``: at
  once), or when its run finishes; namespaces are independent.
"""

from __future__ import annotations

import itertools

import anyio
import pytest

from podium import events as ev
from podium.errors import StoreError
from podium.messages import ModelResponse, Usage
from podium.store.base import Store
from podium.store.holds import SpendHold

__all__ = ["HoldConformance"]

_IDS = itertools.count()
_LONG = 3600.0


def _hold(
    tokens: int, *, run_id: str = "r", namespace: str = "acme", cost: float = 0.0
) -> SpendHold:
    return SpendHold(
        hold_id=f"h{next(_IDS)}", namespace=namespace, run_id=run_id, tokens=tokens, cost_usd=cost
    )


async def _run_that_spent(store: Store, run_id: str, namespace: str, tokens: int) -> None:
    usage = Usage(input_tokens=tokens - 1, output_tokens=1)
    response = ModelResponse(text="x", usage=usage)
    call = ev.ModelCallCompleted(
        key="a/model#1", model="m", request_digest="d", response=response, cost_usd=0.25
    )
    started = ev.RunStarted(workflow="wf", input=None, namespace=namespace)
    await store.append(run_id, [started, ev.ExecutionStarted(owner="w"), call], expected_seq=0)


class HoldConformance:
    """Namespace spend holds, as tests. See the module docstring."""

    async def test_holds_are_granted_up_to_the_limit_and_refusals_write_nothing(
        self, store: Store
    ) -> None:
        for _ in range(3):
            check = await store.hold_spend(
                _hold(200), max_tokens=600, max_cost_usd=None, seconds=_LONG
            )
            assert check.granted
        refused = await store.hold_spend(_hold(1), max_tokens=600, max_cost_usd=None, seconds=_LONG)
        assert not refused.granted
        assert (refused.spent_tokens, refused.held_tokens) == (0, 600)
        assert await store.held_spend("acme") == (600, 0.0)
        assert await store.held_spend("other") == (0, 0.0)
        other = await store.hold_spend(
            _hold(600, namespace="other"), max_tokens=600, max_cost_usd=None, seconds=_LONG
        )
        assert other.granted  # namespaces are independent

    async def test_journaled_spend_counts_and_so_does_cost(self, store: Store) -> None:
        await _run_that_spent(store, "spent", "acme", 500)
        check = await store.hold_spend(_hold(101), max_tokens=600, max_cost_usd=None, seconds=_LONG)
        assert not check.granted
        assert (check.spent_tokens, check.spent_cost_usd) == (500, 0.25)
        assert (
            await store.hold_spend(_hold(100), max_tokens=600, max_cost_usd=None, seconds=_LONG)
        ).granted
        money = await store.hold_spend(
            _hold(0, cost=0.75), max_tokens=None, max_cost_usd=1.0, seconds=_LONG
        )
        assert money.granted  # 0.25 spent + 0.75 held: exactly the limit
        over = await store.hold_spend(
            _hold(0, cost=0.01), max_tokens=None, max_cost_usd=1.0, seconds=_LONG
        )
        assert not over.granted
        assert over.held_cost_usd == pytest.approx(0.75)

    async def test_concurrent_holds_never_sum_past_the_limit(self, store: Store) -> None:
        granted: list[bool] = []

        async def one() -> None:
            check = await store.hold_spend(
                _hold(100), max_tokens=1_000, max_cost_usd=None, seconds=_LONG
            )
            granted.append(check.granted)

        async with anyio.create_task_group() as tg:
            for _ in range(25):
                tg.start_soon(one)
        assert granted.count(True) == 10
        assert await store.held_spend("acme") == (1_000, 0.0)

    async def test_released_expired_and_finished_holds_stop_counting(self, store: Store) -> None:
        first, second = _hold(300, run_id="r1"), _hold(300, run_id="r2")
        for hold in (first, second):
            assert (
                await store.hold_spend(hold, max_tokens=600, max_cost_usd=None, seconds=_LONG)
            ).granted
        assert await store.release_spend(first.hold_id, "no-such-hold") == 1
        assert await store.release_spend(first.hold_id) == 0
        assert await store.held_spend("acme") == (300, 0.0)
        assert await store.release_spend(run_id="r2") == 1
        assert await store.held_spend("acme") == (0, 0.0)
        expired = await store.hold_spend(_hold(600), max_tokens=600, max_cost_usd=None, seconds=0)
        assert expired.granted
        assert await store.held_spend("acme") == (0, 0.0)  # expired at once
        await _run_that_spent(store, "done", "acme", 10)
        late = _hold(500, run_id="done")
        assert (
            await store.hold_spend(late, max_tokens=600, max_cost_usd=None, seconds=_LONG)
        ).granted
        assert await store.held_spend("acme") == (500, 0.0)
        await store.append("done", [ev.RunCompleted(output=None)], expected_seq=3)
        assert await store.held_spend("acme") == (0, 0.0)  # its run finished

    async def test_the_same_hold_id_twice_is_refused(self, store: Store) -> None:
        hold = _hold(10)
        assert (
            await store.hold_spend(hold, max_tokens=None, max_cost_usd=None, seconds=_LONG)
        ).granted
        with pytest.raises(StoreError, match="exists already"):
            await store.hold_spend(hold, max_tokens=None, max_cost_usd=None, seconds=_LONG)
        assert await store.held_spend("acme") == (10, 0.0)
