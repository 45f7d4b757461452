"""Malformed specs of the core keys (models, tools, agents, limits, nodes and patterns) and
their expected located errors; ``tests/test_spec_errors.py`` checks each one.

Each case lists every issue expected, in file order, as ``(line:column, field path, a fragment
of the message, the suggestion or None)``.
"""

from __future__ import annotations

from dataclasses import dataclass

AGENT = 'version: 1\nagents:\n  clerk: {model: "openai:gpt-4.1-mini"}\n'  # 3 lines
NOTES = "version: 1\nworkflow:\n  graph:\n    name: g\n    state: 'spec_helpers:Notes'\n"
TAKE_NOTE = "    nodes: {take_note: {function: 'spec_helpers:take_note'}}\n"


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    expected: list[tuple[str, str, str, str | None]]


CASES = [
    Case(
        "yaml syntax",
        "version: 1\nworkflow: {agent: clerk\n",
        [("3:1", "", "invalid YAML: while parsing a flow mapping", None)],
    ),
    Case("empty file", "# nothing here\n", [("1:1", "", "the file is empty", None)]),
    Case(
        "root is a list",
        "- version\n- 1\n",
        [("1:1", "", "a spec must be a mapping of version, agents, workflow", None)],
    ),
    Case(
        "duplicate key",
        AGENT + "workflow: {agent: clerk}\nworkflow: {agent: clerk}\n",
        [("5:1", "workflow", "duplicate key 'workflow' (first written on line 4)", None)],
    ),
    Case(
        "python tag",
        "version: 1\nworkflow: !!python/name:os.system {}\n",
        [("2:11", "workflow", "unsupported YAML tag '!!python/name:os.system'", None)],
    ),
    Case(
        "unsupported version",
        "version: 2\nworkflow: {function: 'spec_helpers:shout'}\n",
        [("1:10", "version", "unsupported version 2: this Podium reads version 1", None)],
    ),
    Case(
        "no version",
        "workflow: {function: 'spec_helpers:shout'}\n",
        [("1:1", "version", "missing required key 'version'", None)],
    ),
    Case(
        "no workflow",
        AGENT,
        [("1:1", "workflow", "missing required key 'workflow'", None)],
    ),
    Case(
        "top-level key typo",
        "version: 1\nagent:\n  clerk: {model: 'openai:x'}\nworkflow: {agent: clerk}\n",
        [("2:1", "agent", "unknown key 'agent'", "agents")],
    ),
    Case(
        "agent key typo",
        "version: 1\nagents:\n  clerk:\n    modle: 'openai:x'\nworkflow: {agent: clerk}\n",
        [("4:5", "agents.clerk.modle", "unknown key 'modle'", "model")],
    ),
    Case(
        "model name typo",
        "version: 1\nmodels:\n  fast: 'openai:x'\nagents:\n  clerk: {model: fats}\n"
        "workflow: {agent: clerk}\n",
        [("5:18", "agents.clerk.model", "unknown model 'fats'", "fast")],
    ),
    Case(
        "model string without a provider",
        "version: 1\nmodels:\n  fast: 'gpt 4'\nworkflow: {function: 'spec_helpers:shout'}\n",
        [("3:9", "models.fast", "'gpt 4' must look like 'provider:model'", None)],
    ),
    Case(
        "model neither text nor mapping",
        "version: 1\nagents:\n  clerk: {model: 5}\nworkflow: {agent: clerk}\n",
        [("3:18", "agents.clerk.model", "a model is a name in `models`, 'provider:model'", None)],
    ),
    Case(
        "model import attribute typo",
        "version: 1\nmodels:\n  s: {import: 'spec_helpers:clerk_modle'}\n"
        "workflow: {function: 'spec_helpers:shout'}\n",
        [
            (
                "3:15",
                "models.s.import",
                "'spec_helpers' has no attribute 'clerk_modle'",
                "clerk_model",
            )
        ],
    ),
    Case(
        "model import is not a model",
        "version: 1\nmodels:\n  s: {import: 'spec_helpers:NOT_A_MODEL'}\n"
        "workflow: {function: 'spec_helpers:shout'}\n",
        [("3:15", "models.s.import", "is not a podium Model nor a function returning one", None)],
    ),
    Case(
        "model factory raises",
        "version: 1\nagents:\n  clerk:\n    model: {import: 'spec_helpers:broken_model'}\n"
        "workflow: {agent: clerk}\n",
        [("4:21", "agents.clerk.model.import", "failed: RuntimeError: no script today", None)],
    ),
    Case(
        "module not found",
        "version: 1\ntools:\n  lookup: 'spec_helperz:lookup_order'\n"
        "workflow: {function: 'spec_helpers:shout'}\n",
        [("3:11", "tools.lookup", "module 'spec_helperz' not found", None)],
    ),
    Case(
        "not an import path",
        "version: 1\ntools:\n  lookup: 'spec_helpers.lookup_order'\n"
        "workflow: {function: 'spec_helpers:shout'}\n",
        [("3:11", "tools.lookup", "is not an import path 'package.module:name'", None)],
    ),
    Case(
        "tool is a plain function",
        "version: 1\ntools:\n  lookup: 'spec_helpers:not_a_tool'\n"
        "workflow: {function: 'spec_helpers:shout'}\n",
        [("3:11", "tools.lookup", "is not a tool (decorate the function with @tool)", None)],
    ),
    Case(
        "tool name typo",
        "version: 1\ntools:\n  lookup_order: 'spec_helpers:lookup_order'\nagents:\n  clerk:\n"
        "    model: 'openai:x'\n    tools: [lookup_ordr]\nworkflow: {agent: clerk}\n",
        [("7:13", "agents.clerk.tools[0]", "unknown tool 'lookup_ordr'", "lookup_order")],
    ),
    Case(
        "output type typo",
        "version: 1\nagents:\n  clerk:\n    model: 'openai:x'\n    output_type: strr\n"
        "workflow: {agent: clerk}\n",
        [("5:18", "agents.clerk.output_type", "unknown output type 'strr'", "str")],
    ),
    Case(
        "output type is not a type",
        "version: 1\nagents:\n  clerk:\n    model: 'openai:x'\n"
        "    output_type: 'spec_helpers:lookup_order'\nworkflow: {agent: clerk}\n",
        [("5:18", "agents.clerk.output_type", "is not a type (got Tool)", None)],
    ),
    Case(
        "max_turns below 1",
        "version: 1\nagents:\n  clerk: {model: 'openai:x', max_turns: 0}\n"
        "workflow: {agent: clerk}\n",
        [("3:41", "agents.clerk.max_turns", "must be >= 1, got 0", None)],
    ),
    Case(
        "temperature out of range",
        "version: 1\nagents:\n  clerk:\n    model: 'openai:x'\n    settings: {temperature: 3}\n"
        "workflow: {agent: clerk}\n",
        [("5:29", "agents.clerk.settings.temperature", "must be <= 2.0, got 3", None)],
    ),
    Case(
        "agent name with a space",
        "version: 1\nagents:\n  the clerk: {model: 'openai:x'}\n"
        "workflow: {function: 'spec_helpers:shout'}\n",
        [("3:3", "agents.the clerk", "'the clerk' is not a valid name", None)],
    ),
    Case(
        "node kind typo",
        AGENT + "workflow:\n  paralel:\n    name: p\n",
        [("5:3", "workflow.paralel", "unknown node kind 'paralel'", "parallel")],
    ),
    Case(
        "two node kinds",
        AGENT + "workflow:\n  agent: clerk\n  function: 'spec_helpers:shout'\n",
        [
            (
                "6:3",
                "workflow.function",
                "a node has exactly one kind, found 'agent' and 'function'",
                None,
            )
        ],
    ),
    Case(
        "a bare name where a node goes",
        AGENT + "workflow:\n  sequential:\n    name: s\n    steps: [clerk]\n",
        [
            (
                "7:13",
                "workflow.sequential.steps[0]",
                "a node must be a mapping with one of: agent",
                None,
            )
        ],
    ),
    Case(
        "agent reference typo",
        AGENT + "workflow:\n  sequential:\n    name: s\n    steps:\n      - agent: clark\n",
        [("8:16", "workflow.sequential.steps[0].agent", "unknown agent 'clark'", "clerk")],
    ),
    Case(
        "function attribute typo",
        AGENT + "workflow: {function: 'spec_helpers:shoutt'}\n",
        [("4:22", "workflow.function", "'spec_helpers' has no attribute 'shoutt'", "shout")],
    ),
    Case(
        "workflow that is a plain function",
        AGENT + "workflow: {workflow: 'spec_helpers:shout'}\n",
        [
            (
                "4:22",
                "workflow.workflow",
                "is not a workflow: expected a @workflow or an async",
                None,
            )
        ],
    ),
    Case(
        "steps not a list",
        AGENT + "workflow:\n  sequential: {name: s, steps: {agent: clerk}}\n",
        [("5:32", "workflow.sequential.steps", "expected a list, got a mapping", None)],
    ),
    Case(
        "no steps",
        AGENT + "workflow:\n  sequential: {name: s, steps: []}\n",
        [("5:32", "workflow.sequential.steps", "needs at least 1 item(s)", None)],
    ),
    Case(
        "policy typo",
        AGENT + "workflow:\n  parallel:\n    name: p\n    branches: {a: {agent: clerk}}\n"
        "    policy: colect\n",
        [
            (
                "8:13",
                "workflow.parallel.policy",
                "'colect' is not one of 'fail_fast', 'collect'",
                "collect",
            )
        ],
    ),
    Case(
        "quorum larger than the branches (refused by Parallel)",
        AGENT + "workflow:\n  parallel:\n    name: p\n    branches: {a: {agent: clerk}}\n"
        "    policy: {quorum: 2}\n",
        [("5:3", "workflow.parallel", "quorum 2 is more than the 1 branches", None)],
    ),
    Case(
        "duplicate pattern name",
        AGENT + "workflow:\n  sequential:\n    name: s\n    steps:\n"
        "      - sequential: {name: s, steps: [{agent: clerk}]}\n",
        [("8:28", "workflow.sequential.steps[0].sequential.name", "duplicate node name 's'", None)],
    ),
    Case(
        "pattern key typo",
        AGENT + "workflow:\n  loop:\n    name: l\n    worker: {agent: clerk}\n"
        "    evaluater: {agent: clerk}\n",
        [("8:5", "workflow.loop.evaluater", "unknown key 'evaluater'", "evaluator")],
    ),
    Case(
        "loop worker and evaluator with one name (refused by Loop)",
        AGENT + "workflow:\n  loop:\n    name: l\n    worker: {agent: clerk}\n"
        "    evaluator: {agent: clerk}\n",
        [("5:3", "workflow.loop", "worker and evaluator need different names", None)],
    ),
    Case(
        "supervisor with nobody to delegate to (refused by Supervisor)",
        AGENT + "workflow:\n  supervisor: {name: boss, manager: clerk}\n",
        [("5:3", "workflow.supervisor", "needs workers or a template", None)],
    ),
    Case(
        "handoff to an undefined agent",
        AGENT + "workflow:\n  handoff:\n    name: h\n    triage: clerk\n"
        "    specialists: [clerk, biling]\n",
        [
            (
                "8:26",
                "workflow.handoff.specialists[1]",
                "unknown agent 'biling' (defined agents: clerk)",
                None,
            )
        ],
    ),
    Case(
        "selector typo",
        AGENT + "workflow:\n  group_chat:\n    name: c\n    participants: [{agent: clerk}]\n"
        "    selector: round_robbin\n",
        [
            (
                "8:15",
                "workflow.group_chat.selector",
                "unknown selector 'round_robbin'",
                "round_robin",
            )
        ],
    ),
    Case(
        "graph start typo",
        NOTES + TAKE_NOTE + "    start: take_not\n",
        [("7:12", "workflow.graph.start", "unknown graph node 'take_not'", "take_note")],
    ),
    Case(
        "graph edge to an unknown node",
        NOTES + TAKE_NOTE + "    start: take_note\n    edges: [[take_note, __ned__]]\n",
        [("8:25", "workflow.graph.edges[0][1]", "unknown graph node '__ned__'", "__end__")],
    ),
    Case(
        "graph state is not a model",
        NOTES.replace("Notes", "shout") + TAKE_NOTE + "    start: take_note\n",
        [("5:12", "workflow.graph.state", "is not a pydantic model class (got function)", None)],
    ),
    Case(
        "bad limits",
        AGENT + "limits:\n  max_concurrency: 0\n  max_turn: 3\nworkflow: {agent: clerk}\n",
        [
            ("5:20", "limits.max_concurrency", "must be >= 1, got 0", None),
            ("6:3", "limits.max_turn", "unknown key 'max_turn'", "max_turns"),
        ],
    ),
    Case(
        "several problems at once",
        "version: 1\nagents:\n  clerk:\n    model: fast\n    toolz: []\n"
        "workflow:\n  sequential:\n    name: s\n    steps: [{agent: clerk}, {functon: x}]\n",
        [
            ("4:12", "agents.clerk.model", "unknown model 'fast' (defined models: none)", None),
            ("5:5", "agents.clerk.toolz", "unknown key 'toolz'", "tools"),
            (
                "9:30",
                "workflow.sequential.steps[1].functon",
                "unknown node kind 'functon'",
                "function",
            ),
        ],
    ),
]
