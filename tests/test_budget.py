from __future__ import annotations

import json
import math
from pathlib import Path

import anyio
import anyio.lowlevel
import genai_prices
import pytest

from podium.budget import Budget, BudgetExceeded, Ledger, Reservation, Spend, estimate_tokens
from podium.errors import PodiumError, SpecError, UserError
from podium.messages import (
    AssistantMessage,
    ModelRequest,
    SystemMessage,
    ToolCall,
    ToolDefinition,
    ToolMessage,
    Usage,
    UserMessage,
)
from podium.prices import DEFAULT_PRICES, ModelPrice, PriceTable

# -- prices ------------------------------------------------------------------------------------


def test_longest_prefix_wins() -> None:
    assert DEFAULT_PRICES.version == f"genai-prices {genai_prices.__version__}"
    table = PriceTable({"p:a": ModelPrice(1, 1), "p:ab": ModelPrice(2, 2)}, "t")
    assert table.price_of("p:abc") == ModelPrice(2, 2)
    assert table.price_of("p:a") == ModelPrice(1, 1)
    assert table.price_of("openai:gpt-4.1") is None  # no dataset behind a table of its own


def test_default_prices_come_from_the_genai_prices_dataset() -> None:
    usage = Usage(input_tokens=300_000, output_tokens=20_000, cached_tokens=100_000)
    theirs = genai_prices.Usage(
        input_tokens=300_000, output_tokens=20_000, cache_read_tokens=100_000
    )
    for model in ("openai:gpt-4.1-mini-2025-04-14", "openai:gpt-4-turbo", "google:gemini-2.5-pro"):
        provider, _, name = model.partition(":")
        expected = genai_prices.calc_price(theirs, name, provider_id=provider).total_price
        assert DEFAULT_PRICES.cost(model, usage) == pytest.approx(float(expected))
    mini = DEFAULT_PRICES.price_of("openai:gpt-4.1-mini-2025-04-14")
    assert mini is not None
    assert mini.cost(usage) == pytest.approx(DEFAULT_PRICES.cost("openai:gpt-4.1-mini", usage))
    # tiered prices: past 200k input tokens every token costs the higher tier
    small, large = Usage(input_tokens=100_000), Usage(input_tokens=300_000)
    per_small = DEFAULT_PRICES.cost("google:gemini-2.5-pro", small)
    per_large = DEFAULT_PRICES.cost("google:gemini-2.5-pro", large)
    assert per_small is not None
    assert per_large is not None
    assert per_large > 3 * per_small


def test_unknown_model_has_no_price() -> None:
    assert DEFAULT_PRICES.price_of("acme:large") is None
    assert DEFAULT_PRICES.cost("acme:large", Usage(input_tokens=10)) is None
    assert DEFAULT_PRICES.cost("openai:my-local-llama", Usage(input_tokens=10)) is None
    assert DEFAULT_PRICES.price_of("gpt-4.1") is None  # keys are provider:model


def test_test_models_cost_nothing() -> None:
    usage = Usage(input_tokens=10_000, output_tokens=5_000)
    assert DEFAULT_PRICES.cost("scripted:model", usage) == 0.0
    assert DEFAULT_PRICES.cost("function:model", usage) == 0.0


def test_cost_bills_cached_tokens_at_the_cached_price() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000, cached_tokens=400_000)
    assert ModelPrice(2.0, 8.0, 0.5).cost(usage) == pytest.approx(0.6 * 2 + 0.4 * 0.5 + 0.1 * 8)
    # Without a cached price, cached input is billed as input.
    assert ModelPrice(2.0, 8.0).cost(usage) == pytest.approx(1.0 * 2 + 0.1 * 8)
    table = PriceTable({"openai:gpt-4.1": ModelPrice(2.0, 8.0, 0.5)}, "t")
    assert table.cost("openai:gpt-4.1", usage) == pytest.approx(2.2)


