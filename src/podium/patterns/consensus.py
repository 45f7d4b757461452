"""Consensus: several solvers answer the same task; a vote or a judge settles on one answer.

Solvers run concurrently at ``{path}/solver[{label}]`` (``debate/solver[writer.gpt-4o]``); a
solver that fails does not vote. The ballots (each answer normalised by ``key``) are journaled
as the step ``{path}/vote#1``, so a replay counts exactly the votes the first run counted. A
judge runs at ``{path}/judge``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, cast

import pydantic

from podium.agents import Agent
from podium.errors import NoConsensus, PatternError, SpecError
from podium.models import Model
from podium.patterns._fanout import (
    Branch,
    BranchFailure,
    check_name,
    did_you_mean,
    fan_out,
    node_of,
    to_json,
)
from podium.runtime import Context, Node, as_node
from podium.runtime.context import run_node

Vote = Literal["majority", "weighted"]
TieBreak = Literal["first", "judge", "fail"]


@pydantic.dataclasses.dataclass(frozen=True)
class Candidate:
    """One solver's answer."""

    solver: str
    answer: Any


@pydantic.dataclasses.dataclass(frozen=True)
class ConsensusResult:
    """What a :class:`Consensus` settled on, and how.

    ``votes`` maps each normalised answer to its count (``majority``) or summed weight
    (``weighted``); it is empty when a judge decided. ``winner`` is the solver whose answer
    won a vote (``None`` when a judge wrote the answer); ``failures`` are the solvers that
    failed and did not vote.
    """

    answer: Any
    method: Literal["judge", "majority", "weighted"]
    votes: dict[str, int | float]
    tie: bool
    candidates: list[Candidate]
    winner: str | None = None
    failures: list[BranchFailure] = dataclasses.field(default_factory=list)


def default_key(answer: Any) -> str:
    """Text compares stripped and case-folded; anything else as canonical JSON."""
    if isinstance(answer, str):
        return answer.strip().casefold()
    return canonical_json(answer)


