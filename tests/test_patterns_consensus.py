"""Consensus: solvers in parallel, then a vote (majority/weighted, tie-breaks) or a judge."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from podium.agents import Agent
from podium.errors import SpecError
from podium.events import NodeStarted, StepCompleted
from podium.messages import ModelRequest, UserMessage
from podium.patterns.consensus import Consensus, ConsensusResult
from podium.runtime import RunResult, Runtime
from podium.runtime.nodes import FunctionNode, function
from podium.store import MemoryStore, SQLiteStore, Store
from podium.testing import FunctionModel, ScriptedModel
from podium.types import RunStatus

pytestmark = pytest.mark.anyio

CALLS: dict[str, int] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()


class _Crash(BaseException):
    """The process dies (nothing is journaled for the step it was in)."""


def solver(name: str, answer: Any, *, fail: bool = False) -> FunctionNode:
    def answer_it(task: Any) -> Any:
        CALLS[name] = CALLS.get(name, 0) + 1
        if fail:
            raise RuntimeError(f"{name} is down")
        return answer

    return function(answer_it, name=name)  # type: ignore[no-any-return]


def judge_fn(pick: Callable[[dict[str, Any]], Any], *, crash_first: bool = False) -> Any:
    def judge(brief: dict[str, Any]) -> Any:
        CALLS["judge"] = CALLS.get("judge", 0) + 1
        if crash_first and CALLS["judge"] == 1:
            raise _Crash()
        return pick(brief)

    return function(judge, name="judge")


async def run(node: Any, input: Any = "capital of France?", store: Store | None = None) -> Any:
    runtime = Runtime(store or MemoryStore())
    result = await runtime.run(node, input)
    events = [s.event for s in await runtime.store.read(result.run_id)]
    return result, events


def paths(events: list[Any]) -> list[str]:
    return [e.path for e in events if isinstance(e, NodeStarted)]


def decisions(events: list[Any]) -> dict[str, Any]:
    return {
        e.key: e.result for e in events if isinstance(e, StepCompleted) and e.kind == "decision"
    }


async def test_majority_vote_normalises_text_and_returns_the_earliest_raw_answer() -> None:
    vote = Consensus("vote", [solver("a", "Lyon"), solver("b", " Paris "), solver("c", "paris")])
    result, events = await run(vote)
    assert result.status is RunStatus.COMPLETED
    assert result.output == {
        "answer": " Paris ",
        "method": "majority",
        "votes": {"lyon": 1, "paris": 2},
        "tie": False,
        "candidates": [
            {"solver": "a", "answer": "Lyon"},
            {"solver": "b", "answer": " Paris "},
            {"solver": "c", "answer": "paris"},
        ],
        "winner": "b",
        "failures": [],
    }
    assert paths(events) == ["vote", "vote/solver[a]", "vote/solver[b]", "vote/solver[c]"]
    assert decisions(events)["vote/vote#1"] == ["lyon", "paris", "paris"]


async def test_structured_answers_compare_as_canonical_json() -> None:
    a = solver("a", {"city": "Paris", "country": "FR"})
    b = solver("b", {"country": "FR", "city": "Paris"})
    c = solver("c", {"city": "Lyon", "country": "FR"})
    result, _ = await run(Consensus("vote", [a, b, c]))
    assert result.output["votes"] == {
        '{"city":"Paris","country":"FR"}': 2,
        '{"city":"Lyon","country":"FR"}': 1,
    }
    assert result.output["answer"] == {"city": "Paris", "country": "FR"}


async def test_a_custom_key_decides_what_counts_as_the_same_answer() -> None:
    a = solver("a", {"city": "Paris", "why": "capital"})
    b = solver("b", {"city": "Lyon", "why": "food"})
    c = solver("c", {"city": "Lyon", "why": "rivers"})
    result, events = await run(Consensus("vote", [a, b, c], key=lambda x: x["city"]))
    assert result.output["answer"] == {"city": "Lyon", "why": "food"}
    assert result.output["votes"] == {"Paris": 1, "Lyon": 2}
    assert decisions(events)["vote/vote#1"] == ["Paris", "Lyon", "Lyon"]


async def test_a_weighted_vote_sums_the_weights_of_the_solvers() -> None:
    solvers = [solver("expert", "Paris"), solver("a", "Lyon"), solver("b", "Lyon")]
    vote = Consensus("vote", solvers, vote="weighted", weights={"expert": 2.5, "b": 0.5})
    result, _ = await run(vote)
    assert result.output["votes"] == {"paris": 2.5, "lyon": 1.5}
    assert (result.output["answer"], result.output["method"]) == ("Paris", "weighted")


async def test_a_tie_goes_to_the_earliest_solver_by_default() -> None:
    result, _ = await run(Consensus("vote", [solver("a", "Lyon"), solver("b", "Paris")]))
    assert (result.output["answer"], result.output["tie"], result.output["winner"]) == (
        "Lyon",
        True,
        "a",
    )


async def test_a_weighted_tie_is_a_tie_despite_rounding() -> None:
    solvers = [solver("a", "x"), solver("b", "y"), solver("c", "y")]
    weights = {"a": 0.3, "b": 0.1, "c": 0.2}
    result, _ = await run(Consensus("vote", solvers, vote="weighted", weights=weights))
    assert result.output["tie"] is True
    assert result.output["answer"] == "x"


async def test_tie_break_fail_raises_no_consensus() -> None:
    vote = Consensus("vote", [solver("a", "Lyon"), solver("b", "Paris")], tie_break="fail")
    result, _ = await run(vote)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.startswith("NoConsensus: consensus 'vote' at vote: a tie between")
    assert "'lyon', 'paris'" in result.error


async def test_a_function_judge_breaks_a_tie_by_naming_a_solver_or_an_answer() -> None:
    solvers = [solver("a", "Lyon"), solver("b", "Paris"), solver("c", "Nice"), solver("d", "Nice")]
    by_name = Consensus("vote", solvers[:2], judge=judge_fn(lambda _: "b"), tie_break="judge")
    result, events = await run(by_name)
    assert (result.output["answer"], result.output["tie"]) == ("Paris", True)
    assert "vote/judge" in paths(events)
    by_answer = Consensus("vote", solvers[:2], judge=judge_fn(lambda _: "LYON"), tie_break="judge")
    assert (await run(by_answer))[0].output["winner"] == "a"
    seen: list[Any] = []
    clear = Consensus("vote", solvers, judge=judge_fn(seen.append), tie_break="judge")
    assert (await run(clear))[0].output["answer"] == "Nice"
    assert seen == []  # no tie, no judge


async def test_a_judge_that_picks_outside_the_tie_fails_clearly() -> None:
    solvers = [solver("a", "Lyon"), solver("b", "Paris")]
    vote = Consensus("vote", solvers, judge=judge_fn(lambda _: "Rome"), tie_break="judge")
    result, _ = await run(vote)
    assert result.error is not None
    assert "the judge chose 'Rome'" in result.error
    assert "['a', 'b']" in result.error


async def test_an_agent_judge_breaking_a_tie_must_name_one_of_the_tied_solvers() -> None:
    model = ScriptedModel(['"b"'])
    judge = Agent(name="referee", model=model, instructions="Pick the best answer.")
    solvers = [solver("a", "Lyon"), solver("b", "Paris"), solver("c", "Paris"), solver("d", "Lyon")]
    result, _ = await run(Consensus("vote", solvers, judge=judge, tie_break="judge"))
    assert (result.output["answer"], result.output["winner"]) == ("Paris", "b")
    schema = model.requests[0].output_schema
    assert schema is not None
    assert schema["enum"] == ["a", "b"]  # one candidate per tied answer
    brief = json.loads(_user_text(model.requests[0]))
    assert brief["candidates"] == [
        {"solver": "a", "answer": "Lyon"},
        {"solver": "b", "answer": "Paris"},
    ]


async def test_a_judge_without_a_vote_writes_the_answer_from_all_candidates() -> None:
    def referee(request: ModelRequest) -> str:
        brief = json.loads(_user_text(request))
        return " / ".join(c["answer"] for c in brief["candidates"]) + f" for {brief['task']}"

    judge = Agent(name="referee", model=FunctionModel(referee))
    vote = Consensus("debate", [solver("a", "Lyon"), solver("b", "Paris")], judge=judge)
    result, events = await run(vote, "Q")
    assert result.output["answer"] == "Lyon / Paris for Q"
    assert (result.output["method"], result.output["votes"], result.output["tie"]) == (
        "judge",
        {},
        False,
    )
    assert result.output["winner"] is None
    assert paths(events)[-1] == "debate/judge"
    assert decisions(events) == {}


async def test_failed_solvers_do_not_vote_and_are_reported() -> None:
    solvers = [solver("a", "Lyon", fail=True), solver("b", "Paris"), solver("c", "Lyon")]
    result, _ = await run(Consensus("vote", solvers))
    assert result.output["votes"] == {"paris": 1, "lyon": 1}
    assert result.output["answer"] == "Paris"
    [failure] = result.output["failures"]
    assert failure["branch"] == "a"
    assert (failure["error_type"], failure["message"]) == ("RuntimeError", "a is down")


async def test_all_solvers_failing_is_a_pattern_error_naming_them() -> None:
    solvers = [solver("a", "x", fail=True), solver("b", "y", fail=True)]
    result, _ = await run(Consensus("vote", solvers))
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.startswith("PatternError: consensus 'vote' at vote: every solver failed")
    assert "a: RuntimeError: a is down" in result.error
    assert "b is down" in result.error


async def test_across_models_runs_one_agent_on_each_model() -> None:
    agent = Agent(name="solver", model="openai:gpt-4.1-mini", instructions="Answer briefly.")
    models = [
        ScriptedModel(["Paris"], name="scripted:alpha"),
        ScriptedModel(["paris"], name="scripted:beta"),
        ScriptedModel(["Lyon"], name="scripted:beta"),
    ]
    vote = Consensus.across_models(
        "vote", agent, models, vote="weighted", weights={"solver.alpha": 3}
    )
    assert vote.labels == ["solver.alpha", "solver.beta.1", "solver.beta.2"]
    result, events = await run(vote)
    assert result.output["answer"] == "Paris"
    assert result.output["votes"] == {"paris": 4.0, "lyon": 1.0}
    assert "vote/solver[solver.beta.2]" in paths(events)
    assert all(len(m.requests) == 1 for m in models)
    assert models[0].requests[0].messages[0].content == "Answer briefly."


async def test_across_models_labels_model_strings_by_their_model_name() -> None:
    agent = Agent(name="solver", model="openai:gpt-4.1-mini")
    vote = Consensus.across_models("vote", agent, ["openai:gpt-4.1-mini", "anthropic:claude 3"])
    assert vote.labels == ["solver.gpt-4.1-mini", "solver.claude-3"]
    with pytest.raises(SpecError, match="at least one model"):
        Consensus.across_models("vote", agent, [])


async def test_solvers_with_the_same_name_get_numbered_labels() -> None:
    vote = Consensus("vote", [solver("a", "x"), solver("a", "x"), solver("b", "y")])
    assert vote.labels == ["a.1", "a.2", "b"]
    result, events = await run(vote)
    assert result.output["answer"] == "x"
    assert "vote/solver[a.2]" in paths(events)


async def test_the_result_is_a_typed_object_inside_a_workflow() -> None:
    seen: list[Any] = []

    async def flow(ctx: Any, input: Any) -> Any:
        outcome = await ctx.run(Consensus("vote", [solver("a", "x")]), input)
        seen.append(outcome)
        return outcome.answer

    result, _ = await run(flow)
    assert result.output == "x"
    assert isinstance(seen[0], ConsensusResult)


async def test_replay_after_a_crash_does_not_ask_the_solvers_again(tmp_path: Path) -> None:
    solvers = [solver("a", "Lyon"), solver("b", "Paris")]
    vote = Consensus(
        "vote", solvers, judge=judge_fn(lambda _: "b", crash_first=True), tie_break="judge"
    )
    db = tmp_path / "db.sqlite"
    runtime = Runtime(SQLiteStore(db))
    run_id = await runtime.start(vote, "Q")
    with pytest.raises(_Crash):
        await runtime.resume(run_id, vote)
    done: RunResult = await Runtime(SQLiteStore(db)).resume(run_id, vote)  # another process
    assert done.status is RunStatus.COMPLETED
    output: Any = done.output
    assert output["answer"] == "Paris"
    assert CALLS == {"a": 1, "b": 1, "judge": 2}  # the judge had not been journaled


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"solvers": []}, "needs at least one solver"),
        ({"vote": "unanimous"}, "vote must be 'majority', 'weighted' or None"),
        ({"tie_break": "coin"}, "tie_break must be 'first', 'judge' or 'fail'"),
        ({"tie_break": "judge"}, "tie_break='judge' needs a judge"),
        ({"vote": "majority", "judge": "J"}, "with a vote the judge only breaks ties"),
        ({"weights": {"a": 1}}, "weights are only used with vote='weighted'"),
        ({"vote": "weighted"}, "vote='weighted' needs weights"),
        ({"vote": "weighted", "weights": {"alpah": 1}}, "did you mean 'alpha'"),
        ({"vote": "weighted", "weights": {"beta": -1}}, "weight of 'beta' must be >= 0"),
        ({"vote": "weighted", "weights": {"beta": True}}, "weight of 'beta' must be >= 0"),
        ({"vote": "weighted", "weights": {"beta": float("nan")}}, "must be >= 0"),
        ({"key": "city"}, "key must be a function"),
        ({"solvers": ["S", "S", "S.1"]}, r"solver labels \['S.1'\] repeat"),
        ({"solvers": ["a/b"]}, "solver name 'a/b' must be"),
        ({"solvers": [42]}, "solver 1: 42 is not a node"),
    ],
)
async def test_invalid_definitions_are_refused(kwargs: dict[str, Any], message: str) -> None:
    options: dict[str, Any] = {"solvers": [solver("alpha", 1), solver("beta", 2)], **kwargs}
    options["solvers"] = [solver(s, 1) if isinstance(s, str) else s for s in options["solvers"]]
    if options.get("judge") == "J":
        options["judge"] = judge_fn(lambda _: None)
    with pytest.raises(SpecError, match=message):
        Consensus("vote", **options)


def test_invalid_name_is_refused() -> None:
    with pytest.raises(SpecError, match="must be 1-64 characters"):
        Consensus("a/b", [solver("a", 1)])


def _user_text(request: ModelRequest) -> str:
    return next(m.content for m in request.messages if isinstance(m, UserMessage))
