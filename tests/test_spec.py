"""The YAML spec: it loads into the Python API's objects, runs, resumes, and is published."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio
import pytest
from typer.testing import CliRunner

from podium import Agent, Runtime
from podium.agents import Agent as AgentClass
from podium.budget import Budget
from podium.cli import app
from podium.errors import SpecError, UserError
from podium.events import encode
from podium.patterns import Handoff, Loop, Map, Parallel, Quorum, Sequential, Supervisor
from podium.patterns.consensus import Consensus
from podium.patterns.graph import Graph
from podium.patterns.groupchat import GroupChat
from podium.patterns.human import Approval, Escalation, Input
from podium.policy import ApprovalRule
from podium.runtime.nodes import FunctionNode, Workflow
from podium.runtime.targets import load_target, target_ref
from podium.spec import SpecDocument, SpecValidationError, load_spec, loads_spec, schema_text
from podium.spec.schema import Limits

ROOT = Path(__file__).resolve().parent.parent
SPECS = Path(__file__).resolve().parent / "specs"
SUPPORT = SPECS / "support.yaml"


@pytest.fixture(autouse=True)
def helpers_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(SPECS))


def _run(workflow: Any, input: Any) -> tuple[Any, list[dict[str, Any]]]:
    async def go() -> tuple[Any, list[dict[str, Any]]]:
        runtime = Runtime()
        result = await runtime.run(workflow, input)
        events = [json.loads(encode(s.event)) for s in await runtime.store.read(result.run_id)]
        return result, events

    return anyio.run(go)


def _comparable(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events minus what names the process, the definition's origin and wall-clock time."""
    dropped = {"owner", "duration_ms"}
    kept = []
    for event in events:
        event = {k: v for k, v in event.items() if k not in dropped}
        if event["type"] == "run_started":
            event.pop("workflow")
            event.pop("started_at")
        kept.append(event)
    return kept


# -- it loads into the Python API's objects -------------------------------------------------


def test_support_spec_builds_the_same_objects_as_python() -> None:
    from spec_helpers import support_python  # type: ignore[import-not-found]

    yaml_root, python_root = load_spec(SUPPORT), support_python()
    assert isinstance(yaml_root, Sequential)
    assert repr(yaml_root) == repr(python_root)
    yaml_agents = [yaml_root.steps[0], *yaml_root.steps[1].branches]
    python_agents = [python_root.steps[0], *python_root.steps[1].branches]
    for ours, theirs in zip(yaml_agents, python_agents, strict=True):
        for field in ("name", "instructions", "tools", "output_type", "max_turns", "settings"):
            assert getattr(ours.agent, field) == getattr(theirs.agent, field), field
        assert ours.agent.model_retry == theirs.agent.model_retry


def test_yaml_and_python_definitions_produce_identical_journals() -> None:
    from spec_helpers import support_python

    yaml_result, yaml_events = _run(load_spec(SUPPORT), "Where is A-1?")
    python_result, python_events = _run(support_python(), "Where is A-1?")
    assert yaml_result.status.value == "completed", yaml_result.error
    assert yaml_result.output == python_result.output
    assert yaml_result.output.startswith("CLERK=A-1 SHIPPED")
    assert _comparable(yaml_events) == _comparable(python_events)


def test_a_model_string_stays_a_string_and_the_root_may_be_an_agent() -> None:
    spec = """
version: 1
models: {fast: "openai:gpt-4.1-mini"}
agents:
  a: {model: fast}
  b: {model: "anthropic:claude-x", max_turns: 3}
workflow: {agent: a}
"""
    root = loads_spec(spec)
    assert isinstance(root, AgentClass)
    assert root.model == "openai:gpt-4.1-mini"
    assert root.max_turns == Limits().max_turns


