"""Loop (evaluator-optimizer): a worker produces, an evaluator judges, until pass or a cap.

Iteration ``i`` runs ``{worker}[i]`` then ``{evaluator}[i]`` as children of the loop, so the
journal holds every attempt and verdict: a resumed loop replays the finished iterations (no
model call) and carries on from the first unfinished one — the count is never reset. On the
cap, the best attempt (highest score; the latest among equals) is returned with
``status="max_iterations"``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import pydantic

from podium.agents import Agent
from podium.errors import OutputValidationError, SpecError
from podium.patterns._fanout import check_name, node_of
from podium.runtime import Context, Node
from podium.runtime.context import run_node


class Verdict(pydantic.BaseModel):
    """What an evaluator says about one attempt."""

    passed: bool
    score: float | None = None
    feedback: str = ""


class LoopResult(pydantic.BaseModel):
    output: Any
    passed: bool
    status: Literal["passed", "max_iterations"]
    iterations: int
    score: float | None = None
    feedback: str = ""


class Loop:
    kind = "loop"

    def __init__(self, name: str, worker: Any, evaluator: Any, *, max_iterations: int = 3) -> None:
        self.name = check_name(name)
        if (
            isinstance(max_iterations, bool)
            or not isinstance(max_iterations, int)
            or max_iterations < 1
        ):
            raise SpecError(
                f"loop {name!r}: max_iterations must be an integer >= 1, not {max_iterations!r}"
            )
        self.max_iterations = max_iterations
        self.worker = node_of(worker, f"loop {name!r} worker")
        if isinstance(evaluator, Agent) and evaluator.output_type is None:
            evaluator = dataclasses.replace(evaluator, output_type=Verdict)
        self.evaluator: Node = node_of(evaluator, f"loop {name!r} evaluator")
        if self.worker.name == self.evaluator.name:
            raise SpecError(f"loop {name!r}: worker and evaluator need different names")

    async def execute(self, ctx: Context, input: Any) -> LoopResult:
        best: LoopResult | None = None
        attempt_input = input
        for i in range(1, self.max_iterations + 1):
            output = await run_node(
                ctx.child(f"{self.worker.name}[{i}]"), self.worker, attempt_input
            )
            raw = await run_node(
                ctx.child(f"{self.evaluator.name}[{i}]"),
                self.evaluator,
                {"task": input, "output": output, "iteration": i},
            )
            verdict = _verdict(self.name, raw)
            result = LoopResult(
                output=output, passed=verdict.passed, iterations=i, score=verdict.score,
                feedback=verdict.feedback,
                status="passed" if verdict.passed else "max_iterations",
            )  # fmt: skip
            if verdict.passed:
                return result
            if best is None or _rank(result) >= _rank(best):
                best = result
            attempt_input = {"task": input, "previous": output, "feedback": verdict.feedback}
        assert best is not None
        return best.model_copy(update={"iterations": self.max_iterations})

    def __repr__(self) -> str:
        return (
            f"Loop({self.name!r}, worker={self.worker.name!r}, evaluator={self.evaluator.name!r})"
        )


def _rank(result: LoopResult) -> float:
    return result.score if result.score is not None else 0.0


def _verdict(loop: str, raw: Any) -> Verdict:
    if isinstance(raw, Verdict):
        return raw
    if isinstance(raw, bool):
        return Verdict(passed=raw)
    try:
        return Verdict.model_validate(raw)
    except pydantic.ValidationError:
        raise OutputValidationError(
            f"loop {loop!r}: the evaluator must return a bool or a verdict "
            f"{{passed, score?, feedback?}}, got {raw!r:.200}"
        ) from None