def canonical_json(value: Any) -> str:
    return json.dumps(to_json(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Consensus:
    """Ask every solver, then settle on one answer by a judge or by a vote.

    - ``judge`` and no ``vote``: the judge gets ``{"task": input, "candidates": [{"solver",
      "answer"}...]}`` and its output is the answer.
    - ``vote="majority"`` (the default without a judge or with ``tie_break="judge"``) or
      ``"weighted"`` (each solver's vote counts ``weights[label]``, 1.0 if absent): the answers
      are normalised by ``key`` and the plurality wins. A tie is broken by ``tie_break``:
      ``"first"`` (the default: the earliest solver's answer), ``"judge"`` (the judge picks
      among the tied answers, naming a solver or giving an answer; an agent judge must name a
      solver) or ``"fail"`` (raise :class:`~podium.errors.NoConsensus`). Without a vote there
      is no tie, so a ``tie_break`` other than ``"judge"`` is refused.

    Solver labels are the solvers' names, ``name.1``, ``name.2``... for repeats. The ballots
    and the judge's output are journaled, so a replay settles on the same answer.
    """

    kind = "consensus"

    def __init__(
        self,
        name: str,
        solvers: Sequence[Any],
        *,
        judge: Any = None,
        vote: Vote | None = None,
        weights: Mapping[str, float] | None = None,
        tie_break: TieBreak | None = None,
        key: Callable[[Any], Any] | None = None,
    ) -> None:
        self.name = check_name(name)
        if isinstance(solvers, str | bytes) or not isinstance(solvers, Sequence):
            raise SpecError(f"consensus {name!r}: solvers must be a list of nodes, not {solvers!r}")
        if not solvers:
            raise SpecError(f"consensus {name!r} needs at least one solver")
        self.solvers: tuple[Node, ...] = tuple(
            node_of(s, f"consensus {name!r} solver {i + 1}") for i, s in enumerate(solvers)
        )
        self.labels = _labels(name, self.solvers)
        self.judge = node_of(judge, f"consensus {name!r} judge") if judge is not None else None
        self._judge_agent = judge if isinstance(judge, Agent) else None
        self.vote: Vote | None = _check_vote(name, vote, judge is not None, tie_break)
        self.tie_break: TieBreak = _check_tie_break(name, tie_break, self.vote, judge is not None)
        self.weights = _check_weights(name, weights, self.vote, self.labels)
        if key is not None and not callable(key):
            raise SpecError(f"consensus {name!r}: key must be a function, not {key!r}")
        self.key = key or default_key

    @classmethod
    def across_models(
        cls, name: str, agent: Agent, models: Sequence[Model | str], **options: Any
    ) -> Consensus:
        """One agent on several models; solver labels are ``{agent}.{model}``."""
        if isinstance(models, str | bytes) or not isinstance(models, Sequence):
            raise SpecError(f"consensus {name!r}: models must be a list of models, not {models!r}")
        if not models:
            raise SpecError(f"consensus {name!r} needs at least one model")
        labels = _dedupe(name, [f"{agent.name}.{_slug(m)}" for m in models])
        solvers = [
            dataclasses.replace(agent, name=label, model=model)
            for label, model in zip(labels, models, strict=True)
        ]
        return cls(name, solvers, **options)

    async def execute(self, ctx: Context, input: Any) -> ConsensusResult:
        branches = [
            Branch(label, node, input)
            for label, node in zip(self.labels, self.solvers, strict=True)
        ]
        outcomes = await fan_out(ctx.child("solver"), branches, "collect", None)
        failures = [o for o in outcomes if isinstance(o, BranchFailure)]
        candidates = [
            Candidate(label, o)
            for label, o in zip(self.labels, outcomes, strict=True)
            if not isinstance(o, BranchFailure)
        ]
        if not candidates:
            detail = "; ".join(f"{f.branch}: {f.error_type}: {f.message}" for f in failures)
            raise PatternError(
                f"consensus {self.name!r} at {ctx.path}: every solver failed ({detail})"
            )
        if self.vote is None:
            answer = await self._ask_judge(ctx, input, candidates)
            return ConsensusResult(answer, "judge", {}, False, candidates, None, failures)
        return await self._count(ctx, input, candidates, failures)

    async def _count(
        self,
        ctx: Context,
        input: Any,
        candidates: list[Candidate],
        failures: list[BranchFailure],
    ) -> ConsensusResult:
        assert self.vote is not None
        ballots = await ctx.step(
            "vote", self._ballots, [c.answer for c in candidates], kind="decision"
        )
        if not isinstance(ballots, list) or len(ballots) != len(candidates):
            raise PatternError(
                f"consensus {self.name!r}: the journaled ballots {ballots!r} are not one per answer"
            )
        votes: dict[str, int | float] = {}
        earliest: dict[str, Candidate] = {}
        for candidate, ballot in zip(candidates, map(str, ballots), strict=True):
            votes[ballot] = votes.get(ballot, 0) + self._weight(candidate.solver)
            earliest.setdefault(ballot, candidate)
        top = max(votes.values())
        tied = [b for b, v in votes.items() if math.isclose(v, top, rel_tol=1e-9)]
        winner = earliest[tied[0]]
        if len(tied) > 1 and self.tie_break == "fail":
            raise NoConsensus(
                f"consensus {self.name!r} at {ctx.path}: a tie between {tied} ({top} each)"
            )
        if len(tied) > 1 and self.tie_break == "judge":
            winner = await self._break_tie(ctx, input, [earliest[b] for b in tied])
        return ConsensusResult(
            winner.answer, self.vote, votes, len(tied) > 1, candidates, winner.solver, failures
        )

    def _weight(self, label: str) -> int | float:
        return 1 if self.weights is None else self.weights.get(label, 1.0)

    def _ballots(self, answers: list[Any]) -> list[str]:
        ballots = []
        for answer in answers:
            ballot = self.key(answer)
            ballots.append(ballot if isinstance(ballot, str) else canonical_json(ballot))
        return ballots

    async def _ask_judge(self, ctx: Context, input: Any, candidates: list[Candidate]) -> Any:
        assert self.judge is not None
        return await run_node(ctx.child("judge"), self.judge, _brief(input, candidates))

    async def _break_tie(self, ctx: Context, input: Any, tied: list[Candidate]) -> Candidate:
        judge = self.judge
        assert judge is not None
        if self._judge_agent is not None:
            labels = cast(Any, Literal).__getitem__(tuple(c.solver for c in tied))
            judge = as_node(dataclasses.replace(self._judge_agent, output_type=labels))
        choice = await run_node(ctx.child("judge"), judge, _brief(input, tied))
        for candidate in tied:
            if choice == candidate.solver:
                return candidate
        ballots = self._ballots([choice, *(c.answer for c in tied)])
        for candidate, ballot in zip(tied, ballots[1:], strict=True):
            if ballot == ballots[0]:
                return candidate
        raise PatternError(
            f"consensus {self.name!r} at {ctx.path}: the judge chose {choice!r}, which is "
            f"neither a tied solver {[c.solver for c in tied]} nor one of their answers"
        )

    def __repr__(self) -> str:
        return f"Consensus({self.name!r}, solvers={self.labels}, method={self.vote or 'judge'!r})"


def _brief(input: Any, candidates: list[Candidate]) -> dict[str, Any]:
    return {
        "task": input,
        "candidates": [{"solver": c.solver, "answer": c.answer} for c in candidates],
    }


def _labels(name: str, solvers: Sequence[Node]) -> list[str]:
    labels = _dedupe(name, [s.name for s in solvers])
    for label in labels:
        check_name(label, f"consensus {name!r} solver")
    return labels


def _dedupe(name: str, names: list[str]) -> list[str]:
    """Repeated names get ``.1``, ``.2``...; a clash with another name is refused."""
    seen: dict[str, int] = {}
    labels = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        labels.append(n if names.count(n) == 1 else f"{n}.{seen[n]}")
    clashes = sorted({label for label in labels if labels.count(label) > 1})
    if clashes:
        raise SpecError(f"consensus {name!r}: solver labels {clashes} repeat; rename the solvers")
    return labels


def _slug(model: Model | str) -> str:
    text = model if isinstance(model, str) else model.name
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text.rpartition(":")[2]).strip("-.")
    return slug[:32] or "model"


def _check_vote(name: str, vote: Any, has_judge: bool, tie_break: Any) -> Vote | None:
    if vote not in (None, "majority", "weighted"):
        raise SpecError(f"consensus {name!r}: vote must be 'majority', 'weighted' or None")
    if vote is None and (not has_judge or tie_break == "judge"):
        return "majority"
    return cast(Vote | None, vote)


def _check_tie_break(name: str, tie_break: Any, vote: Vote | None, has_judge: bool) -> TieBreak:
    if tie_break not in (None, "first", "judge", "fail"):
        raise SpecError(
            f"consensus {name!r}: tie_break must be 'first', 'judge' or 'fail', not {tie_break!r}"
        )
    if vote is None and tie_break is not None:  # the judge decides: there is no tie to break
        raise SpecError(
            f"consensus {name!r}: tie_break={tie_break!r} is never used when the judge decides "
            "(no vote); drop tie_break, or drop the judge to count votes"
        )
    if tie_break == "judge" and not has_judge:
        raise SpecError(f"consensus {name!r}: tie_break='judge' needs a judge")
    if vote is not None and has_judge and tie_break != "judge":
        raise SpecError(
            f"consensus {name!r}: with a vote the judge only breaks ties; "
            "pass tie_break='judge', or drop vote to let the judge decide"
        )
    if tie_break is None:
        return "first"
    return cast(TieBreak, tie_break)


def _check_weights(
    name: str, weights: Mapping[str, float] | None, vote: Vote | None, labels: list[str]
) -> dict[str, float] | None:
    if vote != "weighted":
        if weights is not None:
            raise SpecError(f"consensus {name!r}: weights are only used with vote='weighted'")
        return None
    if weights is None:
        raise SpecError(f"consensus {name!r}: vote='weighted' needs weights")
    if not isinstance(weights, Mapping):
        raise SpecError(
            f"consensus {name!r}: weights must be a mapping of solver label -> weight, "
            f"not {weights!r}"
        )
    for label, weight in weights.items():
        if label not in labels:
            hint = did_you_mean(label, labels) or f" (solvers: {labels})"
            raise SpecError(f"consensus {name!r}: weights name no solver {label!r}{hint}")
        valid = isinstance(weight, int | float) and not isinstance(weight, bool)
        if not valid or not math.isfinite(weight) or weight < 0:
            raise SpecError(f"consensus {name!r}: weight of {label!r} must be >= 0, not {weight!r}")
    return {label: float(w) for label, w in weights.items()}
