"""Sequential: each step's output is the next step's input."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pydantic

from podium.errors import OutputValidationError, SpecError
from podium.patterns._fanout import check_name, node_of, unique_labels
from podium.runtime import Context, Node
from podium.runtime.context import run_node


class Sequential:
    """Run ``steps`` one after another, feeding each output to the next step.

    A plain function in ``steps`` is a journaled mapping step (``lambda r: r["summary"]``);
    an agent with an ``output_type`` hands the next step a validated object. ``output_type``
    validates the final output (raising :class:`~podium.errors.OutputValidationError`).
    """

    kind = "sequential"

    def __init__(self, name: str, steps: Sequence[Any], *, output_type: Any = None) -> None:
        self.name = check_name(name)
        if isinstance(steps, str | bytes) or not isinstance(steps, Sequence):
            raise SpecError(f"sequential {name!r}: steps must be a list of nodes, not {steps!r}")
        if not steps:
            raise SpecError(f"sequential {name!r} needs at least one step")
        self.steps: tuple[Node, ...] = tuple(
            node_of(step, f"sequential {name!r} step {i + 1}") for i, step in enumerate(steps)
        )
        self.labels = unique_labels(self.steps)
        self.output_type = output_type
        self._adapter = _adapter(name, output_type) if output_type is not None else None

    async def execute(self, ctx: Context, input: Any) -> Any:
        value = input
        for label, step in zip(self.labels, self.steps, strict=True):
            value = await run_node(ctx.child(label), step, value)
        if self._adapter is None:
            return value
        try:
            return self._adapter.validate_python(value)
        except pydantic.ValidationError as error:
            raise OutputValidationError(
                f"sequential {self.name!r}: the final output does not match its output_type: "
                f"{error.errors()[0]['msg']}"
            ) from None

    def __repr__(self) -> str:
        return f"Sequential({self.name!r}, steps={list(self.labels)})"


def _adapter(name: str, output_type: Any) -> pydantic.TypeAdapter[Any]:
    try:
        return pydantic.TypeAdapter(output_type)
    except Exception as error:
        raise SpecError(
            f"sequential {name!r}: output_type must be a type pydantic can validate, "
            f"not {output_type!r} ({type(error).__name__})"
        ) from None
