"""People as nodes: an approval (approve / reject, with a comment) and a question (an answer).

Both journal an ``approval_requested`` event and suspend the run: no task, no memory. A
decision (``podium approve``/``reject``/``answer``, or ``Runtime.decide``) makes the run
runnable again, in whichever process resumes it; a decision submitted twice is harmless.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic
from pydantic import JsonValue

from podium.errors import OutputValidationError, SpecError
from podium.patterns._fanout import check_name, to_json
from podium.policy import ApprovalRule, check_role
from podium.runtime import Context
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
