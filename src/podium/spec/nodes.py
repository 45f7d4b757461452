"""The workflow tree of a spec: one key per node says what it is.

``{agent: NAME}``, ``{function: "module:fn"}``, ``{workflow: "module:wf"}``, a pattern
(``{parallel: {...}}``, ``{graph: {...}}``...) or a person (``{approval: {...}}``, ``{input:
{...}}``, ``{escalation: {...}}``) whose fields mirror the Python constructor.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    Strict,
    Tag,
    ValidationInfo,
    model_validator,
)

from podium.spec.fields import (
    END,
    AgentName,
    History,
    ImportPath,
    Name,
    OutputType,
    Role,
    Router,
    Seconds,
    Selector,
    SpecModel,
    check_escalation,
    problem,
)

PositiveInt = Annotated[int, Field(ge=1)]


class QuorumPolicy(SpecModel):
    quorum: PositiveInt = Field(description="Done once this many branches succeeded")


def _policy_tag(value: Any) -> str | None:
    return "<name>" if isinstance(value, str) else "<quorum>" if isinstance(value, dict) else None


Policy = Annotated[
    Annotated[Literal["fail_fast", "collect"], Tag("<name>")]
    | Annotated[QuorumPolicy, Tag("<quorum>")],
    Discriminator(
        _policy_tag,
        custom_error_type="policy",
        custom_error_message="policy must be 'fail_fast', 'collect' or {quorum: K}",
    ),
]


class AgentNode(SpecModel):
    agent: AgentName


class FunctionNode(SpecModel):
    function: ImportPath = Field(description="A plain function (input) -> output, sync or async")


class WorkflowNode(SpecModel):
    workflow: ImportPath = Field(description="A @workflow, or an async function (ctx, input)")


class LangGraphNode(SpecModel):
    langgraph: ImportPath = Field(
        description="A compiled LangGraph graph 'module:graph' (podium.adapters; extra langgraph)"
    )


class _Pattern(SpecModel):
    name: Name


class SequentialSpec(_Pattern):
    steps: list[Node] = Field(min_length=1)
    output_type: OutputType | None = None


class ParallelSpec(_Pattern):
    branches: Branches
    reducer: Node | None = None
    policy: Policy | None = Field(default=None, description="Default 'fail_fast'")
    max_concurrency: PositiveInt | None = None


class MapSpec(_Pattern):
    node: Node
    items: ImportPath | None = Field(default=None, description="A function input -> list")
    reducer: Node | None = None
    policy: Policy | None = Field(default=None, description="Default 'fail_fast'")
    max_concurrency: PositiveInt | None = None


class SupervisorSpec(_Pattern):
    manager: AgentName
    workers: list[Node] = Field(default_factory=list)
    template: AgentName | None = None
    max_depth: PositiveInt | None = Field(default=None, description="Default 2")
    max_spawn: Annotated[int, Field(ge=0)] | None = Field(default=None, description="Default 5")


class HandoffSpec(_Pattern):
    triage: AgentName
    specialists: list[AgentName] = Field(min_length=1)
    history: History | None = Field(default=None, description="Default 'full'")
    routes: dict[AgentName, list[AgentName]] | None = None
    max_handoffs: PositiveInt | None = Field(default=None, description="Default 5")
    reducer: Node | None = None


class LoopSpec(_Pattern):
    worker: Node
    evaluator: Node
    max_iterations: PositiveInt | None = Field(default=None, description="Default 3")


class ConsensusSpec(_Pattern):
    solvers: list[Node] = Field(min_length=1)
    judge: Node | None = None
    vote: Literal["majority", "weighted"] | None = Field(
        default=None, description="Default 'majority' without a judge"
    )
    weights: dict[str, float] | None = Field(default=None, description="solver label -> weight")
    tie_break: Literal["first", "judge", "fail"] | None = Field(
        default=None, description="Default 'first'"
    )
    key: ImportPath | None = Field(
        default=None, description="A function answer -> what votes compare"
    )


class GroupChatSpec(_Pattern):
    participants: list[Node] = Field(min_length=1)
    selector: Selector | None = Field(default=None, description="Default 'round_robin'")
    max_rounds: PositiveInt | None = Field(default=None, description="Default 10")
    stop_keyword: str | None = None
    until: ImportPath | None = Field(default=None, description="A function (messages) -> bool")


def _graph_names(info: ValidationInfo) -> set[str] | None:
    nodes = info.data.get("nodes")
    return set(nodes) if isinstance(nodes, dict) else None


def _check_graph_node(value: str, info: ValidationInfo, *, end: bool = False) -> str:
    names = _graph_names(info)
    if names is None or value in names or (end and value == END):
        return value
    choices = names | {END} if end else names
    hint = f"graph nodes: {', '.join(sorted(choices))}"
    message = f"unknown graph node {value!r}"
    raise problem("unknown_graph_node", message, name=value, choices=choices, hint=hint)


def _check_target(value: str, info: ValidationInfo) -> str:
    return _check_graph_node(value, info, end=True)


GraphNodeName = Annotated[str, AfterValidator(_check_graph_node)]
GraphTarget = Annotated[str, AfterValidator(_check_target)]
# YAML has no tuples: an edge is a list of two names (the names themselves stay strict)
GraphEdge = Annotated[
    tuple[Annotated[GraphNodeName, Strict()], Annotated[GraphTarget, Strict()]], Strict(False)
]


class GraphSpec(_Pattern):
    state: ImportPath = Field(description="A pydantic model class 'module:State'")
    nodes: dict[Name, Node] = Field(min_length=1)
    start: GraphNodeName
    edges: list[GraphEdge] = Field(default=[], description=f"[from, to] pairs; to may be {END}")
    routes: dict[GraphNodeName, Router] = Field(
        default={}, description="node -> router: an agent name or 'module:function'"
    )
    writes: dict[GraphNodeName, str] = Field(
        default={}, description="node -> the state field its whole output is stored in"
    )
    max_steps: PositiveInt | None = Field(default=None, description="Default 25")


Prompt = Annotated[str, Field(min_length=1)]
ROLE_DEFAULT = "Default 'approver'"


class ApprovalSpec(_Pattern):
    prompt: Prompt = Field(description="What is to be approved")
    role: Role | None = Field(default=None, description=ROLE_DEFAULT)
    expires_after: Seconds | None = Field(default=None, description="Default: never")
    on_expiry: Literal["deny", "escalate"] | None = Field(default=None, description="Default deny")
    escalate_to: Role | None = Field(default=None, description="The role asked after expiry")

    @model_validator(mode="after")
    def _escalation(self) -> Self:
        check_escalation(self.on_expiry, self.escalate_to, self.expires_after)
        return self


class InputSpec(_Pattern):
    question: Prompt
    answer_type: OutputType | None = Field(default=None, description="Default 'str'")
    role: Role | None = Field(default=None, description=ROLE_DEFAULT)
    expires_after: Seconds | None = Field(default=None, description="Default: never")


class EscalationSpec(_Pattern):
    node: Node = Field(description="The node a person takes over from")
    role: Role | None = Field(default=None, description=ROLE_DEFAULT)
    min_confidence: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None, description="Escalate an output whose confidence is lower; default: never"
    )
    on_error: bool | None = Field(default=None, description="Escalate a failure; default true")
    answer_type: OutputType | None = Field(default=None, description="Default 'str'")
    expires_after: Seconds | None = Field(default=None, description="Default: never")


class SequentialNode(SpecModel):
    sequential: SequentialSpec


class ParallelNode(SpecModel):
    parallel: ParallelSpec


class MapNode(SpecModel):
    map: MapSpec


class SupervisorNode(SpecModel):
    supervisor: SupervisorSpec


class HandoffNode(SpecModel):
    handoff: HandoffSpec


class LoopNode(SpecModel):
    loop: LoopSpec


class ConsensusNode(SpecModel):
    consensus: ConsensusSpec


class GroupChatNode(SpecModel):
    group_chat: GroupChatSpec


class GraphNode(SpecModel):
    graph: GraphSpec


class ApprovalNode(SpecModel):
    approval: ApprovalSpec


class InputNode(SpecModel):
    input: InputSpec


class EscalationNode(SpecModel):
    escalation: EscalationSpec


NODE_TYPES: dict[str, type[SpecModel]] = {
    "agent": AgentNode,
    "function": FunctionNode,
    "workflow": WorkflowNode,
    "langgraph": LangGraphNode,
    "sequential": SequentialNode,
    "parallel": ParallelNode,
    "map": MapNode,
    "supervisor": SupervisorNode,
    "handoff": HandoffNode,
    "loop": LoopNode,
    "consensus": ConsensusNode,
    "group_chat": GroupChatNode,
    "graph": GraphNode,
    "approval": ApprovalNode,
    "input": InputNode,
    "escalation": EscalationNode,
}


def node_kind(value: Any) -> str | None:
    """The tag of a node mapping: its one key that names a node kind."""
    if not isinstance(value, dict):
        return None
    kinds = [key for key in value if key in NODE_TYPES]
    return f"<{kinds[0]}>" if len(kinds) == 1 else None


Node = Annotated[
    Annotated[AgentNode, Tag("<agent>")]
    | Annotated[FunctionNode, Tag("<function>")]
    | Annotated[WorkflowNode, Tag("<workflow>")]
    | Annotated[LangGraphNode, Tag("<langgraph>")]
    | Annotated[SequentialNode, Tag("<sequential>")]
    | Annotated[ParallelNode, Tag("<parallel>")]
    | Annotated[MapNode, Tag("<map>")]
    | Annotated[SupervisorNode, Tag("<supervisor>")]
    | Annotated[HandoffNode, Tag("<handoff>")]
    | Annotated[LoopNode, Tag("<loop>")]
    | Annotated[ConsensusNode, Tag("<consensus>")]
    | Annotated[GroupChatNode, Tag("<group_chat>")]
    | Annotated[GraphNode, Tag("<graph>")]
    | Annotated[ApprovalNode, Tag("<approval>")]
    | Annotated[InputNode, Tag("<input>")]
    | Annotated[EscalationNode, Tag("<escalation>")],
    Discriminator(node_kind, custom_error_type="node_kind", custom_error_message="not a node"),
]


def _branches_tag(value: Any) -> str | None:
    return "<mapping>" if isinstance(value, dict) else "<list>" if isinstance(value, list) else None


Branches = Annotated[
    Annotated[dict[Name, Node], Field(min_length=1), Tag("<mapping>")]
    | Annotated[list[Node], Field(min_length=1), Tag("<list>")],
    Discriminator(
        _branches_tag,
        custom_error_type="branches",
        custom_error_message="branches must be a mapping of name -> node, or a list of nodes",
    ),
]

_PATTERN_SPECS: tuple[type[SpecModel], ...] = (
    SequentialSpec,
    ParallelSpec,
    MapSpec,
    SupervisorSpec,
    HandoffSpec,
    LoopSpec,
    ConsensusSpec,
    GroupChatSpec,
    GraphSpec,
    EscalationSpec,
)
for _spec in _PATTERN_SPECS:
    _spec.model_rebuild()

__all__ = ["NODE_TYPES", "Node", "node_kind"]
