"""Pattern specs to pattern objects: one small function per pattern, mirroring its constructor.

Each builds its parts first (every failed part is reported), then calls the constructor once;
a value the constructor refuses is reported at the pattern's key.
"""

from __future__ import annotations

import pathlib
from typing import Any

import pydantic

from podium.budget import Budget
from podium.patterns import (
    Approval,
    Escalation,
    Handoff,
    Input,
    Loop,
    Map,
    Parallel,
    Quorum,
    Sequential,
    Supervisor,
)
from podium.patterns.consensus import Consensus
from podium.patterns.graph import Graph
from podium.patterns.groupchat import GroupChat
from podium.runtime import tenant_budget
from podium.spec.build import Builder, PatternBuilder
from podium.spec.build import options as _options
from podium.spec.build_governance import agent_options
from podium.spec.errors import Path
from podium.spec.nodes import (
    ApprovalSpec,
    ConsensusSpec,
    EscalationSpec,
    GraphSpec,
    GroupChatSpec,
    HandoffSpec,
    InputSpec,
    LoopSpec,
    MapSpec,
    ParallelSpec,
    QuorumPolicy,
    SequentialSpec,
    SupervisorSpec,
)
from podium.spec.schema import SpecDocument
from podium.spec.validate import Finding


def _policy(policy: str | QuorumPolicy | None) -> Any:
    return Quorum(policy.quorum) if isinstance(policy, QuorumPolicy) else policy


def _sequential(b: Builder, spec: SequentialSpec, at: Path) -> Sequential:
    steps = b.nodes(spec.steps, (*at, "steps"))
    output = b.optional(b.output_type, spec.output_type, (*at, "output_type"))
    b.require(steps, output)
    return b.construct(at, Sequential, spec.name, steps, **_options(output_type=output))


def _parallel(b: Builder, spec: ParallelSpec, at: Path) -> Parallel:
    where = (*at, "branches")
    if isinstance(spec.branches, dict):
        branches: Any = {k: b.attempt(b.node, v, (*where, k)) for k, v in spec.branches.items()}
    else:
        branches = b.nodes(spec.branches, where)
    reducer = b.optional(b.node, spec.reducer, (*at, "reducer"))
    b.require(branches, reducer)
    options = _options(
        reducer=reducer,
        policy=_policy(spec.policy),
        max_concurrency=spec.max_concurrency or b.doc.limits.max_concurrency,
    )
    return b.construct(at, Parallel, spec.name, branches, **options)


def _map(b: Builder, spec: MapSpec, at: Path) -> Map:
    node = b.attempt(b.node, spec.node, (*at, "node"))
    items = b.optional(b.callable, spec.items, (*at, "items"))
    reducer = b.optional(b.node, spec.reducer, (*at, "reducer"))
    b.require(node, items, reducer)
    options = _options(
        items=items,
        reducer=reducer,
        policy=_policy(spec.policy),
        max_concurrency=spec.max_concurrency or b.doc.limits.max_concurrency,
    )
    return b.construct(at, Map, spec.name, node, **options)


def _supervisor(b: Builder, spec: SupervisorSpec, at: Path) -> Supervisor:
    manager = b.attempt(b.agent, spec.manager)
    workers = b.nodes(spec.workers, (*at, "workers"))
    template = None if spec.template is None else b.attempt(b.agent, spec.template)
    b.require(manager, workers, template)
    options = _options(template=template, max_depth=spec.max_depth, max_spawn=spec.max_spawn)
    return b.construct(at, Supervisor, spec.name, manager, workers, **options)


def _handoff(b: Builder, spec: HandoffSpec, at: Path) -> Handoff:
    triage = b.attempt(b.agent, spec.triage)
    specialists = [b.attempt(b.agent, name) for name in spec.specialists]
    reducer = b.optional(b.node, spec.reducer, (*at, "reducer"))
    history: Any = spec.history
    if history is not None and ":" in history:
        history = b.attempt(b.callable, history, (*at, "history"))
    b.require(triage, specialists, reducer, history)
    options = _options(
        history=history,
        routes=spec.routes,
        max_handoffs=spec.max_handoffs,
        reducer=reducer,
    )
    return b.construct(at, Handoff, spec.name, triage, specialists, **options)


def _loop(b: Builder, spec: LoopSpec, at: Path) -> Loop:
    worker = b.attempt(b.node, spec.worker, (*at, "worker"))
    evaluator = b.attempt(b.node, spec.evaluator, (*at, "evaluator"))
    b.require(worker, evaluator)
    options = _options(max_iterations=spec.max_iterations)
    return b.construct(at, Loop, spec.name, worker, evaluator, **options)


