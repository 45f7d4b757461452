"""Graph: nodes share a typed state and run in supersteps along edges and routers.

Superstep ``n`` runs every node of the frontier concurrently, node ``x`` at ``{path}/x[{n}]``
(``research/search[2]``). Their updates are applied in node declaration order, each field
through its reducer. The next frontier is the union of the static edge targets and the router
decisions; a function router's decision is journaled as ``{path}/route:x#k``, an agent router
runs at ``{path}/route:x[{n}]``. A node with no edge and no route out ends its branch.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, cast

import pydantic

from podium.agents import Agent
from podium.errors import PatternError, SpecError, StepLimitExceeded
from podium.patterns._fanout import check_name, did_you_mean, node_of
from podium.runtime import Context, Node
from podium.runtime.context import run_node
from podium.runtime.nodes import FunctionNode, as_node

END = "__end__"
"""A target that ends the branch (an edge to it, or a router returning it)."""

Reducer = Callable[[Any, Any], Any]
Router = Callable[[Any], str | list[str]] | Agent


class Graph:
    """A state machine over a pydantic ``state`` model.

    Each node gets the current state (an agent gets it as JSON) and returns a partial update:
    a dict of fields, a pydantic model (its fields that were set), or ``None`` for no change.
    ``writes={"writer": "draft"}`` stores that node's whole output in one field instead. A
    field annotated ``Annotated[T, reducer]`` merges with ``reducer(old, new)``
    (``operator.add`` appends to a list); other fields are replaced. The input is the state
    (an instance or a dict). The run stops when the frontier is empty; more than
    ``max_steps`` supersteps raise :class:`~podium.errors.StepLimitExceeded`. Routers and
    reducers must be deterministic, and nodes must not mutate the state they get.
    """

    kind = "graph"

    def __init__(
        self,
        name: str,
        *,
        state: type[pydantic.BaseModel],
        nodes: Mapping[str, Any],
        start: str,
        edges: Sequence[tuple[str, str]] = (),
        routes: Mapping[str, Router] | None = None,
        writes: Mapping[str, str] | None = None,
        max_steps: int = 25,
    ) -> None:
        self.name = check_name(name)
        self.state = _check_state(name, state)
        self.nodes = self._check_nodes(nodes)
        self.start = self._known(start, "start")
        self.edges: dict[str, set[str]] = {}
        if isinstance(edges, str | bytes) or not isinstance(edges, Sequence):
            raise SpecError(
                f"graph {name!r}: edges must be a list of (source, target) pairs, not {edges!r}"
            )
        for edge in edges:
            self._add_edge(edge)
        for field, mapping in (("routes", routes), ("writes", writes)):
            if mapping is not None and not isinstance(mapping, Mapping):
                raise SpecError(f"graph {name!r}: {field} must be a mapping, not {mapping!r}")
        self.routes = {
            self._known(k, "routes"): self._router(k, r) for k, r in (routes or {}).items()
        }
        fields = list(state.model_fields)
        self.writes = {
            self._known(node, "writes"): _pick(field, fields, f"graph {name!r} writes field")
            for node, field in (writes or {}).items()
        }
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise SpecError(
                f"graph {name!r}: max_steps must be a positive integer, not {max_steps!r}"
            )
        self.max_steps = max_steps
        self.reducers = _reducers(name, state)
        self._adapters = {
            f: pydantic.TypeAdapter[Any](cast(Any, info.annotation))
            for f, info in state.model_fields.items()
        }

    def _check_nodes(self, nodes: Mapping[str, Any]) -> dict[str, Node]:
        if not isinstance(nodes, Mapping):
            raise SpecError(
                f"graph {self.name!r}: nodes must be a mapping of node name -> node, not {nodes!r}"
            )
        if not nodes:
            raise SpecError(f"graph {self.name!r} needs at least one node")
        for key in nodes:
            check_name(key, f"graph {self.name!r} node")
            if key == END or key.startswith("route:"):
                raise SpecError(f"graph {self.name!r}: node name {key!r} is reserved")
        return {
            k: _updates_only(node_of(v, f"graph {self.name!r} node {k!r}"))
            for k, v in nodes.items()
        }

    def _known(self, node: str, where: str, *, end: bool = False) -> str:
        options = [*self.nodes, END] if end else list(self.nodes)
        return _pick(node, options, f"graph {self.name!r} {where}: node")

    def _add_edge(self, edge: Any) -> None:
        if not isinstance(edge, tuple | list) or len(edge) != 2:
            raise SpecError(
                f"graph {self.name!r}: an edge is a (source, target) pair, not {edge!r}"
            )
        source = self._known(edge[0], "edge source")
        self.edges.setdefault(source, set()).add(self._known(edge[1], "edge target", end=True))

    def _router(self, node: str, router: Any) -> Callable[[Any], Any] | Node:
        if isinstance(router, Agent):
            targets = cast(Any, Literal).__getitem__((*self.nodes, END))
            return as_node(dataclasses.replace(router, output_type=targets))
        if not callable(router):
            raise SpecError(
                f"graph {self.name!r}: the route of {node!r} must be a function or an Agent"
            )
        return cast(Callable[[Any], Any], router)

    async def execute(self, ctx: Context, input: Any) -> pydantic.BaseModel:
        state = self._initial(input)
        frontier = [self.start]
        step = 0
        while frontier:
            if step == self.max_steps:
                raise StepLimitExceeded(
                    f"graph {self.name!r} at {ctx.path}: still running after {step} "
                    f"supersteps (max_steps); the next frontier was {frontier}"
                )
            step += 1
            outputs = await _superstep(ctx, [(n, self.nodes[n]) for n in frontier], state, step)
            for node, output in zip(frontier, outputs, strict=True):
                state = self._apply(state, node, output)
            frontier = await self._next(ctx, frontier, state, step)
        return state

    def _initial(self, input: Any) -> pydantic.BaseModel:
        if isinstance(input, self.state):
            return input.model_copy(deep=True)
        try:
            return self.state.model_validate({} if input is None else input)
        except pydantic.ValidationError as error:
            raise PatternError(
                f"graph {self.name!r}: the input is not a valid {self.state.__name__}: "
                f"{_first(error)}"
            ) from None

    def _apply(self, state: pydantic.BaseModel, node: str, output: Any) -> pydantic.BaseModel:
        values = dict(state)
        for field, value in self._update_of(node, output).items():
            if field not in self._adapters:
                hint = did_you_mean(field, list(self._adapters))
                raise PatternError(
                    f"graph {self.name!r}: node {node!r} updated no field {field!r}{hint}"
                )
            try:
                new = self._adapters[field].validate_python(value)
            except pydantic.ValidationError as error:
                raise PatternError(
                    f"graph {self.name!r}: node {node!r} set {field!r} to an invalid value: "
                    f"{_first(error)}"
                ) from None
            reducer = self.reducers.get(field)
            values[field] = reducer(values[field], new) if reducer else new
        try:
            return self.state.model_validate(values)
        except pydantic.ValidationError as error:
            raise PatternError(
                f"graph {self.name!r}: the update of node {node!r} makes the state invalid: "
                f"{_first(error)}"
            ) from None

    def _update_of(self, node: str, output: Any) -> dict[str, Any]:
        field = self.writes.get(node)
        if field is not None:
            return {field: output}
        if output is None:
            return {}
        if isinstance(output, pydantic.BaseModel):
            return {f: getattr(output, f) for f in output.model_fields_set}
        if isinstance(output, Mapping):
            return {str(k): v for k, v in output.items()}
        raise PatternError(
            f"graph {self.name!r}: node {node!r} returned {type(output).__name__}, not a dict "
            f"of state fields; return a dict, or store its output with writes={{{node!r}: field}}"
        )

    async def _next(
        self, ctx: Context, frontier: list[str], state: pydantic.BaseModel, step: int
    ) -> list[str]:
        targets: set[str] = set()
        for node in frontier:
            targets.update(self.edges.get(node, ()))
            if node in self.routes:
                targets.update(await self._route(ctx, node, state, step))
        return [n for n in self.nodes if n in targets]

    async def _route(
        self, ctx: Context, node: str, state: pydantic.BaseModel, step: int
    ) -> list[str]:
        router = self.routes[node]
        if isinstance(router, Node):
            view = state.model_copy(deep=True)
            choice = await run_node(ctx.child(f"route:{node}[{step}]"), router, view)
        else:
            choice = await ctx.step(
                f"route:{node}", router, state.model_copy(deep=True), kind="decision"
            )
        chosen = [choice] if isinstance(choice, str) else choice
        if not isinstance(chosen, list) or not all(isinstance(c, str) for c in chosen):
            raise PatternError(
                f"graph {self.name!r} at {ctx.path}: the router of {node!r} returned "
                f"{choice!r}; a router returns a node name, END or a list of them"
            )
        for target in chosen:
            if target != END and target not in self.nodes:
                raise PatternError(
                    f"graph {self.name!r} at {ctx.path}: the router of {node!r} chose "
                    f"{target!r}, which is not a node{did_you_mean(target, [*self.nodes, END])}"
                )
        return chosen

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, nodes={list(self.nodes)}, start={self.start!r})"


async def _superstep(
    ctx: Context, frontier: list[tuple[str, Node]], state: pydantic.BaseModel, step: int
) -> list[Any]:
    """Run the frontier concurrently: the first failure cancels the rest and is raised."""

    async def one(index: int) -> Any:
        name, node = frontier[index]
        view = state.model_copy(deep=True)
        return await run_node(ctx.child(f"{name}[{step}]"), node, view)

    gathered = await ctx.gather(len(frontier), one)
    gathered.raise_suspended()
    return gathered.values


def _updates_only(node: Node) -> Node:
    """A function node's output is journaled as JSON, where a returned state model would lose
    which fields it set: journal ``model_dump(exclude_unset=True)`` instead (only those)."""
    if not isinstance(node, FunctionNode):
        return node
    fn = node.fn

    async def update(state: Any) -> Any:
        output = fn(state)
        if inspect.isawaitable(output):
            output = await output
        if isinstance(output, pydantic.BaseModel):
            return output.model_dump(mode="json", exclude_unset=True)
        return output

    update.__name__ = node.name
    return FunctionNode(update, node.name)


def _check_state(name: str, state: Any) -> type[pydantic.BaseModel]:
    if not (isinstance(state, type) and issubclass(state, pydantic.BaseModel)):
        raise SpecError(f"graph {name!r}: state must be a pydantic BaseModel class, not {state!r}")
    return state


def _reducers(name: str, state: type[pydantic.BaseModel]) -> dict[str, Reducer]:
    found: dict[str, Reducer] = {}
    for field, info in state.model_fields.items():
        reducers = [m for m in info.metadata if callable(m) and not isinstance(m, type)]
        if len(reducers) > 1:
            raise SpecError(f"graph {name!r}: state field {field!r} has more than one reducer")
        if reducers:
            found[field] = reducers[0]
    return found


def _pick(value: Any, options: list[str], what: str) -> str:
    if value not in options:
        raise SpecError(f"{what} {value!r} is unknown{did_you_mean(value, list(options))}")
    return str(value)


def _first(error: pydantic.ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])
