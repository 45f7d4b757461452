"""Malformed specs: each one yields exactly the expected located errors, and never a workflow.

Each case lists every issue expected, in file order, as ``(line:column, field path, a fragment
of the message, the suggestion or None)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from podium.cli import app
from podium.spec import SpecValidationError, check_file, check_text, loader, loads_spec

SPECS = Path(__file__).resolve().parent / "specs"
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


@pytest.fixture(autouse=True)
def helpers_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(SPECS))


def test_there_are_at_least_twenty_malformed_specs() -> None:
    assert len(CASES) >= 20
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_malformed_spec_reports_located_errors(case: Case) -> None:
    root, issues = check_text(case.text, "flow.yaml")
    assert root is None
    found = [(f"{i.line}:{i.column}", i.path, i.message, i.suggestion) for i in issues]
    assert len(found) == len(case.expected), found
    for (where, path, message, suggestion), expected in zip(found, case.expected, strict=True):
        assert (where, path) == expected[:2], found
        assert expected[2] in message, found
        assert suggestion == expected[3], found
    with pytest.raises(SpecValidationError) as caught:
        loads_spec(case.text, "flow.yaml")
    text = str(caught.value)
    first = issues[0]
    hint = f" (did you mean {first.suggestion!r}?)" if first.suggestion else ""
    field = f" {first.path}:" if first.path else ""
    assert f"\nflow.yaml:{first.line}:{first.column}:{field} {first.message}{hint}" in text


STRICT_CASES = [
    Case(
        "version true",
        "version: true\nworkflow: {function: 'spec_helpers:shout'}\n",
        [("1:10", "version", "expected an integer, got a boolean True", None)],
    ),
    Case(
        "version 1.0",
        "version: 1.0\nworkflow: {function: 'spec_helpers:shout'}\n",
        [("1:10", "version", "expected an integer, got a number 1.0", None)],
    ),
    Case(
        "quorum true",
        AGENT + "workflow:\n  parallel:\n    name: p\n    branches: {a: {agent: clerk}}\n"
        "    policy: {quorum: true}\n",
        [
            (
                "8:22",
                "workflow.parallel.policy.quorum",
                "expected an integer, got a boolean True",
                None,
            )
        ],
    ),
    Case(
        "max_concurrency as text",
        AGENT + "workflow:\n  parallel:\n    name: p\n    branches: {a: {agent: clerk}}\n"
        "    max_concurrency: '2'\n",
        [
            (
                "8:22",
                "workflow.parallel.max_concurrency",
                "expected an integer, got a string '2'",
                None,
            )
        ],
    ),
    Case(
        "weight true",
        AGENT + "workflow:\n  consensus:\n    name: c\n    solvers: [{agent: clerk}]\n"
        "    vote: weighted\n    weights: {clerk: true}\n",
        [
            (
                "9:22",
                "workflow.consensus.weights.clerk",
                "expected a number, got a boolean True",
                None,
            )
        ],
    ),
    Case(
        "max_spawn 2.0",
        AGENT + "workflow:\n  supervisor:\n    name: s\n    manager: clerk\n"
        "    workers: [{agent: clerk}]\n    max_spawn: 2.0\n",
        [
            (
                "9:16",
                "workflow.supervisor.max_spawn",
                "expected an integer, got a number 2.0",
                None,
            )
        ],
    ),
    Case(
        "jitter 1",
        "version: 1\nagents:\n  clerk:\n    model: 'openai:x'\n    retry: {jitter: 1}\n"
        "workflow: {agent: clerk}\n",
        [("5:21", "agents.clerk.retry.jitter", "expected true or false, got an integer 1", None)],
    ),
    Case(
        "model string without a model",
        "version: 1\nagents:\n  clerk: {model: 'openai:'}\nworkflow: {agent: clerk}\n",
        [("3:18", "agents.clerk.model", "'openai:' must look like 'provider:model'", None)],
    ),
]


@pytest.mark.parametrize("case", STRICT_CASES, ids=[case.id for case in STRICT_CASES])
def test_a_value_of_the_wrong_type_is_not_coerced(case: Case) -> None:
    test_malformed_spec_reports_located_errors(case)


def test_an_integer_is_still_a_number() -> None:
    root = loads_spec(
        "version: 1\nagents:\n  clerk:\n    model: 'openai:x'\n"
        "    settings: {temperature: 1, timeout: 30}\n"
        "    retry: {initial_delay: 1, max_delay: 10, multiplier: 2}\n"
        "workflow:\n  consensus:\n    name: c\n    solvers: [{agent: clerk}]\n"
        "    vote: weighted\n    weights: {clerk: 2}\n"
    )
    assert root.name == "c"


def _bomb(levels: int, *, merge: bool) -> str:
    """Nine copies of the level below per level: 9**levels values once aliases are expanded."""
    lines = ["a0: &a0 {" + ", ".join(f"k{j}: lol" for j in range(9)) + "}"]
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} " + (f"{{<<: [{refs}], x: [{refs}]}}" if merge else f"[{refs}]"))
    return "version: 1\n" + "\n".join(lines) + "\nworkflow: {function: 'spec_helpers:shout'}\n"


@pytest.mark.timeout(10)
@pytest.mark.parametrize("merge", [False, True], ids=["aliases", "merges"])
def test_an_alias_bomb_is_refused_quickly(merge: bool) -> None:
    text = _bomb(9, merge=merge)  # about 1 KB; unchecked, hours of work and all the memory
    assert len(text) < 1100
    root, issues = check_text(text, "flow.yaml")
    assert root is None
    assert len(issues) == 1, issues
    assert issues[0].message.startswith("spec too large or too many aliases"), issues
    assert issues[0].line > 1
    with pytest.raises(SpecValidationError, match="too many aliases"):
        loads_spec(text, "flow.yaml")


def test_a_few_aliases_are_fine() -> None:
    text = (
        "version: 1\nagents:\n  clerk: &clerk {model: 'openai:x'}\n  again: *clerk\n"
        "workflow:\n  sequential:\n    name: s\n    steps: [{agent: clerk}, {agent: again}]\n"
    )
    assert loads_spec(text).name == "s"


def _nested_sequentials(levels: int) -> str:
    opened = "".join(f"{{sequential: {{name: s{i}, steps: [" for i in range(levels))
    return "version: 1\nworkflow: " + opened + "{function: 'spec_helpers:shout'}" + "]}}" * levels


DEEP = [
    ("brackets", "version: 1\nworkflow: " + "[" * 1000 + "]" * 1000, "2:74", ""),
    ("sequentials", _nested_sequentials(300), "2:694", ""),
    (
        "aliases",  # each anchor one level deeper than the one before: deep only once expanded
        "version: 1\n"
        + "\n".join(["d0: &d0 [x]"] + [f"d{i}: &d{i} [*d{i - 1}]" for i in range(1, 100)])
        + "\nworkflow: {function: 'spec_helpers:shout'}\n",
        "2:5",
        "d63",
    ),
]


@pytest.mark.parametrize(("text", "where", "path"), [d[1:] for d in DEEP], ids=[d[0] for d in DEEP])
def test_deep_nesting_is_a_located_problem(text: str, where: str, path: str) -> None:
    root, issues = check_text(text, "flow.yaml")
    assert root is None
    found = [(f"{i.line}:{i.column}", i.path, i.message) for i in issues]
    assert found == [(where, path, "nested too deeply (max 64 levels)")]
    with pytest.raises(SpecValidationError, match="nested too deeply"):
        loads_spec(text, "flow.yaml")


def test_sixty_four_levels_are_allowed() -> None:
    assert loads_spec(_nested_sequentials(20)).name == "s0"  # 1 + 3 per level + the step
    _, issues = check_text(_nested_sequentials(21))
    assert [i.message for i in issues] == ["nested too deeply (max 64 levels)"]


def test_a_spec_over_a_megabyte_is_refused(tmp_path: Path) -> None:
    text = "version: 1\nworkflow: {function: 'spec_helpers:shout'}\n#" + "x" * 1_000_000 + "\n"
    expected = [("1:1", "", "spec too large (over 1,000,000 bytes)")]
    _, issues = check_text(text, "flow.yaml")
    assert [(f"{i.line}:{i.column}", i.path, i.message) for i in issues] == expected
    big = tmp_path / "big.yaml"
    big.write_text(text, encoding="utf-8")
    _, issues = check_file(big)
    assert [(f"{i.line}:{i.column}", i.path, i.message) for i in issues] == expected


@pytest.mark.parametrize("stage", ["validate", "build"])
def test_a_recursion_error_while_checking_is_a_problem(
    stage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def too_deep(*args: object, **kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(loader, stage, too_deep)
    root, issues = check_text("version: 1\nworkflow: {function: 'spec_helpers:shout'}\n", "f.yaml")
    assert root is None
    assert [str(i) for i in issues] == ["f.yaml:1:1: nested too deeply (max 64 levels)"]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\nworkflow: " + "[" * 1000 + "]" * 1000, "2:74: nested too deeply"),
        (_bomb(9, merge=False), "spec too large or too many aliases"),
        ("version: 1\n#" + "x" * 1_000_000 + "\n", "1:1: spec too large"),
    ],
    ids=["deep", "bomb", "big"],
)
def test_podium_validate_reports_a_limit_and_exits_2(
    text: str, message: str, tmp_path: Path
) -> None:
    spec = tmp_path / "flow.yaml"
    spec.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["--db", str(tmp_path / "p.db"), "validate", str(spec)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert message in result.stdout
    assert "Traceback" not in result.output