def test_overrides_make_a_new_table_in_front_of_the_dataset() -> None:
    table = DEFAULT_PRICES.with_overrides(
        {
            "openai:gpt-4.1": ModelPrice(1.0, 4.0),
            "acme:large": {"input_per_mtok": 2, "output_per_mtok": 6},
        }
    )
    assert table.version == f"{DEFAULT_PRICES.version}+overrides"
    assert table.price_of("openai:gpt-4.1-2025") == ModelPrice(1.0, 4.0)
    # the override wins over the dataset for every model it prefixes, gpt-4.1-mini included
    assert table.price_of("openai:gpt-4.1-mini") == ModelPrice(1.0, 4.0)
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    assert table.cost("openai:gpt-4o", usage) == DEFAULT_PRICES.cost("openai:gpt-4o", usage)
    assert table.cost("openai:gpt-4o", usage) is not None  # the dataset still prices the rest
    assert table.price_of("acme:large-2") == ModelPrice(2.0, 6.0)
    assert DEFAULT_PRICES.price_of("acme:large") is None
    assert DEFAULT_PRICES.with_overrides({}, version="mine").version == "mine"
    with pytest.raises(TypeError):
        table.prices["x:y"] = ModelPrice(1, 1)  # type: ignore[index]


def test_bad_override_names_the_model_and_field() -> None:
    with pytest.raises(SpecError, match=r"model 'acme:x', field 'output_per_mtok'"):
        DEFAULT_PRICES.with_overrides({"acme:x": {"input_per_mtok": 1, "output_per_mtok": -2}})


def test_model_price_refuses_bad_numbers() -> None:
    for args in [(True, 1.0), (-1.0, 1.0), (1.0, math.nan), (1.0, 1.0, math.inf), ("1", 1.0)]:
        with pytest.raises(SpecError, match="ModelPrice"):
            ModelPrice(*args)  # type: ignore[arg-type]


def test_from_file_json_and_toml(tmp_path: Path) -> None:
    data = {
        "version": "acme-1",
        "prices": {"openai:gpt-4.1": {"input_per_mtok": 1.5, "output_per_mtok": 6}},
    }
    as_json = tmp_path / "prices.json"
    as_json.write_text(json.dumps(data))
    as_toml = tmp_path / "prices.toml"
    as_toml.write_text(
        """
        version = "acme-1"
        [prices."openai:gpt-4.1"]
        input_per_mtok = 1.5
        output_per_mtok = 6
        """
    )
    expected = PriceTable({"openai:gpt-4.1": ModelPrice(1.5, 6.0)}, "acme-1")
    assert PriceTable.from_file(as_json) == expected
    assert PriceTable.from_file(str(as_toml)) == expected
    assert PriceTable.from_dict(data) == expected


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            {"version": "v", "prices": {"openai:x": {"input_per_mtok": -1, "output_per_mtok": 1}}},
            r"model 'openai:x', field 'input_per_mtok': Input should be greater than or equal to 0",
        ),
        (
            {
                "version": "v",
                "prices": {"openai:x": {"input_per_mtok": True, "output_per_mtok": 1}},
            },
            r"model 'openai:x', field 'input_per_mtok': Input should be a valid number",
        ),
        (
            {"version": "v", "prices": {"openai:x": {"input": 1, "output_per_mtok": 1}}},
            r"field 'input_per_mtok': Field required.*\n.*field 'input': Unexpected keyword",
        ),
        (
            {"version": "v", "prices": {"openai:x": 3}},
            r"model 'openai:x': Input should be a dictionary",
        ),
        ({"prices": {}}, r"field 'version': Field required"),
        ({"version": "v", "prices": {}, "currency": "EUR"}, r"field 'currency': Extra inputs"),
    ],
)
def test_bad_price_file_is_a_clear_error(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(content))
    with pytest.raises(SpecError, match=message) as caught:
        PriceTable.from_file(path)
    assert str(path) in str(caught.value)


def test_unreadable_price_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": "v", "prices": {')
    with pytest.raises(SpecError, match=r"broken.json: cannot read it"):
        PriceTable.from_file(broken)
    with pytest.raises(SpecError, match=r"cannot read it"):
        PriceTable.from_file(tmp_path / "missing.toml")
    with pytest.raises(SpecError, match=r"expected a .json or .toml file"):
        PriceTable.from_file(tmp_path / "prices.yaml")
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    with pytest.raises(SpecError, match=r"an object at the top level"):
        PriceTable.from_file(listed)


