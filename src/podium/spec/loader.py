"""Spec file to workflow: parse with locations, validate, build; or every problem, located.

Three passes, each reporting everything it finds: the YAML itself (syntax, duplicate keys),
the document (shape, references, import paths), then building the objects (what an import
turned out to be, what a constructor refuses). A later pass runs only if the earlier ones were
clean, so a bad spec never yields a workflow.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from podium.errors import UserError
from podium.runtime.targets import remember_target
from podium.spec.errors import SpecIssue, SpecValidationError, format_path
from podium.spec.locate import MAX_BYTES, TOO_DEEP, TOO_LARGE, Located, locate
from podium.spec.mcp import build_server
from podium.spec.validate import issue, validate
from podium.spec.wiring import build


def check_text(text: str, file: str = "<spec>") -> tuple[Any, list[SpecIssue]]:
    """Build ``text``: the root node and no issues, or ``None`` and every issue found."""
    located = locate(text)
    issues = [_syntax_issue(located, file, i) for i in range(len(located.problems))]
    if located.data is None:
        return None, issues
    try:  # the depth is capped while locating; this is the last line of defence
        doc, problems = validate(located, file, imports=True)
    except RecursionError:
        return None, [_whole(file, TOO_DEEP)]
    shown = {format_path(p.path) for p in located.problems if p.path}
    issues.extend(p for p in problems if not _within(p.path, shown))
    if doc is None or issues:
        return None, sorted(issues, key=_order)
    try:
        root, findings = build(doc, None if file.startswith("<") else Path(file).resolve().parent)
    except RecursionError:
        return None, [_whole(file, TOO_DEEP)]
    issues.extend(issue(located, file, finding) for finding in findings)
    return (None if issues else root), sorted(issues, key=_order)


def check_file(path: str | Path) -> tuple[Any, list[SpecIssue]]:
    """Like :func:`check_text` for a file; its folder is importable, as for a Python target."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)  # never more than a spec may hold
        if len(data) > MAX_BYTES:
            return None, [_whole(str(path), TOO_LARGE)]
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read spec {str(path)!r}: {error}") from None
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return check_text(text, str(path))


def load_spec(path: str | Path) -> Any:
    """The workflow a spec file describes, ready to run; resumable from the file's path.

    Raises :class:`~podium.spec.SpecValidationError` (a ``SpecError``) listing every problem.
    """
    root, issues = check_file(path)
    if issues:
        raise SpecValidationError(str(path), issues)
    remember_target(root, str(Path(path).resolve()))
    return root


def loads_spec(text: str, file: str = "<spec>") -> Any:
    """The workflow a spec text describes (import paths resolve against ``sys.path``)."""
    root, issues = check_text(text, file)
    if issues:
        raise SpecValidationError(file, issues)
    return root


def mcp_servers(path: str | Path) -> dict[str, Any]:
    """The MCP servers a valid spec file declares, by name (``podium mcp pin``).

    Raises :class:`~podium.spec.SpecValidationError` listing every problem of the spec first.
    """
    load_spec(path)
    text = Path(path).read_text(encoding="utf-8")
    doc, _ = validate(locate(text), str(path), imports=True)
    assert doc is not None  # load_spec found no problem
    folder = Path(path).resolve().parent
    return {name: build_server(name, spec, folder) for name, spec in doc.mcp_servers.items()}


def _within(path: str, roots: set[str]) -> bool:
    """Whether ``path`` is one of ``roots`` or inside one (already explained by a YAML problem)."""
    return any(path == root or path.startswith((root + ".", root + "[")) for root in roots)


def _order(issue: SpecIssue) -> tuple[int, int, str]:
    return (issue.line, issue.column, issue.path)


def _whole(file: str, message: str) -> SpecIssue:
    """An issue with the spec as a whole, reported at its start."""
    return SpecIssue(file=file, line=1, column=1, path="", message=message)


def _syntax_issue(located: Located, file: str, index: int) -> SpecIssue:
    problem = located.problems[index]
    line, column = problem.position
    return SpecIssue(
        file=file, line=line, column=column, path=format_path(problem.path), message=problem.message
    )


__all__ = ["check_file", "check_text", "load_spec", "loads_spec", "mcp_servers"]
