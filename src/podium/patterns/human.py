"""People as nodes: an approval (approve / reject, with a comment), a question (an answer), and
an escalation (a person takes over when a node fails or is not confident enough).

Both journal an ``approval_requested`` event and suspend the run: no task, no memory. A
decision (``podium approve``/``reject``/``answer``, or ``Runtime.decide``) makes the run
runnable again, in whichever process resumes it; a decision submitted twice is harmless.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic
from pydantic import JsonValue

from podium.errors import FatalError, OutputValidationError, SpecError
from podium.patterns._fanout import check_name, node_of, to_json
from podium.policy import ApprovalRule, check_role
from podium.runtime import Context
from podium.runtime.context import run_node
from podium.runtime.governance import require_approval


class ApprovalResult(pydantic.BaseModel):
    approved: bool
    decision: str  # approved, rejected, expired
    by: str
    comment: str = ""
    input: Any = None  # what was approved, passed through


class Approval:
    """Ask ``role`` to approve the node's input; the output is an :class:`ApprovalResult`."""

    kind = "approval"

    def __init__(
        self,
        name: str,
        *,
        prompt: str,
        role: str = "approver",
        expires_after: float | None = None,
        on_expiry: Literal["deny", "escalate"] = "deny",
        escalate_to: str | None = None,
    ) -> None:
        self.name = check_name(name)
        if not isinstance(prompt, str) or not prompt.strip():
            raise SpecError(f"approval {name!r}: prompt must say what is to be approved")
        self.prompt = prompt
        self.rule = ApprovalRule(
            role=check_role(role), expires_after=expires_after, on_expiry=on_expiry,
            escalate_to=escalate_to, reason=prompt,
        )  # fmt: skip

    async def execute(self, ctx: Context, input: Any) -> ApprovalResult:
        value: JsonValue = to_json(input)
        decision = await require_approval(
            ctx, ctx.next_key("approval"), kind="approval", subject=self.name,
            action={"prompt": self.prompt, "input": value}, rule=self.rule,
            requested_by=ctx.path, reason=self.prompt,
        )  # fmt: skip
        return ApprovalResult(
            approved=decision.decision == "approved", decision=decision.decision,
            by=decision.by, comment=decision.comment, input=value,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"Approval({self.name!r}, role={self.rule.role!r})"


class Input:
    """Ask ``role`` a question; the output is the answer, validated as ``answer_type``."""

    kind = "input"

    def __init__(
        self,
        name: str,
        *,
        question: str,
        answer_type: Any = str,
        role: str = "approver",
        expires_after: float | None = None,
    ) -> None:
        self.name = check_name(name)
        if not isinstance(question, str) or not question.strip():
            raise SpecError(f"input {name!r}: question must not be empty")
        self.question = question
        try:
            self.adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(answer_type)
            self.schema: JsonValue = self.adapter.json_schema()
        except Exception as error:
            raise SpecError(f"input {name!r}: answer_type cannot be validated: {error}") from None
        self.rule = ApprovalRule(role=check_role(role), expires_after=expires_after)

    async def execute(self, ctx: Context, input: Any) -> Any:
        decision = await require_approval(
            ctx, ctx.next_key("input"), kind="input", subject=self.name,
            action={"question": self.question, "context": to_json(input)}, rule=self.rule,
            requested_by=ctx.path, reason=self.question, answer_schema=self.schema,
        )  # fmt: skip
        if decision.decision != "answered":
            raise OutputValidationError(
                f"input {self.name!r} at {ctx.path}: no answer ({decision.decision})"
            )
        try:
            return self.adapter.validate_python(decision.answer)
        except pydantic.ValidationError as error:
            raise OutputValidationError(
                f"input {self.name!r} at {ctx.path}: the answer is not valid: "
                f"{error.errors()[0]['msg']}"
            ) from None

    def __repr__(self) -> str:
        return f"Input({self.name!r}, role={self.rule.role!r})"


class Escalation:
    """Run ``node``; hand the work to a person when it fails or is not confident enough.

    The person (``role``) answers a question showing the input, the error or the low-confidence
    answer, and their answer (validated as ``answer_type``) becomes the output. Confidence is
    read from the output's ``confidence`` field (a number in [0, 1]) when ``min_confidence`` is
    set. A failure is escalated only after the node's own retries are exhausted (a failed step
    or model call has already used its retry policy when the error reaches this node).
    """

    kind = "escalation"

    def __init__(
        self,
        name: str,
        node: Any,
        *,
        role: str = "approver",
        min_confidence: float | None = None,
        on_error: bool = True,
        answer_type: Any = str,
        expires_after: float | None = None,
    ) -> None:
        self.name = check_name(name)
        self.node = node_of(node, f"escalation {name!r} node")
        if min_confidence is not None and (
            isinstance(min_confidence, bool) or not 0 <= min_confidence <= 1
        ):
            raise SpecError(f"escalation {name!r}: min_confidence must be in [0, 1]")
        self.min_confidence = min_confidence
        self.on_error = on_error
        self.person = Input(
            f"{name}.person", question=f"Take over {self.node.name!r}: give the answer.",
            answer_type=answer_type, role=role, expires_after=expires_after,
        )  # fmt: skip

    async def execute(self, ctx: Context, input: Any) -> Any:
        key = ctx.next_key("escalated")  # allocated first: the same position on replay
        done = ctx.recorded(key)
        if done is not None and isinstance(done.result, dict):
            return await self._ask(ctx, input, done.result)  # decided before: not re-run
        try:
            output = await run_node(ctx.child(self.node.name), self.node, input)
        except FatalError:
            raise
        except Exception as error:
            if not self.on_error:
                raise
            why: dict[str, Any] = {"reason": "failed", "error": f"{type(error).__name__}: {error}"}
            return await self._ask(ctx, input, await ctx.record_step(key, "decision", why))
        confidence = _confidence(output)
        if self.min_confidence is not None and (
            confidence is None or confidence < self.min_confidence
        ):
            why = {"reason": "low confidence", "confidence": confidence, "answer": to_json(output)}
            return await self._ask(ctx, input, await ctx.record_step(key, "decision", why))
        return output

    async def _ask(self, ctx: Context, input: Any, why: Any) -> Any:
        context = {"input": to_json(input), **why}
        return await run_node(ctx.child("person"), self.person, context)

    def __repr__(self) -> str:
        return f"Escalation({self.name!r}, node={self.node.name!r})"


def _confidence(output: Any) -> float | None:
    value = (
        output.get("confidence")
        if isinstance(output, dict)
        else getattr(output, "confidence", None)
    )
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
