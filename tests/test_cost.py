"""Cost rollups equal hand-computed values: by run, agent, model, namespace and day."""

from __future__ import annotations

import datetime as dt
import importlib.util
import time
from pathlib import Path
from types import ModuleType

import pytest

from podium import Runtime
from podium.events import ModelCallCompleted, NodeFinished, NodeStarted, RunStarted
from podium.messages import ModelResponse, Usage
from podium.observability.cost import (
    CostRow,
    cost_report,
    model_calls,
    node_costs,
    reprice,
    rollup,
)
from podium.prices import ModelPrice, PriceTable
from podium.store import MemoryStore, StoredEvent


def _app() -> ModuleType:
    path = Path(__file__).parent / "apps" / "inspect_app.py"
    spec = importlib.util.spec_from_file_location("inspect_app", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


app = _app()

# Hand-computed with PRICES (USD per million tokens): acme:big 10 in / 30 out / 1 cached,
# acme:small 1 in / 2 out (no cached price: cached input at the full price).
RESEARCHER = (600 * 10 + 400 * 1 + 200 * 30) / 1e6  # 1000 in (400 cached), 200 out = 0.0124
WRITER = (2000 * 1 + 500 * 2) / 1e6  # 2000 in (1000 cached at full price), 500 out = 0.003
ANALYST = (3000 * 10 + 100 * 30) / 1e6  # 3000 in, 100 out = 0.033
# guesser: acme:mystery, 500 in, 50 out, no price


async def _two_namespaces() -> tuple[MemoryStore, str, str]:
    store = MemoryStore()
    team_a = Runtime(store, namespace="team-a", prices=app.PRICES)
    team_b = Runtime(store, namespace="team-b", prices=app.PRICES)
    first = await team_a.run(app.research, "topic")
    second = await team_b.run(app.panel, "question")
    assert first.status.value == second.status.value == "completed"
    return store, first.run_id, second.run_id


def _row(rows: tuple[CostRow, ...], key: str) -> CostRow:
    return next(r for r in rows if r.key == key)


@pytest.mark.anyio
async def test_rollups_equal_hand_computed_values() -> None:
    store, run_a, run_b = await _two_namespaces()
    report = await cost_report(store)

    total = report.total
    assert (total.calls, total.unpriced) == (4, 1)
    assert (total.input_tokens, total.cached_tokens, total.output_tokens) == (6500, 1400, 850)
    assert total.cost_usd == pytest.approx(RESEARCHER + WRITER + ANALYST)
    assert total.cost_usd == pytest.approx(0.0484)

    models = report.rows("model")
    assert [r.key for r in models] == ["acme:big", "acme:small", "acme:mystery"]  # by cost
    big = _row(models, "acme:big")
    assert (big.calls, big.input_tokens, big.cached_tokens, big.output_tokens) == (
        2,
        4000,
        400,
        300,
    )
    assert big.cost_usd == pytest.approx(RESEARCHER + ANALYST)
    assert _row(models, "acme:small").cost_usd == pytest.approx(WRITER)
    mystery = _row(models, "acme:mystery")
    assert (mystery.calls, mystery.unpriced, mystery.cost_usd) == (1, 1, 0.0)
    assert (mystery.input_tokens, mystery.output_tokens) == (500, 50)

    runs = report.rows("run")
    assert _row(runs, run_a).cost_usd == pytest.approx(RESEARCHER + WRITER)
    assert _row(runs, run_b).cost_usd == pytest.approx(ANALYST)
    assert (_row(runs, run_b).calls, _row(runs, run_b).unpriced) == (2, 1)
    for run_id in (run_a, run_b):  # the index's fold agrees with the rollup
        assert (await store.get_run(run_id)).cost_usd == pytest.approx(_row(runs, run_id).cost_usd)

    spaces = report.rows("namespace")
    assert _row(spaces, "team-a").cost_usd == pytest.approx(0.0154)
    assert _row(spaces, "team-b").cost_usd == pytest.approx(0.033)
    assert _row(spaces, "team-b").unpriced == 1

    agents = {r.key: r for r in report.rows("agent")}
    assert set(agents) == {"research/researcher", "research/writer", "panel[big]", "panel[guess]"}
    assert agents["research/researcher"].cost_usd == pytest.approx(RESEARCHER)
    assert agents["research/writer"].cost_usd == pytest.approx(WRITER)
    assert agents["panel[big]"].cost_usd == pytest.approx(ANALYST)
    assert agents["panel[guess]"].unpriced == 1

    today = dt.datetime.now(dt.UTC).date().isoformat()
    [day] = report.rows("day")
    assert day.key == today or day.key < today  # a run across midnight: still one row here
    assert day.cost_usd == pytest.approx(0.0484)


@pytest.mark.anyio
async def test_agent_rows_add_up_across_runs_and_namespaces_filter() -> None:
    store, _, _ = await _two_namespaces()
    await Runtime(store, namespace="team-a", prices=app.PRICES).run(app.research, "again")
    report = await cost_report(store, namespace="team-a", by=("agent", "run"))
    researcher = _row(report.rows("agent"), "research/researcher")
    assert researcher.calls == 2
    assert researcher.cost_usd == pytest.approx(2 * RESEARCHER)
    assert report.total.cost_usd == pytest.approx(2 * (RESEARCHER + WRITER))
    assert len(report.rows("run")) == 2
    with pytest.raises(ValueError, match="no 'model' rollup"):
        report.rows("model")


@pytest.mark.anyio
async def test_since_and_until_select_calls_by_when_they_were_journaled() -> None:
    store, _, _ = await _two_namespaces()
    now = time.time()
    assert (await cost_report(store, since=now - 3600)).total.calls == 4
    assert (await cost_report(store, since=now + 3600)).total.calls == 0
    assert (await cost_report(store, until=now - 3600)).total.calls == 0


@pytest.mark.anyio
async def test_reprice_is_a_what_if() -> None:
    store, run_a, run_b = await _two_namespaces()
    cheaper = PriceTable(
        {"acme:": ModelPrice(1.0, 1.0), "acme:mystery": ModelPrice(2.0, 4.0)}, version="what-if"
    )
    report = await cost_report(store, prices=cheaper)
    expected = (1000 + 200 + 2000 + 500 + 3000 + 100) / 1e6 + (500 * 2 + 50 * 4) / 1e6
    assert report.total.cost_usd == pytest.approx(expected)
    assert report.total.unpriced == 0
    events = await store.read(run_b)
    again = reprice(events, PriceTable({}, version="empty"))
    assert all(c.cost_usd is None for c in model_calls(again))
    assert [s.event.type for s in again] == [s.event.type for s in events]
    assert (await cost_report(store)).total.cost_usd == pytest.approx(0.0484)  # nothing written
    assert (await store.get_run(run_a)).cost_usd == pytest.approx(RESEARCHER + WRITER)


# -- the pure function, on journals built by hand (explicit timestamps for days) -------------

DAY1 = dt.datetime(2026, 11, 3, 23, 59, 59, tzinfo=dt.UTC).timestamp()
DAY2 = dt.datetime(2026, 11, 4, 0, 0, 0, tzinfo=dt.UTC).timestamp()


def _call(key: str, model: str, usage: Usage, cost: float | None) -> ModelCallCompleted:
    response = ModelResponse(text="x", usage=usage)
    return ModelCallCompleted(key=key, model=model, request_digest="d", response=response,
                              cost_usd=cost)  # fmt: skip


def _journal(run_id: str, namespace: str, items: list[tuple[float, object]]) -> list[StoredEvent]:
    started = RunStarted(workflow="wf", input=None, namespace=namespace)
    events = [(items[0][0], started), *items]
    return [
        StoredEvent(run_id=run_id, seq=seq, ts=ts, event=event)  # type: ignore[arg-type]
        for seq, (ts, event) in enumerate(events, 1)
    ]


def _journals() -> dict[str, list[StoredEvent]]:
    one = _journal("run_1", "ns-a", [
        (DAY1, NodeStarted(path="wf", kind="workflow")),
        (DAY1, _call("wf/model#1", "m:x", Usage(input_tokens=10, output_tokens=1), 0.25)),
        (DAY1, NodeStarted(path="wf/team", kind="parallel")),
        (DAY1, NodeStarted(path="wf/team[a]", kind="agent")),
        (DAY1, _call("wf/team[a]/model#1", "m:x", Usage(input_tokens=20, output_tokens=2), 0.5)),
        (DAY2, NodeStarted(path="wf/team[a]/helper[1]", kind="agent")),
        (DAY2, _call("wf/team[a]/helper[1]/model#1", "m:y",
                     Usage(input_tokens=30, output_tokens=3, cached_tokens=5), 1.0)),
        (DAY2, NodeFinished(path="wf/team[a]/helper[1]")),
        (DAY2, _call("wf/team[a]/model#2", "m:z", Usage(input_tokens=40, output_tokens=4), None)),
    ])  # fmt: skip
    two = _journal("run_2", "ns-b", [
        (DAY2, NodeStarted(path="wf", kind="workflow")),
        (DAY2, NodeStarted(path="wf/team[a]", kind="agent")),
        (DAY2, _call("wf/team[a]/model#1", "m:x", Usage(input_tokens=1, output_tokens=1), 2.0)),
    ])  # fmt: skip
    return {"run_1": one, "run_2": two}


def test_rollup_by_day_agent_and_namespace_by_hand() -> None:
    report = rollup(_journals())
    assert report.total == CostRow("total", 5, 1, 101, 5, 11, 3.75)
    assert report.rows("day") == (
        CostRow("2026-11-03", 2, 0, 30, 0, 3, 0.75),
        CostRow("2026-11-04", 3, 1, 71, 5, 8, 3.0),
    )
    assert {r.key: (r.calls, r.cost_usd) for r in report.rows("agent")} == {
        "-": (1, 0.25),  # a call in the workflow itself, outside any agent
        "wf/team[a]": (3, 2.5),  # the innermost agent: the helper's call is not counted here
        "wf/team[a]/helper[1]": (1, 1.0),
    }
    assert [(r.key, r.cost_usd, r.unpriced) for r in report.rows("namespace")] == [
        ("ns-b", 2.0, 0),
        ("ns-a", 1.75, 1),
    ]
    assert [(r.key, r.calls) for r in report.rows("model")] == [("m:x", 3), ("m:y", 1), ("m:z", 1)]
    assert report.as_dict(["run"])["by"]["run"][0]["key"] == "run_2"


def test_rollup_time_window_and_unknown_dimension() -> None:
    assert rollup(_journals(), since=DAY2).total.calls == 3
    assert rollup(_journals(), until=DAY2).total.calls == 2
    with pytest.raises(ValueError, match="unknown rollup 'week'"):
        rollup(_journals(), by=["week"])  # type: ignore[list-item]


def test_node_costs_include_the_nodes_inside() -> None:
    costs = node_costs(_journals()["run_1"])
    assert costs["wf"].calls == 4  # the root holds everything
    assert costs["wf/team"].cost_usd == 1.5  # a pattern node: its branches' calls
    assert costs["wf/team[a]"].cost_usd == 1.5  # an agent: its own calls and its helper's
    assert (costs["wf/team[a]"].calls, costs["wf/team[a]"].unpriced) == (3, 1)
    assert costs["wf/team[a]/helper[1]"].cached_tokens == 5