# -- budgets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "limits",
    [
        {"tokens": -1},
        {"tokens": True},
        {"tokens": 1.5},
        {"steps": "3"},
        {"fan_out": -2},
        {"depth": False},
        {"cost_usd": True},
        {"cost_usd": -0.01},
        {"cost_usd": math.nan},
        {"wall_seconds": math.inf},
    ],
)
def test_budget_refuses_bad_limits(limits: dict[str, object]) -> None:
    name = next(iter(limits))
    with pytest.raises(SpecError, match=rf"Budget\.{name} must be"):
        Budget(**limits)  # type: ignore[arg-type]


def test_budget_accepts_zero_and_coerces_amounts() -> None:
    budget = Budget(tokens=0, cost_usd=2, wall_seconds=0, steps=0, fan_out=0, depth=0)
    assert budget.cost_usd == 2.0
    assert isinstance(budget.cost_usd, float)
    assert Budget() == Budget(tokens=None)


def test_merge_takes_the_stricter_limit() -> None:
    run = Budget(tokens=10_000, cost_usd=1.0, steps=50, depth=3)
    agent = Budget(tokens=2_000, cost_usd=5.0, wall_seconds=30, fan_out=4)
    assert run.merge(agent) == Budget(
        tokens=2_000, cost_usd=1.0, wall_seconds=30, steps=50, fan_out=4, depth=3
    )
    assert run.merge(agent) == agent.merge(run)
    assert Budget().merge(run) == run


def test_spend_adds_up_and_is_validated() -> None:
    total = Spend(tokens=10, cost_usd=0.5, steps=1) + Spend(tokens=5, cost_usd=0.25, steps=2)
    assert total == Spend(tokens=15, cost_usd=0.75, steps=3)
    with pytest.raises(SpecError, match=r"Spend\.tokens"):
        Spend(tokens=-1)
    with pytest.raises(SpecError, match=r"Spend\.steps"):
        Spend(steps=True)


def test_budget_exceeded_is_a_podium_error() -> None:
    error = BudgetExceeded("tokens", 100, spent=80, reserved=10, requested=20, scope="run")
    assert isinstance(error, PodiumError)
    assert (error.limit, error.maximum, error.spent, error.reserved, error.requested) == (
        "tokens",
        100,
        80,
        10,
        20,
    )
    assert str(error) == (
        "budget of 'run' exceeded: tokens limit is 100 tokens; "
        "spent 80 tokens, reserved 10 tokens, this step needs 20 tokens"
    )


# -- the ledger ---------------------------------------------------------------------------------

GPT = "openai:gpt-4.1"  # $2 / $8 per million tokens


def test_tokens_limit_counts_spent_reserved_and_the_estimate() -> None:
    ledger = Ledger(Budget(tokens=1_000), Spend(tokens=300), name="run")
    first = ledger.reserve(GPT, 200, 300, now=0)
    assert ledger.reserved.tokens == 500
    with pytest.raises(BudgetExceeded) as caught:
        ledger.reserve(GPT, 100, 150, now=0)
    error = caught.value
    assert error.limit == "tokens"
    assert (error.maximum, error.spent, error.reserved, error.requested) == (1000, 300, 500, 250)
    assert str(error) == (
        "budget of 'run' exceeded: tokens limit is 1,000 tokens; spent 300 tokens, "
        "reserved 500 tokens, this call to openai:gpt-4.1 needs 250 tokens"
    )
    assert ledger.reserved.tokens == 500  # the refusal reserved nothing
    ledger.reserve(GPT, 100, 100, now=0)  # exactly at the limit is allowed
    assert ledger.reserved.tokens + ledger.spent.tokens == 1_000
    ledger.release(first)
    assert ledger.reserved.tokens == 200


def test_cost_limit_prices_the_estimate() -> None:
    ledger = Ledger(Budget(cost_usd=0.01))
    # 1,000 input at $2/M + 1,000 output at $8/M = $0.01
    reservation = ledger.reserve(GPT, 1_000, 1_000, now=0)
    assert reservation.estimate.tokens == 2_000
    assert reservation.estimate.cost_usd == pytest.approx(0.01)
    assert reservation.estimate.steps == 1
    with pytest.raises(BudgetExceeded, match=r"cost_usd limit is \$0\.01; spent \$0, reserved"):
        ledger.reserve(GPT, 1, 0, now=0)
    charge = ledger.settle(reservation, Usage(input_tokens=500, output_tokens=250))
    assert (charge.tokens, charge.steps) == (750, 1)
    assert charge.cost_usd == pytest.approx(0.003)
    assert ledger.spent == charge
    assert ledger.reserved == Spend()
    ledger.reserve(GPT, 1_000, 500, now=0)  # $0.006 fits in the $0.007 left


