"""Malformed specs: each one yields exactly the expected located errors, and never a workflow.

The cases are in ``specs/error_cases.py`` (the core keys) and ``specs/governance_cases.py``
(governance keys and people nodes): every issue expected, in file order, as ``(line:column,
field path, a fragment of the message, the suggestion or None)``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from podium.cli import app
from podium.spec import SpecValidationError, check_file, check_text, loader, loads_spec
from specs.error_cases import AGENT, CASES, Case
from specs.governance_cases import GOVERNANCE_CASES

SPECS = Path(__file__).resolve().parent / "specs"


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


@pytest.mark.parametrize("case", GOVERNANCE_CASES, ids=[case.id for case in GOVERNANCE_CASES])
def test_malformed_governance_reports_located_errors(case: Case) -> None:
    assert len(GOVERNANCE_CASES) >= 10
    test_malformed_spec_reports_located_errors(case)


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
