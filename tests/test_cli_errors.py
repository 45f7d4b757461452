"""The CLI's error paths, in a subprocess as a user meets them: each is one ``error:`` line with
its documented exit code (2 bad input, 6 store error), and the data is left untouched."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
APP = Path(__file__).parent / "apps" / "simple_app.py"
BAD_INPUT, STORE_ERROR = 2, 6


def podium(
    db: str | Path, *args: str, cwd: Path | None = None, user: int | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "podium", "--db", str(db), *args]
    if user is not None:  # as another (unprivileged) user: root ignores file permissions
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=cwd)


def one_error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_store_file_that_is_not_a_database(tmp_path: Path) -> None:
    store = tmp_path / "notes.db"
    store.write_text("shopping list: eggs, milk, and not a database at all\n" * 20)
    before = digest(store)
    for args in (("runs",), ("show", "run_x"), ("run", f"{APP}:calculator", "-i", "x")):
        line = one_error_line(podium(store, *args), STORE_ERROR)
        assert "is not a Podium store" in line
        assert "notes.db" in line
    assert digest(store) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]  # no -wal, no -shm


def test_a_store_path_under_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file, not a directory")
    for args in (("runs",), ("run", f"{APP}:calculator", "-i", "x")):
        line = one_error_line(podium(blocker / "sub" / "p.db", *args), STORE_ERROR)
        assert "is a file, not a directory" in line
    assert blocker.read_text() == "a file, not a directory"


@pytest.fixture
def readonly_store() -> Iterator[tuple[Path, int | None]]:
    """A store with one completed run, in a directory the command may not write to. As root the
    commands run as ``nobody`` (root ignores permissions); otherwise the modes are dropped."""
    folder = Path(tempfile.mkdtemp(prefix="podium-ro-"))
    try:
        store = folder / "p.db"
        made = podium(store, "run", f"{APP}:calculator", "-i", "add 2 and 3")
        assert made.returncode == 0, made.stderr
        user = None
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                pytest.skip("running as root without setpriv: cannot drop privileges")
            user = 65534
            folder.chmod(0o755)
            store.chmod(0o644)
        else:
            store.chmod(0o444)
            folder.chmod(0o555)
        yield store, user
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def test_a_read_only_store_serves_read_verbs_and_refuses_writes(
    readonly_store: tuple[Path, int | None],
) -> None:
    store, user = readonly_store
    before = digest(store)
    listed = podium(store, "runs", user=user)
    assert listed.returncode == 0, listed.stderr
    assert "completed" in listed.stdout
    run_id = next(w for w in listed.stdout.split() if w.startswith("run_"))
    for args in (("show", run_id), ("logs", run_id), ("audit", "verify"), ("cost",)):
        shown = podium(store, *args, user=user)
        assert shown.returncode == 0, (args, shown.stderr)
    assert run_id in podium(store, "show", run_id, user=user).stdout
    approvals = podium(store, "approvals", user=user)
    assert approvals.returncode == 0, approvals.stderr
    for args in (("run", f"{APP}:calculator", "-i", "x"), ("cancel", run_id)):
        line = one_error_line(podium(store, *args, user=user), STORE_ERROR)
        assert "read-only" in line
        assert "p.db" in line
    assert digest(store) == before
    assert sorted(p.name for p in store.parent.iterdir()) == ["p.db"]


def test_an_input_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_bytes(b"caf\xe9 au lait")
    result = podium("p.db", "run", f"{APP}:calculator", "-i", "@in.txt", cwd=tmp_path)
    line = one_error_line(result, BAD_INPUT)
    assert "in.txt is not UTF-8" in line
    assert "0xe9" in line
    assert not (tmp_path / "p.db").exists()  # refused before the store was opened


def test_a_100000_deep_json_payload(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    result = podium("p.db", "run", f"{APP}:calculator", "-i", "@deep.json", cwd=tmp_path)
    assert "nested deeper than 100 levels" in one_error_line(result, BAD_INPUT)
    assert not (tmp_path / "p.db").exists()
    signal = podium("p.db", "signal", "run_x", "go", "--payload", "[" * 150 + "]" * 150)
    assert "--payload: JSON nested deeper" in one_error_line(signal, BAD_INPUT)


@pytest.mark.parametrize(
    "raw",
    ["NaN", '{"total": Infinity}', "[1e999]", '"\\ud800"', "@missing.json"],
    ids=["nan", "infinity", "overflow", "lone-surrogate", "missing-file"],
)
def test_bad_input_exits_with_the_bad_input_code(tmp_path: Path, raw: str) -> None:
    result = podium("p.db", "run", f"{APP}:calculator", "-i", raw, cwd=tmp_path)
    assert one_error_line(result, BAD_INPUT).startswith("error: --input: ")
    assert not (tmp_path / "p.db").exists()


def test_non_utf8_bytes_on_the_command_line_are_bad_input(tmp_path: Path) -> None:
    cmd = [sys.executable.encode(), b"-m", b"podium", b"--db", b"p.db", b"run"]
    cmd += [f"{APP}:calculator".encode(), b"-i", b"caf\xe9"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert "not valid UTF-8" in one_error_line(result, BAD_INPUT)