def test_every_pattern_builds_from_yaml() -> None:
    root = loads_spec((SPECS / "patterns.yaml").read_text(), "patterns.yaml")
    kinds = {step.name: step for step in root.steps}
    assert isinstance(kinds["fan"], Parallel)
    assert isinstance(kinds["fan"].policy, Quorum)
    assert kinds["fan"].policy.k == 1
    assert kinds["fan"].max_concurrency == 3  # from limits
    assert isinstance(kinds["each"], Map)
    assert kinds["each"].max_concurrency == 1  # its own wins over limits
    assert isinstance(kinds["boss"], Supervisor)
    assert isinstance(kinds["desk"], Handoff)
    assert isinstance(kinds["polish"], Loop)
    assert isinstance(kinds["jury"], Consensus)
    assert isinstance(kinds["chat"], GroupChat)
    assert isinstance(kinds["notes"], Graph)


def test_function_and_graph_nodes_run() -> None:
    spec = """
version: 1
workflow:
  sequential:
    name: flow
    steps:
      - map: {name: each, node: {function: "spec_helpers:shout"}, items: "spec_helpers:words"}
"""
    result, _ = _run(loads_spec(spec), "a b")
    assert result.output == ["A", "B"]
    graph = """
version: 1
workflow:
  graph:
    name: notes
    state: "spec_helpers:Notes"
    nodes:
      take_note: {function: "spec_helpers:take_note"}
      finish: {function: "spec_helpers:finish"}
    start: take_note
    routes: {take_note: "spec_helpers:route_notes"}
    edges: [[finish, __end__]]
"""
    result, _ = _run(loads_spec(graph), {})
    assert result.output == {"notes": ["note 1", "note 2"], "done": True}


def test_workflow_nodes_and_yaml_anchors() -> None:
    spec = """
version: 1
base: &base {model: "openai:gpt-4.1-mini", max_turns: 2}
"""
    with pytest.raises(SpecValidationError, match="unknown key 'base'"):
        loads_spec(spec + "workflow: {workflow: 'spec_helpers:wait_for_ok'}\n")
    spec = """
version: 1
agents:
  base: &base {model: "openai:gpt-4.1-mini", max_turns: 2}
  on: {<<: *base, instructions: Speak.}
workflow: {sequential: {name: s, steps: [{agent: on}, {workflow: "spec_helpers:wait_for_ok"}]}}
"""
    root = loads_spec(spec)
    agent, flow = root.steps
    assert (agent.agent.name, agent.agent.max_turns, agent.agent.instructions) == (
        "on",
        2,
        "Speak.",
    )
    assert isinstance(flow, Workflow)


def test_limits_default_to_the_python_api_defaults() -> None:
    agent = Agent(name="a", model="openai:x")
    assert (Limits().max_turns, Limits().output_retries) == (agent.max_turns, agent.output_retries)


def test_a_spec_error_lists_every_issue_and_is_a_spec_error() -> None:
    with pytest.raises(SpecValidationError) as caught:
        load_spec(SPECS / "broken.yaml")
    error = caught.value
    assert isinstance(error, SpecError)
    assert isinstance(error, UserError)
    lines = str(error).splitlines()
    assert lines[0].endswith("broken.yaml: 2 problems in the spec")
    assert lines[1].endswith(
        "broken.yaml:5:5: agents.clerk.toolz: unknown key 'toolz' (did you mean 'tools'?)"
    )
    assert lines[2].endswith(
        "broken.yaml:7:10: workflow.agent: unknown agent 'clrek' (did you mean 'clerk'?)"
    )
    assert [(i.line, i.column) for i in error.issues] == [(5, 5), (7, 10)]


# -- targets, the CLI, run and resume -------------------------------------------------------


def test_load_target_builds_a_spec_and_remembers_its_path() -> None:
    root = load_target(str(SUPPORT))
    assert isinstance(root, Sequential)
    assert target_ref(root, "fallback") == str(SUPPORT.resolve())
    assert target_ref(support_python_root(), "fallback") == "fallback"


def support_python_root() -> Any:
    from spec_helpers import support_python

    return support_python()


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    db = str(tmp_path / "p.db")

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, ["--db", db, *args])
        return result.exit_code, result.stdout, result.stderr

    return invoke