def test_steps_limit_counts_model_calls_and_tool_steps() -> None:
    ledger = Ledger(Budget(steps=3))
    ledger.settle(ledger.reserve(GPT, 1, 1, now=0), Usage(input_tokens=1))
    assert ledger.charge_step() == Spend(steps=1)
    pending = ledger.reserve(GPT, 1, 1, now=0)
    with pytest.raises(BudgetExceeded, match=r"steps limit is 3 steps; spent 2 steps, reserved 1"):
        ledger.charge_step()
    with pytest.raises(BudgetExceeded, match="steps"):
        ledger.reserve(GPT, 1, 1, now=0)
    ledger.release(pending)
    ledger.charge_step()
    assert ledger.spent.steps == 3


def test_wall_time_counts_from_the_runs_start() -> None:
    with pytest.raises(SpecError, match="started_at"):
        Ledger(Budget(wall_seconds=10))
    ledger = Ledger(Budget(wall_seconds=10), started_at=100.0)
    ledger.reserve(GPT, 1, 1, now=110.0)
    with pytest.raises(BudgetExceeded, match=r"wall_seconds limit is 10.0s; 10.5s have elapsed"):
        ledger.reserve(GPT, 1, 1, now=110.5)
    with pytest.raises(BudgetExceeded, match="wall_seconds"):
        ledger.charge_step(now=111)
    ledger.charge_step()  # without a time, only steps are checked


def test_fan_out_and_depth() -> None:
    ledger = Ledger(Budget(fan_out=4, depth=2))
    ledger.check_fan_out(4)
    ledger.check_depth(2)
    with pytest.raises(BudgetExceeded, match=r"fan_out limit is 4 branches; .* asks for 5"):
        ledger.check_fan_out(5)
    with pytest.raises(BudgetExceeded, match=r"depth limit is depth 2; .* asks for depth 3"):
        ledger.check_depth(3)
    Ledger(Budget()).check_fan_out(1_000)


def test_settle_and_release_exactly_once_on_their_ledger() -> None:
    ledger = Ledger(Budget(tokens=100))
    other = Ledger(Budget(tokens=100))
    reservation = ledger.reserve(GPT, 10, 10, now=0)
    with pytest.raises(UserError, match="not open"):
        other.settle(reservation, Usage())
    ledger.settle(reservation, Usage(input_tokens=5, output_tokens=5))
    with pytest.raises(UserError, match="not open"):
        ledger.settle(reservation, Usage())
    with pytest.raises(UserError, match="not open"):
        ledger.release(reservation)
    failed = ledger.reserve(GPT, 10, 10, now=0)
    ledger.release(failed)
    assert (ledger.spent.tokens, ledger.spent.steps) == (10, 1)
    assert ledger.spent.cost_usd == pytest.approx(5 * 2e-6 + 5 * 8e-6)


def test_unknown_model_is_never_free_against_a_money_limit() -> None:
    with pytest.raises(SpecError, match=r"no price for model 'acme:big'.*fallback_price"):
        Ledger(Budget(cost_usd=1.0)).reserve("acme:big", 10, 10, now=0)
    fallback = ModelPrice(10.0, 30.0)
    ledger = Ledger(Budget(cost_usd=1.0), fallback_price=fallback)
    reservation = ledger.reserve("acme:big", 1_000, 1_000, now=0)
    assert reservation.estimate.cost_usd == pytest.approx(0.04)
    # A child without a money limit still may not price at 0 against its parent's.
    child = Ledger(Budget(cost_usd=1.0)).child(Budget(tokens=100))
    with pytest.raises(SpecError, match="no price"):
        child.reserve("acme:big", 1, 1, now=0)
    # Without a money limit an unknown model is counted in tokens only.
    free = Ledger(Budget(tokens=100))
    assert free.settle(free.reserve("acme:big", 1, 1, now=0), Usage(input_tokens=1)).cost_usd == 0


