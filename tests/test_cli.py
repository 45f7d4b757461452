"""The podium CLI, in process: outputs, one-line errors and documented exit codes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from podium.cli import app

APP = str(Path(__file__).parent / "apps" / "simple_app.py")


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    db = str(tmp_path / "p.db")

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, ["--db", db, *args])
        return result.exit_code, result.stdout, result.stderr

    invoke.db = db  # type: ignore[attr-defined]
    return invoke


def _run_id(text: str) -> str:
    return next(w for w in text.split() if w.startswith("run_"))


def test_run_prints_progress_result_and_run_id(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("run", f"{APP}:calculator", "--input", "add 2 and 3")
    assert code == 0, err
    assert out.strip() == "the sum is 5"
    assert "calc/tool:add#2" in err
    assert "completed" in err
    run_id = _run_id(err)
    code, out, _ = cli("show", run_id)
    assert code == 0
    assert "calc (agent)" in out
    assert "tool:add#2" in out
    assert "tok" in out
    code, out, _ = cli("runs", "--status", "completed")
    assert run_id in out


def test_suspended_run_signal_and_resume(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", f"{APP}:waiter", "-i", '{"order": 7}')
    assert code == 4, err
    run_id = _run_id(err)
    assert run_id in cli("runs", "-s", "suspended")[1]
    assert cli("signal", run_id, "go", "--payload", '"yes"')[0] == 0
    code, out, err = cli("resume", run_id)
    assert code == 0, err
    assert json.loads(out) == {"input": {"order": 7}, "decision": "yes"}


def test_failed_run_exit_code_and_error_line(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", f"{APP}:broken")
    assert code == 1
    assert "ValueError: this workflow always fails" in err


def test_cancel(cli) -> None:  # type: ignore[no-untyped-def]
    _, _, err = cli("run", f"{APP}:waiter")
    run_id = _run_id(err)
    assert cli("cancel", run_id)[0] == 0
    code, _, err = cli("resume", run_id)
    assert code == 5
    code, _, err = cli("signal", run_id, "go")
    assert code == 2
    assert "cancelled" in err


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("show", "run_nope"), 3, "no run with id 'run_nope'"),
        (("resume", "run_nope"), 3, "no run with id"),
        (("run", "no/such/file.py:x"), 2, "does not exist"),
        (("run", f"{APP}:missing"), 2, "'missing' not found"),
        (("run", "not_a_module_xyz:obj"), 2, "cannot import"),
    ],
)
def test_errors_are_one_line_with_exit_codes(cli, args, code, message) -> None:  # type: ignore[no-untyped-def]
    got, _, err = cli(*args)
    assert got == code
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_corrupt_journal_is_reported_and_not_executed(cli) -> None:  # type: ignore[no-untyped-def]
    _, _, err = cli("run", f"{APP}:waiter")
    run_id = _run_id(err)
    with sqlite3.connect(cli.db) as conn:
        conn.execute("UPDATE events SET body='{oops' WHERE run_id=? AND seq=2", (run_id,))
    cli("signal", run_id, "go")
    code, _, err = cli("resume", run_id)
    assert code == 6
    assert f"run {run_id}: journal row seq=2 is unreadable" in err
    with sqlite3.connect(cli.db) as conn:
        (status,) = conn.execute("SELECT status FROM runs WHERE run_id=?", (run_id,)).fetchone()
    assert status == "pending"  # nothing executed, nothing appended


def test_brackets_in_paths_and_outputs_are_printed_verbatim(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("run", f"{APP}:checks", "--input", "x")
    assert code == 0, err
    assert "checks[credit]/call#1" in err  # not eaten as console markup
    assert json.loads(out) == {"credit": "[x] list[str]", "fraud": "[x] list[str]"}
    code, out, err = cli("show", _run_id(err))
    assert "checks[credit]" in out
    code, out, err = cli("run", f"{APP}:bracket_text", "--input", "y")
    assert out.strip() == "[y] list[str]"
