"""The approvals inbox of the CLI, in process: list, approve, reject, answer, refusals."""

from __future__ import annotations

import io
import json
from pathlib import Path

import anyio
import pytest
from rich.console import Console
from typer.testing import CliRunner

from podium.cli import app
from podium.cli.render import progress_line
from podium.events import ApprovalDecided, GuardrailTripped, ToolCallCompleted
from podium.runtime.governance import approval_id, run_of
from podium.store import SQLiteStore, StoredEvent

APP = str(Path(__file__).parent / "apps" / "governance_app.py")
FINANCE = ("--as", "maria", "--role", "finance")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    db = str(tmp_path / "p.db")
    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv("GOVERNANCE_LEDGER", str(ledger))
    for name in ("PODIUM_USER", "PODIUM_ROLES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("USER", "sam")

    def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        result = runner.invoke(app, ["--db", db, *args], env=env)
        return result.exit_code, result.stdout, result.stderr

    invoke.db = db  # type: ignore[attr-defined]
    invoke.payments = lambda: (  # type: ignore[attr-defined]
        ledger.read_text().splitlines() if ledger.exists() else []
    )
    return invoke


def _run_id(text: str) -> str:
    return next(w for w in text.split() if w.startswith("run_"))


def _pending(cli, *args: str) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    code, out, err = cli("approvals", "--json", *args)
    assert code == 0, err
    items: list[dict] = json.loads(out)  # type: ignore[type-arg]
    return items


def _journal(db: str, run_id: str) -> list[StoredEvent]:
    async def read() -> list[StoredEvent]:
        store = SQLiteStore(db)
        try:
            return await store.read(run_id)
        finally:
            await store.close()

    return anyio.run(read)


def _start_payment(cli) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", f"{APP}:payer", "-i", "invoice 17 from ACME Ltd")
    assert code == 4, err
    run_id = _run_id(err)
    [item] = _pending(cli)
    return run_id, item["approval_id"]


def test_inbox_lists_each_pending_item_with_its_fields(cli) -> None:  # type: ignore[no-untyped-def]
    run_id, approval = _start_payment(cli)
    assert run_of(approval) == run_id
    code, out, err = cli("approvals")
    assert code == 0, err
    assert f"{approval}  tool  run {run_id} (payer)" in out
    assert 'what:       pay {"to": "ACME Ltd", "amount": 2500.0}' in out
    assert "asked by:   payer  at payer/tool:pay#2" in out
    assert "reason:     payments over 1000 need finance" in out
    assert "untrusted:  none" in out
    assert "role:       finance" in out
    assert "expires:    never" in out
    assert "1 pending" in err
    [item] = _pending(cli)
    assert item["run_id"] == run_id
    assert item["kind"] == "tool"
    assert item["subject"] == "pay"
    assert item["action"] == {"tool": "pay", "arguments": {"to": "ACME Ltd", "amount": 2500.0}}
    assert item["requested_by"] == "payer"
    assert item["key"] == "payer/tool:pay#2"
    assert item["role"] == "finance"
    assert item["provenance"] == []
    assert item["expires_at"] is None
    assert len(item["digest"]) == 64
    assert _pending(cli, "--role", "finance") == [item]
    assert _pending(cli, "--role", "ops") == []
    assert _pending(cli, "--namespace", "elsewhere") == []
    code, out, err = cli("approvals", "--role", "ops")
    assert (code, out) == (0, "")
    assert "no pending approvals" in err


def test_approve_without_the_role_is_refused_and_nothing_is_written(cli) -> None:  # type: ignore[no-untyped-def]
    run_id, approval = _start_payment(cli)
    before = len(_journal(cli.db, run_id))
    for args in ((), ("--as", "maria"), ("--as", "maria", "--role", "ops")):
        code, _, err = cli("approve", approval, *args)
        assert code == 8, err
        assert "needs the role 'finance'" in err
        assert len(err.strip().splitlines()) == 1
        assert "Traceback" not in err
    code, _, err = cli("approve", approval, env={"PODIUM_USER": "ann", "PODIUM_ROLES": "ops,hr"})
    assert code == 8
    assert err.startswith("error: ann cannot decide")
    assert len(_journal(cli.db, run_id)) == before
    assert [i["approval_id"] for i in _pending(cli)] == [approval]
    code, _, err = cli("resume", run_id)
    assert code == 4, err  # still waiting
    assert cli.payments() == []


def test_the_requesting_identity_cannot_approve_itself(cli) -> None:  # type: ignore[no-untyped-def]
    run_id, approval = _start_payment(cli)
    code, _, err = cli("approve", approval, "--as", "payer", "--role", "finance")
    assert code == 8
    assert "payer cannot decide its own request" in err
    assert not any(isinstance(s.event, ApprovalDecided) for s in _journal(cli.db, run_id))


def test_a_decision_for_another_action_is_refused(cli) -> None:  # type: ignore[no-untyped-def]
    _, approval = _start_payment(cli)
    code, _, err = cli("approve", approval, *FINANCE, "--digest", "0" * 64)
    assert code == 8
    assert "different action" in err
    assert len(_pending(cli)) == 1


def test_approve_then_resume_pays_once_and_a_second_approval_is_harmless(cli) -> None:  # type: ignore[no-untyped-def]
    run_id, approval = _start_payment(cli)
    code, _, err = cli("approve", approval, *FINANCE, "--comment", "invoice [17] checked")
    assert code == 0, err
    assert f"{approval} approved by maria (finance)" in err
    assert f"run {run_id}: resume it with `podium resume {run_id}`" in err
    assert _pending(cli) == []
    code, _, err = cli("approve", approval, *FINANCE)  # again, before the run goes on
    assert code == 0, err
    assert "already decided: approved by maria (finance); nothing written" in err
    code, out, err = cli("resume", run_id)
    assert code == 0, err
    assert out.strip() == "payment: paid 2500.00 EUR to ACME Ltd"
    assert cli.payments() == ["ACME Ltd\t2500.0"]
    events = [s.event for s in _journal(cli.db, run_id)]
    assert sum(isinstance(e, ToolCallCompleted) and e.tool == "pay" for e in events) == 1
    [decision] = [e for e in events if isinstance(e, ApprovalDecided)]
    assert (decision.decision, decision.by, decision.role) == ("approved", "maria", "finance")
    assert decision.comment == "invoice [17] checked"

    code, _, err = cli("approve", approval, *FINANCE)  # the run is over: say so, exit 2
    assert code == 2, err
    assert f"run {run_id} is finished (completed): {approval} was approved by maria" in err
    assert sum(isinstance(s.event, ApprovalDecided) for s in _journal(cli.db, run_id)) == 1
    assert cli("resume", run_id)[0] == 0
    assert cli.payments() == ["ACME Ltd\t2500.0"]

    code, out, _ = cli("show", run_id)
    assert code == 0
    assert f"asked tool:pay#2  {approval} tool pay: role finance, asked by payer" in out
    assert "approved tool:pay#2  by maria (finance): invoice [17] checked" in out


def test_identity_and_roles_come_from_the_environment(cli) -> None:  # type: ignore[no-untyped-def]
    run_id, approval = _start_payment(cli)
    env = {"PODIUM_USER": "lee", "PODIUM_ROLES": " ops , finance "}
    code, _, err = cli("approve", approval, env=env)
    assert code == 0, err
    assert "approved by lee (finance)" in err
    assert cli("resume", run_id)[0] == 0
    assert len(cli.payments()) == 1


def test_reject_refuses_the_call_and_the_run_goes_on(cli) -> None:  # type: ignore[no-untyped-def]
    run_id, approval = _start_payment(cli)
    code, _, err = cli("reject", approval, *FINANCE, "--comment", "not this month")
    assert code == 0, err
    assert f"{approval} rejected by maria (finance)" in err
    assert "podium resume" in err
    code, out, err = cli("resume", run_id)
    assert code == 0, err
    assert "not approved (rejected by maria): not this month" in out
    assert cli.payments() == []
    code, _, err = cli("approve", approval, *FINANCE)
    assert code == 2
    assert "already decided: rejected by maria" in err
    code, out, _ = cli("show", run_id)
    assert "rejected tool:pay#2  by maria (finance): not this month" in out


def test_answer_an_input_node(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", f"{APP}:intake", "-i", '{"invoice": 17}')
    assert code == 4, err
    run_id = _run_id(err)
    [item] = _pending(cli)
    assert (item["kind"], item["subject"]) == ("input", "amount")
    assert item["requested_by"] == "intake/amount"
    assert item["answer_schema"] == {"type": "integer"}
    code, out, _ = cli("approvals")
    assert "question:   How much should we pay ACME Ltd?" in out
    assert 'context:    {"invoice": 17}' in out
    assert 'answer:     {"type": "integer"}' in out
    approval = item["approval_id"]
    code, _, err = cli("approve", approval, *FINANCE)
    assert code == 2
    assert "needs an answer" in err
    code, _, err = cli("answer", approval, "1200", *FINANCE)
    assert code == 0, err
    assert f"{approval} answered by maria (finance)" in err
    code, out, err = cli("resume", run_id)
    assert code == 0, err
    assert out.strip() == "will pay 1200 EUR"
    code, out, _ = cli("show", run_id)
    assert "answered input#1  by maria (finance)  answer 1200" in out


def test_answers_are_not_approvals(cli) -> None:  # type: ignore[no-untyped-def]
    _, approval = _start_payment(cli)
    code, _, err = cli("answer", approval, '"yes"', *FINANCE)
    assert code == 2
    assert "needs approve or reject" in err


def test_brackets_in_paths_and_prompts_are_printed_verbatim(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", f"{APP}:review", "-i", '["a[1]"]')
    assert code == 4, err
    run_id = _run_id(err)
    code, out, _ = cli("approvals", "--role", "risk")
    assert "what:       Raise the limit for [gold] customers?" in out
    assert 'input:      ["a[1]"]' in out
    assert "asked by:   checks[credit]  at checks[credit]/approval#1" in out
    [item] = _pending(cli)
    code, _, err = cli("approve", item["approval_id"], "--as", "rita", "--role", "risk")
    assert code == 0, err
    code, out, err = cli("resume", run_id)
    assert code == 0, err
    assert json.loads(out)["credit"]["approved"] is True
    code, out, _ = cli("show", run_id)
    assert "checks[credit] (approval) done" in out
    assert "approval sign: role risk, asked by checks[credit]" in out
    assert "approved approval#1  by rita (risk)" in out


@pytest.mark.parametrize(
    ("approval", "code", "message"),
    [
        ("nope", 2, "'nope' is not an approval id"),
        (approval_id("run_0123456789abcdef0123", "x/tool:y#1"), 3, "no run with id"),
    ],
)
def test_unknown_approvals_are_one_line_errors(cli, approval, code, message) -> None:  # type: ignore[no-untyped-def]
    got, _, err = cli("approve", approval, *FINANCE)
    assert got == code
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_an_approval_missing_from_its_run(cli) -> None:  # type: ignore[no-untyped-def]
    run_id, _ = _start_payment(cli)
    code, _, err = cli("approve", approval_id(run_id, "payer/tool:pay#9"), *FINANCE)
    assert code == 2
    assert "has no approval" in err


def test_guardrail_trips_become_lines() -> None:
    def line(event: GuardrailTripped) -> str:
        markup = progress_line(StoredEvent(run_id="run_x", seq=1, ts=0.0, event=event))
        assert markup is not None
        console = Console(file=io.StringIO(), width=300, color_system=None)
        console.print(markup, highlight=False)
        return console.file.getvalue().strip()  # type: ignore[attr-defined,no-any-return]

    at_step = GuardrailTripped(
        key="desk/tool:lookup#2", guardrail="prompt_injection", stage="message", action="flag",
        reasons=("possible prompt injection (asks to ignore earlier instructions) at message",),
    )  # fmt: skip
    assert line(at_step) == (
        "flagged desk/tool:lookup#2  prompt_injection at message: possible prompt injection "
        "(asks to ignore earlier instructions) at message"
    )
    on_node = GuardrailTripped(
        key="desk/checks[credit]", guardrail="pii", stage="output", action="redact",
        reasons=("phone number at output", "card number at output.cards[0]"),
    )  # fmt: skip
    assert line(on_node) == (
        "redacted desk/checks[credit]/guardrail:pii  "
        "pii at output: phone number at output; card number at output.cards[0]"
    )
