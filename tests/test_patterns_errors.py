"""Pattern constructors refuse wrong argument types up front with a SpecError naming the
pattern and the field, instead of an AttributeError/TypeError (or a failure at run time)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pydantic
import pytest

from podium import Agent
from podium.errors import SpecError
from podium.patterns import (
    Consensus,
    Graph,
    GroupChat,
    Handoff,
    Loop,
    Map,
    Parallel,
    Quorum,
    Sequential,
    Supervisor,
)
from podium.testing import ScriptedModel


def agent(name: str) -> Agent:
    return Agent(name=name, model=ScriptedModel(["x"]))


def f(value: Any) -> Any:
    return value


def g(value: Any) -> Any:
    return value


def judge(brief: Any) -> Any:
    return brief


class _GraphState(pydantic.BaseModel):
    n: int = 0


def _noop(state: Any) -> dict[str, Any]:
    return {}


CASES: list[Any] = [
    pytest.param(
        lambda: Quorum(True),  # type: ignore[arg-type]
        "quorum k must be a positive integer, not True",
        id="Quorum(True)",
    ),
    pytest.param(
        lambda: Graph("g", state=_GraphState, nodes=[_noop], start="a"),  # type: ignore[arg-type]
        "graph 'g': nodes must be a mapping of node name -> node",
        id="Graph(nodes=list)",
    ),
    pytest.param(
        lambda: Graph("g", state=_GraphState, nodes={"a": _noop}, start="a", edges="ab"),
        "graph 'g': edges must be a list of (source, target) pairs",
        id="Graph(edges=str)",
    ),
    pytest.param(
        lambda: Graph("g", state=_GraphState, nodes={"a": _noop}, start="a", routes=[_noop]),  # type: ignore[arg-type]
        "graph 'g': routes must be a mapping",
        id="Graph(routes=list)",
    ),
    # a list where a list is expected
    pytest.param(
        lambda: Sequential("s", 5),  # type: ignore[arg-type]
        "sequential 's': steps must be a list of nodes, not 5",
        id="Sequential(steps=5)",
    ),
    pytest.param(
        lambda: Sequential("s", "f"),
        "sequential 's': steps must be a list of nodes, not 'f'",
        id="Sequential(steps=str)",
    ),
    pytest.param(
        lambda: Parallel("p", 5),  # type: ignore[arg-type]
        "parallel 'p': branches must be a list or a mapping of nodes, not 5",
        id="Parallel(branches=5)",
    ),
    pytest.param(
        lambda: Supervisor("s", agent("m"), None),  # type: ignore[arg-type]
        "supervisor 's': workers must be a list of nodes, not None",
        id="Supervisor(workers=None)",
    ),
    pytest.param(
        lambda: Handoff("h", agent("t"), None),  # type: ignore[arg-type]
        "handoff 'h': specialists must be a list of agents, not None",
        id="Handoff(specialists=None)",
    ),
    pytest.param(
        lambda: Handoff("h", agent("t"), [agent("b")], routes={"b": "t"}),
        "handoff 'h': the route of 'b' must be a list of agent names, not 't'",
        id="Handoff(routes={b: str})",
    ),
    pytest.param(
        lambda: Consensus("c", 5),  # type: ignore[arg-type]
        "consensus 'c': solvers must be a list of nodes, not 5",
        id="Consensus(solvers=5)",
    ),
    pytest.param(
        lambda: Consensus.across_models("c", agent("a"), None),  # type: ignore[arg-type]
        "consensus 'c': models must be a list of models, not None",
        id="Consensus.across_models(models=None)",
    ),
    pytest.param(
        lambda: GroupChat("chat", None),  # type: ignore[arg-type]
        "group chat 'chat': participants must be a list of nodes, not None",
        id="GroupChat(participants=None)",
    ),
    # a mapping where a mapping is expected
    pytest.param(
        lambda: Handoff("h", agent("t"), [agent("b")], routes=["b"]),  # type: ignore[arg-type]
        "handoff 'h': routes must be a mapping of agent name -> list of agent names, not ['b']",
        id="Handoff(routes=list)",
    ),
    pytest.param(
        lambda: Consensus("c", [f], vote="weighted", weights=["a"]),  # type: ignore[arg-type]
        "consensus 'c': weights must be a mapping of solver label -> weight, not ['a']",
        id="Consensus(weights=list)",
    ),
    # a function where a function is expected
    pytest.param(
        lambda: Map("m", f, items=5),  # type: ignore[arg-type]
        "map 'm': items must be a function of the input, not 5",
        id="Map(items=5)",
    ),
    # a type pydantic can validate
    pytest.param(
        lambda: Sequential("s", [f], output_type=5),
        "sequential 's': output_type must be a type pydantic can validate, not 5",
        id="Sequential(output_type=5)",
    ),
    # an int that is not a bool
    pytest.param(
        lambda: Parallel("p", [f], max_concurrency=True),
        "parallel 'p': max_concurrency must be a positive integer, not True",
        id="Parallel(max_concurrency=True)",
    ),
    pytest.param(
        lambda: Map("m", f, max_concurrency=True),
        "map 'm': max_concurrency must be a positive integer, not True",
        id="Map(max_concurrency=True)",
    ),
    pytest.param(
        lambda: Loop("l", f, g, max_iterations=True),
        "loop 'l': max_iterations must be an integer >= 1, not True",
        id="Loop(max_iterations=True)",
    ),
    pytest.param(
        lambda: GroupChat("chat", [f, g], max_rounds=True),
        "group chat 'chat': max_rounds must be a positive integer, not True",
        id="GroupChat(max_rounds=True)",
    ),
    pytest.param(
        lambda: Handoff("h", agent("t"), [agent("b")], max_handoffs=True),
        "handoff 'h': max_handoffs must be an integer >= 0, not True",
        id="Handoff(max_handoffs=True)",
    ),
    pytest.param(
        lambda: Supervisor("s", agent("m"), [agent("w")], max_spawn=True),
        "supervisor 's': max_spawn must be an integer >= 0, not True",
        id="Supervisor(max_spawn=True)",
    ),
    pytest.param(
        lambda: Supervisor("s", agent("m"), [agent("w")], max_depth=False),
        "supervisor 's': max_depth must be an integer >= 0, not False",
        id="Supervisor(max_depth=False)",
    ),
    # a tie_break that would be ignored: the judge decides, there is no vote
    pytest.param(
        lambda: Consensus("c", [f, g], judge=judge, tie_break="fail"),
        "consensus 'c': tie_break='fail' is never used when the judge decides",
        id="Consensus(judge, tie_break='fail')",
    ),
    pytest.param(
        lambda: Consensus("c", [f, g], judge=judge, tie_break="first"),
        "consensus 'c': tie_break='first' is never used when the judge decides",
        id="Consensus(judge, tie_break='first')",
    ),
]


@pytest.mark.parametrize(("make", "message"), CASES)
def test_wrong_arguments_raise_a_spec_error(make: Callable[[], Any], message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        make()


class Out(pydantic.BaseModel):
    x: int = 0


def test_right_arguments_are_still_accepted() -> None:
    assert Sequential("s", (f, g), output_type=Out).labels == ["f", "g"]
    assert Parallel("p", {"a": f, "b": g}, max_concurrency=2).labels == ["a", "b"]
    assert Map("m", f, items=lambda x: x, max_concurrency=1).max_concurrency == 1
    assert Loop("l", f, g, max_iterations=1).max_iterations == 1
    assert Supervisor("s", agent("m"), (agent("w"),), max_depth=0, max_spawn=0).max_spawn == 0
    handoff = Handoff("h", agent("t"), (agent("b"),), routes={"b": ("t",)}, max_handoffs=0)
    assert handoff.routes["b"] == ("t",)
    assert GroupChat("chat", (f, g), max_rounds=1).max_rounds == 1


def test_tie_break_defaults_to_first_and_a_judge_alone_decides() -> None:
    assert Consensus("c", [f, g]).tie_break == "first"
    judged = Consensus("c", [f, g], judge=judge)
    assert judged.vote is None
    by_vote = Consensus("c", [f, g], judge=judge, tie_break="judge")
    assert (by_vote.vote, by_vote.tie_break) == ("majority", "judge")
    weighted = Consensus("c", [f, g], vote="weighted", weights={"f": 2}, tie_break="fail")
    assert weighted.tie_break == "fail"