def test_cli_runs_a_spec_and_resumes_it_from_another_directory(  # type: ignore[no-untyped-def]
    cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(SPECS)
    code, _, err = cli("run", "approval.yaml", "-i", '"hello"')
    assert code == 4, err
    run_id = next(w for w in err.split() if w.startswith("run_"))
    assert cli("signal", run_id, "ok", "--payload", '"yes"')[0] == 0
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("resume", run_id)
    assert code == 0, err
    assert json.loads(out) == {"text": "HELLO", "decision": "yes"}


def test_cli_never_starts_a_run_of_a_bad_spec(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", str(SPECS / "broken.yaml"))
    assert code == 2
    assert "unknown agent 'clrek' (did you mean 'clerk'?)" in err
    assert cli("runs")[2].strip() == "no runs"


def test_cli_validate(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("validate", str(SUPPORT))
    assert (code, out) == (0, "")
    assert "valid (workflow 'support')" in err
    code, out, err = cli("validate", "--no-env", str(SPECS / "broken.yaml"))
    assert code == 2
    assert re.search(r"broken\.yaml:5:5: agents\.clerk\.toolz: unknown key 'toolz'", out)
    assert len(out.splitlines()) == 2
    assert "2 problems" in err
    code, out, _ = cli("validate", "--json", "--no-env", str(SPECS / "broken.yaml"))
    report = json.loads(out)
    assert (code, report["valid"], len(report["issues"])) == (2, False, 2)
    assert report["issues"][1] == {
        "file": str(SPECS / "broken.yaml"),
        "line": 7,
        "column": 10,
        "path": "workflow.agent",
        "message": "unknown agent 'clrek'",
        "suggestion": "clerk",
    }
    code, _, err = cli("validate", str(SPECS / "missing.yaml"))
    assert code == 2
    assert "cannot read spec" in err


def test_the_published_schema_is_current(cli) -> None:  # type: ignore[no-untyped-def]
    published = (ROOT / "schema" / "podium-spec.schema.json").read_text(encoding="utf-8")
    assert published == schema_text(), "regenerate: podium schema > schema/podium-spec.schema.json"
    code, out, _ = cli("schema")
    assert (code, out) == (0, published)
    schema = json.loads(published)
    assert schema["required"] == ["version", "workflow"]
    assert schema["additionalProperties"] is False


def test_the_yaml_examples_in_the_docs_are_valid_specs() -> None:
    text = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```yaml\n(.*?)^```", text, re.M | re.S)
    specs = [block for block in blocks if block.lstrip().startswith(("version", "#"))]
    assert len(specs) >= 2
    import yaml

    for block in specs:
        SpecDocument.model_validate(yaml.safe_load(block))


def test_function_nodes_are_the_same_objects_as_in_python() -> None:
    from spec_helpers import shout

    root = loads_spec("version: 1\nworkflow: {function: 'spec_helpers:shout'}\n")
    assert root is shout
    seq = loads_spec(
        "version: 1\nworkflow: {sequential: {name: s, steps: [{function: 'spec_helpers:shout'}]}}"
    )
    assert seq.steps[0] == FunctionNode(shout, "shout")


# -- governance and people ------------------------------------------------------------------


def test_governance_keys_build_the_python_objects() -> None:
    import gov_helpers as gh  # type: ignore[import-not-found]

    clerk = load_spec(SPECS / "governance.yaml")
    assert (clerk.identity, clerk.scopes, clerk.untrusted, clerk.budget) == (
        "refunds-bot", {"payments", "orders"}, "refuse",
        Budget(tokens=20000, cost_usd=0.5, wall_seconds=60, steps=10, fan_out=4, depth=2),
    )  # fmt: skip
    assert clerk.approvals == {
        "refund": ApprovalRule(
            when=gh.over_ten, role="cfo", expires_after=3600, on_expiry="escalate",
            escalate_to="ceo", reason="Money leaves the company",
        ),
        "order_status": ApprovalRule(),  # keyed by the tool's own name
    }  # fmt: skip
    every = {"input", "output", "message", "tool_args"}
    assert [(type(g).__name__, g.name, g.action, g.stages) for g in clerk.guardrails] == [
        ("PII", "pii", "block", {"input", "output"}),
        ("PromptInjection", "injection", "flag", {"input"}),
        ("MaxSize", "max_size", "flag", every),
        ("Schema", "schema", "flag", {"output"}),
        ("DenyList", "deny_list", "redact", every),
        ("AllowList", "allow_list", "block", every),
        ("FunctionGuardrail", "no_secrets", "block", {"tool_args"}),
        ("FunctionGuardrail", "short_output", "block", {"output"}),  # the spec's action wins
        ("PII", "pii", "redact", every),
        ("JudgeGuardrail", "critic", "flag", {"output"}),
    ]
    pii, injection, size, schema, deny, allow, fn, short, emails, judge = clerk.guardrails
    assert (pii.kinds, injection.threshold, size.max_chars, size.max_items, schema.type) == (
        ("email", "phone"), 2, 1000, 50, gh.Quote
    )  # fmt: skip
    redacted = deny.check("ref ACME-42 is secret", "output").value
    assert redacted == "ref [REDACTED:denied_term] is [REDACTED:denied_term]"
    assert [allow.allows(v) for v in ("a@acme.com", "b@x.acme.com", "c@evil.io")] == [1, 1, 0]
    assert (fn.fn, fn.kind, short.fn, emails) == (
        gh.no_secrets, "secrets", gh.short_output.fn, gh.EMAILS_ONLY
    )  # fmt: skip
    assert judge.agent.name == "critic"  # defined after the agent it judges


def test_left_out_keys_keep_the_python_defaults() -> None:
    agent, approval, ask, escalation = load_spec(SPECS / "defaults.yaml").steps
    python = Agent(name="a", model="openai:x")
    for field in ("identity", "scopes", "untrusted", "guardrails"):
        assert getattr(agent.agent, field) == getattr(python, field), field
    assert (agent.agent.approvals, agent.agent.budget) == ({"refund": ApprovalRule()}, Budget())
    assert approval.rule == Approval("ok", prompt="Fine").rule
    assert (ask.rule, ask.schema) == (Input("ask", question="Why").rule, {"type": "string"})
    python_escalation = Escalation("esc", escalation.node)
    assert (escalation.min_confidence, escalation.on_error, escalation.person.rule) == (
        None, True, python_escalation.person.rule
    )  # fmt: skip


def test_a_yaml_approval_rule_suspends_until_a_person_decides() -> None:
    from gov_helpers import decide_each

    result, [request] = decide_each(SPECS / "refunds.yaml", "Refund A-1", [None])
    assert (result.status.value, result.output) == ("completed", "Refunded 50 on A-1.")
    assert (request.role, request.requested_by, request.reason) == (
        "cfo", "refunds-bot", "Money leaves the company"
    )  # fmt: skip
    assert request.action == {"tool": "refund", "arguments": {"order_id": "A-1", "amount": 50}}


def test_yaml_people_nodes_ask_and_take_over() -> None:
    quote = {"amount": 250, "currency": "EUR"}
    from gov_helpers import decide_each

    result, requests = decide_each(SPECS / "people.yaml", {"customer": "Ada"}, [None, 250, quote])
    assert (result.status.value, result.output) == ("completed", quote)
    assert [(r.kind, r.role) for r in requests] == [
        ("approval", "manager"), ("input", "clerk"), ("input", "manager")
    ]  # fmt: skip


def test_a_yaml_budget_stops_the_run_and_a_guardrail_blocks() -> None:
    text = (SPECS / "limited.yaml").read_text()
    result, _ = _run(loads_spec(text), "Say six words.")
    assert result.status.value == "failed"
    assert result.error.startswith("BudgetExceeded: budget of 'talker' exceeded: tokens limit is 5")
    result, events = _run(loads_spec(text.replace("agent: talker}", "agent: censored}")), "Hi")
    assert result.status.value == "failed"
    assert result.error.startswith("GuardrailTripped: guardrail deny_list blocked the value")
    assert [e["guardrail"] for e in events if e["type"] == "guardrail_tripped"] == ["deny_list"]
