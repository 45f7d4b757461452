"""The documentation's code runs: every ```python block of README.md and docs/*.md.

Conventions in the Markdown:

- each ```python block is a complete program, run in its own offline subprocess (cwd: a fresh
  temporary directory) unless the line before it is ``<!-- skip-test -->`` (for fragments that
  cannot run standalone, such as a pytest module or code that needs a real server);
- a ```text block that directly follows a ```python block is its expected standard output,
  compared line by line after replacing run ids with ``run_ID``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP = "<!-- skip-test -->"
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```[ \t]*$", re.M | re.S)
RUN_ID = re.compile(r"\brun_[0-9a-f]{20}\b")
# Environment that could reach a real provider or change a snippet's behaviour.
DROPPED = ("OPENAI_", "ANTHROPIC_", "PODIUM_")


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int
    code: str
    expected: str | None

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def snippets(path: Path, *, skipped: bool = False) -> list[Snippet]:
    """The runnable ```python blocks of a file (or, with ``skipped``, the ones marked skip)."""
    text = path.read_text(encoding="utf-8")
    blocks = list(FENCE.finditer(text))
    found = []
    for index, block in enumerate(blocks):
        if block.group(1) != "python":
            continue
        before = text[: block.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if (before.strip() == SKIP) != skipped:
            continue
        expected = None
        after = blocks[index + 1] if index + 1 < len(blocks) else None
        if after and after.group(1) == "text" and not text[block.end() : after.start()].strip():
            expected = after.group(2)
        line = text.count("\n", 0, block.start()) + 1
        found.append(Snippet(path, line, block.group(2), expected))
    return found


ALL = [snippet for path in DOCS for snippet in snippets(path)]


def _normalise(text: str) -> list[str]:
    return [RUN_ID.sub("run_ID", line).rstrip() for line in text.strip().splitlines()]


def _offline_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED)}
    env["PODIUM_ALLOW_MODEL_REQUESTS"] = "0"
    env["PODIUM_DB"] = str(tmp_path / ".podium" / "podium.db")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def test_there_are_snippets_to_run() -> None:
    assert len(ALL) >= 10
    assert {s.path.name for s in ALL} >= {"README.md", "concepts.md", "testing.md"}


def test_skipped_snippets_still_compile() -> None:
    for path in DOCS:
        for snippet in snippets(path, skipped=True):
            compile(snippet.code, snippet.id, "exec")


@pytest.mark.slow
@pytest.mark.parametrize("snippet", ALL, ids=[s.id for s in ALL])
def test_snippet_runs(snippet: Snippet, tmp_path: Path) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(snippet.code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        env=_offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"{snippet.id} failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    if snippet.expected is not None:
        assert _normalise(done.stdout) == _normalise(snippet.expected), snippet.id


# -- the README's Quickstart: CI runs its second shell block ----------------------------------

QUICKSTART = re.compile(r"^## Quickstart\s*$(.*?)(?=^## |\Z)", re.M | re.S)


def _quickstart() -> str:
    match = QUICKSTART.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert match, "README.md has no '## Quickstart' section"
    return match.group(1)


def test_quickstart_has_exactly_two_shell_blocks_and_nothing_else_fenced() -> None:
    blocks = FENCE.findall(_quickstart())
    assert [lang for lang, _ in blocks] == ["sh", "sh"]
    install, tests = (code.strip() for _, code in blocks)
    assert "examples/support_desk.py" in install
    assert "\n" not in tests, "CI runs the test command as one line"
    assert "pytest" in tests


def test_quickstart_mentions_the_real_provider_switch() -> None:
    text = _quickstart()
    assert "PODIUM_DEMO_MODEL=openai:gpt-4.1-mini" in text
    assert "OPENAI_API_KEY" in text
    assert "offline" in text


def test_every_cli_command_is_documented() -> None:
    from podium.cli import app

    names = {command.name or command.callback.__name__ for command in app.registered_commands}
    cli_doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in names:
        assert f"## `podium {name}" in cli_doc, f"docs/cli.md has no section for {name}"
        assert f"`podium {name}" in readme, f"README's CLI table lacks {name}"


def test_documented_exit_codes_match_the_cli() -> None:
    from podium.cli.app import EXIT

    cli_doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for status, code in EXIT.items():
        assert re.search(rf"^\| {code} \|.*`{status.value}`", cli_doc, re.M), status


def test_local_links_resolve() -> None:
    link = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
    for path in DOCS:
        for target in link.findall(path.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (path.parent / target).exists(), f"{path.name}: broken link {target}"