def test_remaining_counts_reservations_and_the_parent() -> None:
    parent = Ledger(Budget(tokens=1_000, cost_usd=1.0, fan_out=8), started_at=0.0)
    child = parent.child(Budget(tokens=600, wall_seconds=60, depth=2), started_at=10.0)
    child.reserve("scripted:model", 100, 100, now=10)
    parent.charge_step()
    assert child.remaining(now=25) == Budget(
        tokens=400, cost_usd=1.0, wall_seconds=45.0, steps=None, fan_out=8, depth=2
    )
    parent.reserve("scripted:model", 500, 0, now=10)
    assert child.remaining(now=100).tokens == 300
    assert child.remaining(now=100).wall_seconds == 0.0


# -- parent and child ledgers -------------------------------------------------------------------


def test_child_draws_from_the_parent() -> None:
    run = Ledger(Budget(tokens=1_000), name="run")
    triage = run.child(Budget(tokens=600), name="triage")
    billing = run.child(Budget(tokens=600), name="billing")
    reservation = triage.reserve(GPT, 300, 200, now=0)
    assert run.reserved.tokens == triage.reserved.tokens == 500
    charge = triage.settle(reservation, Usage(input_tokens=250, output_tokens=250))
    assert run.spent == triage.spent == charge
    assert run.reserved == triage.reserved == Spend()
    billing.reserve(GPT, 300, 100, now=0)
    assert run.reserved.tokens == 400
    # billing may hold 200 more, but the run has only 100 left.
    with pytest.raises(BudgetExceeded, match=r"budget of 'run' exceeded: tokens limit is 1,000"):
        billing.reserve(GPT, 100, 50, now=0)
    assert billing.reserved.tokens == 400  # the refused reservation left nothing behind
    assert run.reserved.tokens == 400
    assert billing.remaining(now=0).tokens == 100


def test_refusal_by_the_child_leaves_the_parent_untouched() -> None:
    run = Ledger(Budget(tokens=1_000))
    agent = run.child(Budget(tokens=100), name="agent")
    with pytest.raises(BudgetExceeded, match=r"budget of 'agent' exceeded"):
        agent.reserve(GPT, 100, 1, now=0)
    assert run.reserved == agent.reserved == Spend()
    capped = run.child(Budget(steps=0), name="capped")
    with pytest.raises(BudgetExceeded, match=r"budget of 'capped' exceeded: steps"):
        capped.charge_step()
    assert run.spent == capped.spent == Spend()


def test_parent_chain_release_steps_and_shapes() -> None:
    run = Ledger(Budget(steps=2, fan_out=3, depth=4))
    team = run.child(Budget(), name="team")
    worker = team.child(Budget(steps=5), name="worker")
    reservation = worker.reserve("scripted:model", 1, 1, now=0)
    assert isinstance(reservation, Reservation)
    assert run.reserved.steps == team.reserved.steps == worker.reserved.steps == 1
    worker.release(reservation)
    assert run.reserved == team.reserved == worker.reserved == Spend()
    assert run.spent == Spend()
    worker.charge_step()
    worker.charge_step()
    assert (run.spent.steps, team.spent.steps, worker.spent.steps) == (2, 2, 2)
    with pytest.raises(BudgetExceeded, match="steps"):
        worker.charge_step()
    assert worker.spent.steps == 2
    with pytest.raises(BudgetExceeded, match="fan_out"):
        worker.check_fan_out(4)
    with pytest.raises(BudgetExceeded, match="depth"):
        worker.check_depth(5)
    # A child's reservation is settled through the child, never directly on a parent.
    run_alone = Ledger(Budget())
    nested = run_alone.child(Budget())
    reservation = nested.reserve("scripted:model", 1, 1, now=0)
    with pytest.raises(UserError, match="not open"):
        run_alone.settle(reservation, Usage())
    nested.settle(reservation, Usage(output_tokens=2))
    assert run_alone.spent.tokens == nested.spent.tokens == 2


# -- concurrency --------------------------------------------------------------------------------


