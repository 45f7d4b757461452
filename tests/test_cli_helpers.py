"""The CLI's shared helpers live in one module (``podium.cli.common``) that every command module
imports at the top: no command reaches into ``podium.cli.app`` or imports inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import podium.cli

CLI = Path(podium.cli.__file__).parent


def _local_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    found.append(f"{path.name}:{inner.lineno}: {ast.unparse(inner)}")
    return found


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}


def test_no_cli_module_imports_inside_a_function() -> None:
    found = [line for path in sorted(CLI.glob("*.py")) for line in _local_imports(path)]
    assert found == []


def test_command_modules_never_import_the_app() -> None:
    for path in CLI.glob("*.py"):
        if path.name not in {"app.py", "__init__.py"}:
            assert "podium.cli.app" not in _imported_modules(path), path.name


def test_common_imports_no_other_cli_module() -> None:
    imported = _imported_modules(CLI / "common.py")
    assert not {m for m in imported if m.startswith("podium.cli")}
