"""The audit commands of the CLI: audit verify, export, import, retention, erase."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from podium.cli import app

APP = str(Path(__file__).parent / "apps" / "simple_app.py")
SECRET = "Jane Doe lives at 12 Rue des Lilas"


def _sql(db: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    with closing(sqlite3.connect(db)) as conn:
        for sql, args in statements:
            conn.execute(sql, args)
        conn.commit()


def _raw(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name))


Cli = Callable[..., tuple[int, str, str]]


def _cli(db: Path) -> Cli:
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, ["--db", str(db), *args])
        return result.exit_code, result.stdout, result.stderr

    return invoke


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return _cli(tmp_path / "p.db")


def _run(cli: Cli, target: str, text: str = SECRET) -> str:
    _, _, err = cli("run", f"{APP}:{target}", "--input", text)
    return next(w for w in err.split() if w.startswith("run_"))


def test_cli_verify_export_and_import(cli: Cli, tmp_path: Path) -> None:
    run_id = _run(cli, "calculator")
    code, out, err = cli("audit", "verify", run_id)
    assert code == 0, err
    assert out.startswith(f"{run_id}: ok: ")
    assert " events, head " in out
    path = tmp_path / "run.jsonl"
    code, _, err = cli("export", run_id, "-o", str(path))
    assert code == 0, err
    assert f"exported run {run_id}: ok" in err
    assert cli("export", run_id)[1] == path.read_text()
    header = json.loads(path.read_text().splitlines()[0])
    assert (header["podium_export"], header["run_id"]) == (1, run_id)
    other = _cli(tmp_path / "other.db")
    code, _, err = other("import", str(path))
    assert code == 0, err
    assert f"export of run {run_id} imported: ok" in err
    code, out, _ = other("show", run_id)
    assert code == 0
    assert "calc (agent)" in out
    assert other("audit", "verify")[0] == 0
    code, _, err = cli("import", str(path))
    assert (code, len(err.strip().splitlines())) == (2, 1)
    assert "already exists" in err
    code, _, err = cli("import", str(tmp_path / "nope.jsonl"))
    assert code == 2
    assert "cannot read" in err


def test_cli_reports_tampering_with_exit_code_6(cli: Cli, tmp_path: Path) -> None:
    good, bad = _run(cli, "calculator"), _run(cli, "calculator")
    path = tmp_path / "bad.jsonl"
    assert cli("export", bad, "-o", str(path))[0] == 0
    _sql(tmp_path / "p.db", ("UPDATE events SET body=body||' ' WHERE run_id=? AND seq=2", (bad,)))
    code, out, err = cli("audit", "verify")
    assert code == 6
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"{good}: ok: ")
    assert lines[1].startswith(f"{bad}: bad at seq 2: the body does not match its digest")
    assert "2 runs verified: 1 ok, 1 bad" in err
    assert cli("audit", "verify", good)[0] == 0
    target = tmp_path / "out.jsonl"
    code, _, err = cli("export", bad, "-o", str(target))
    assert (code, len(err.strip().splitlines())) == (6, 1)
    assert "bad at seq 2" in err
    assert not target.exists()
    lines = path.read_text().splitlines()
    assert '"path":"calc"' in lines[3]  # seq 3: node_started
    lines[3] = lines[3].replace('"path":"calc"', '"path":"forged"')
    path.write_text("\n".join(lines) + "\n")
    other = _cli(tmp_path / "other.db")
    code, _, err = other("import", str(path))
    assert (code, len(err.strip().splitlines())) == (6, 1)
    assert "bad at seq 3" in err
    assert other("runs")[2].strip() == "no runs"


def test_cli_erase(cli: Cli, tmp_path: Path) -> None:
    run_id = _run(cli, "calculator")
    code, _, err = cli("erase", run_id, "--reason", "GDPR request 17")
    assert code == 0, err
    assert f"run {run_id} erased" in err
    code, _, err = cli("show", run_id)
    assert (code, len(err.strip().splitlines())) == (2, 1)
    assert "erased" in err
    assert "GDPR request 17" in err
    code, out, _ = cli("audit", "verify", run_id)
    assert code == 0
    assert "(erased by " in out
    assert "GDPR request 17" in out
    assert "completed" in cli("runs")[1]
    code, _, err = cli("erase", run_id, "--reason", "again")
    assert code == 0
    assert f"run {run_id} was already erased; nothing written" in err
    assert SECRET.encode() not in _raw(tmp_path / "p.db")
    waiting = _run(cli, "waiter")
    code, _, err = cli("erase", waiting, "--reason", "gdpr")
    assert code == 2
    assert "only a finished run can be erased" in err


def test_cli_retention(cli: Cli, tmp_path: Path) -> None:
    old, waiting = _run(cli, "calculator"), _run(cli, "waiter")
    age = "UPDATE runs SET updated_at = updated_at - 40 * 86400 WHERE run_id IN (?, ?)"
    _sql(tmp_path / "p.db", (age, (old, waiting)))
    recent = _run(cli, "calculator")
    code, out, err = cli("retention", "--namespace", "default", "--older-than", "30", "--dry-run")
    assert code == 0, err
    assert out.split()[0] == old
    assert "would delete 1 finished runs of namespace default" in err
    assert old in cli("runs")[1]
    code, out, err = cli("retention", "--namespace", "default", "--older-than", "30")
    assert code == 0, err
    assert "deleted 1 finished runs" in err
    listed = cli("runs")[1]
    assert old not in listed
    assert waiting in listed
    assert recent in listed
    code, _, err = cli("retention", "--namespace", "other", "--older-than", "0")
    assert (code, "deleted 0 finished runs" in err) == (0, True)
    assert cli("retention", "--namespace", "default", "--older-than", "-1")[0] == 2