class _Calls:
    """Concurrent model calls through one ledger, recording what was in flight at each grant."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.in_flight: dict[int, int] = {}  # call id -> actual - estimated tokens
        self.at_last_grant: dict[int, int] = {}
        self.granted = 0
        self.refused = 0
        self.refused_after_crossing = True

    async def call(self, call_id: int, estimate: tuple[int, int], actual: Usage) -> None:
        try:
            reservation = self.ledger.reserve(GPT, *estimate, now=0)
        except BudgetExceeded:
            self.refused += 1
            return
        if self.ledger.spent.tokens > (self.ledger.budget.tokens or 0):
            self.refused_after_crossing = False
        self.granted += 1
        self.in_flight[call_id] = actual.total_tokens - sum(estimate)
        self.at_last_grant = dict(self.in_flight)
        await anyio.lowlevel.checkpoint()
        self.ledger.settle(reservation, actual)
        del self.in_flight[call_id]


async def _run_calls(calls: _Calls, count: int, rounds: int, actual: Usage) -> None:
    async def worker(index: int) -> None:
        for round_ in range(rounds):
            await calls.call(index * rounds + round_, (60, 40), actual)
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as group:
        for index in range(count):
            group.start_soon(worker, index)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("budget", "at_once"),
    [
        (Budget(tokens=2_000), 20),  # 20 estimates of 100 tokens fit at once
        (Budget(cost_usd=0.004), 9),  # 9 estimates of $0.00044 fit at once
    ],
)
async def test_concurrent_reservations_never_overspend(budget: Budget, at_once: int) -> None:
    ledger = Ledger(budget)
    calls = _Calls(ledger)
    await _run_calls(calls, count=50, rounds=4, actual=Usage(input_tokens=55, output_tokens=30))
    assert calls.granted > at_once  # settled calls gave back what they did not use
    assert calls.refused > 0
    assert ledger.reserved == Spend()
    assert ledger.spent.tokens == 85 * calls.granted
    assert ledger.spent.tokens <= (budget.tokens or math.inf)
    assert ledger.spent.cost_usd <= (budget.cost_usd or math.inf)
    assert ledger.spent.steps == calls.granted


@pytest.mark.anyio
async def test_concurrent_underestimates_overshoot_by_the_calls_in_flight_only() -> None:
    ledger = Ledger(Budget(tokens=2_000))
    calls = _Calls(ledger)
    actual = Usage(input_tokens=70, output_tokens=40)  # 10 tokens more than estimated
    await _run_calls(calls, count=50, rounds=4, actual=actual)
    overshoot = ledger.spent.tokens - 2_000
    assert overshoot > 10  # more than one call's difference: 20 calls were in flight
    assert overshoot <= sum(calls.at_last_grant.values())
    assert calls.refused_after_crossing  # nothing was granted once the limit was crossed
    assert ledger.reserved == Spend()


@pytest.mark.anyio
async def test_one_call_at_a_time_overshoots_by_at_most_one_calls_difference() -> None:
    ledger = Ledger(Budget(tokens=1_940))  # 16 calls of 115, then room for one estimate
    calls = _Calls(ledger)
    limiter = anyio.CapacityLimiter(1)
    actual = Usage(input_tokens=75, output_tokens=40)  # 15 tokens more than estimated

    async def worker(index: int) -> None:
        for round_ in range(4):
            async with limiter:
                await calls.call(index * 4 + round_, (60, 40), actual)

    async with anyio.create_task_group() as group:
        for index in range(50):
            group.start_soon(worker, index)
    overshoot = ledger.spent.tokens - 1_940
    assert 0 < overshoot <= 15
    assert calls.refused > 0


# -- estimating tokens --------------------------------------------------------------------------


def test_estimate_tokens_is_characters_over_four() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("x" * 10, chars_per_token=2.5) == 4
    with pytest.raises(UserError):
        estimate_tokens("x", chars_per_token=0)


def test_estimate_tokens_of_messages_and_requests() -> None:
    messages = (
        SystemMessage(content="x" * 40),
        UserMessage(content="y" * 40),
        AssistantMessage(tool_calls=(ToolCall(id="1", name="look", arguments='{"a":1234}'),)),
        ToolMessage(tool_call_id="1", name="look", content="z" * 6),
    )
    # (40 + 40 + 14 + 10) / 4 = 26, plus 4 per message.
    assert estimate_tokens(messages) == 26 + 16
    tool = ToolDefinition(name="look", description="d" * 8, parameters={"type": "object"})
    request = ModelRequest(messages=messages, tools=(tool,), output_schema={"type": "string"})
    # + "look" + 8 + len('{"type":"object"}') = 29, + len('{"type":"string"}') = 17
    assert estimate_tokens(request) == math.ceil((104 + 29 + 17) / 4) + 4 * 5