def _consensus(b: Builder, spec: ConsensusSpec, at: Path) -> Consensus:
    solvers = b.nodes(spec.solvers, (*at, "solvers"))
    judge = b.optional(b.node, spec.judge, (*at, "judge"))
    key = b.optional(b.callable, spec.key, (*at, "key"))
    b.require(solvers, judge, key)
    options = _options(
        judge=judge, vote=spec.vote, weights=spec.weights, tie_break=spec.tie_break, key=key
    )
    return b.construct(at, Consensus, spec.name, solvers, **options)


def _group_chat(b: Builder, spec: GroupChatSpec, at: Path) -> GroupChat:
    participants = b.nodes(spec.participants, (*at, "participants"))
    selector = b.optional(b.router, spec.selector, (*at, "selector"))
    until = b.optional(b.callable, spec.until, (*at, "until"))
    b.require(participants, selector, until)
    options = _options(
        selector=selector, max_rounds=spec.max_rounds, stop_keyword=spec.stop_keyword, until=until
    )
    return b.construct(at, GroupChat, spec.name, participants, **options)


def _state(b: Builder, ref: str, at: Path) -> type[pydantic.BaseModel]:
    obj = b.resolve(ref, at)
    if not (isinstance(obj, type) and issubclass(obj, pydantic.BaseModel)):
        raise b.fail(at, f"{ref!r} is not a pydantic model class (got {type(obj).__name__})")
    return obj


def _graph(b: Builder, spec: GraphSpec, at: Path) -> Graph:
    state = b.attempt(_state, b, spec.state, (*at, "state"))
    nodes = {k: b.attempt(b.node, v, (*at, "nodes", k)) for k, v in spec.nodes.items()}
    routes = {k: b.attempt(b.router, v, (*at, "routes", k)) for k, v in spec.routes.items()}
    b.require(state, nodes, routes)
    options = _options(writes=spec.writes or None, max_steps=spec.max_steps)
    return b.construct(
        at,
        Graph,
        spec.name,
        state=state,
        nodes=nodes,
        start=spec.start,
        edges=[tuple(edge) for edge in spec.edges],
        routes=routes,
        **options,
    )


def _approval(b: Builder, spec: ApprovalSpec, at: Path) -> Approval:
    settings = _options(
        role=spec.role,
        expires_after=spec.expires_after,
        on_expiry=spec.on_expiry,
        escalate_to=spec.escalate_to,
    )
    return b.construct(at, Approval, spec.name, prompt=spec.prompt, **settings)


def _input(b: Builder, spec: InputSpec, at: Path) -> Input:
    answer = b.optional(b.output_type, spec.answer_type, (*at, "answer_type"))
    b.require(answer)
    settings = _options(answer_type=answer, role=spec.role, expires_after=spec.expires_after)
    return b.construct(at, Input, spec.name, question=spec.question, **settings)


def _escalation(b: Builder, spec: EscalationSpec, at: Path) -> Escalation:
    node = b.attempt(b.node, spec.node, (*at, "node"))
    answer = b.optional(b.output_type, spec.answer_type, (*at, "answer_type"))
    b.require(node, answer)
    settings = _options(
        role=spec.role,
        min_confidence=spec.min_confidence,
        on_error=spec.on_error,
        answer_type=answer,
        expires_after=spec.expires_after,
    )
    return b.construct(at, Escalation, spec.name, node, **settings)


PATTERNS: dict[str, PatternBuilder] = {
    "sequential": _sequential,
    "parallel": _parallel,
    "map": _map,
    "supervisor": _supervisor,
    "handoff": _handoff,
    "loop": _loop,
    "consensus": _consensus,
    "group_chat": _group_chat,
    "graph": _graph,
    "approval": _approval,
    "input": _input,
    "escalation": _escalation,
}


def build(doc: SpecDocument, folder: pathlib.Path | None = None) -> tuple[Any, list[Finding]]:
    """The root node of a validated document, or ``None`` and every finding (``folder``: the
    spec file's, where relative files it names are found)."""
    builder = Builder(doc, PATTERNS, agent_options, folder)
    root = builder.build()
    if root is not None and doc.namespace_budget is not None:
        limits = doc.namespace_budget.model_dump()
        tenant_budget.declare(root, Budget(**limits))  # the executor holds spend against it
    return root, builder.findings


__all__ = ["PATTERNS", "build"]
