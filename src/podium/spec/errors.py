"""Located spec problems and the error that carries them.

Every problem found in a spec is a :class:`SpecIssue` with the file, the 1-based line and
column, the field path (``agents.triage.model``) and a message; a nearby valid name is offered
as ``suggestion``. :class:`SpecValidationError` (a :class:`~podium.errors.SpecError`) holds all of
them, and its text lists them one per line::

    flow.yaml:7:5: agents.triage.modle: unknown key 'modle' (did you mean 'model'?)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from podium.errors import SpecError

Path = tuple[str | int, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class SpecIssue:
    """One problem in a spec, located in its file."""

    file: str
    line: int
    column: int
    path: str
    message: str
    suggestion: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        field = f" {self.path}:" if self.path else ""
        hint = f" (did you mean {self.suggestion!r}?)" if self.suggestion else ""
        return f"{where}:{field} {self.message}{hint}"

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
            "suggestion": self.suggestion,
        }


class SpecValidationError(SpecError):
    """A spec file has problems; ``issues`` lists every one, in file order."""

    def __init__(self, file: str, issues: Sequence[SpecIssue]) -> None:
        self.file = file
        self.issues = tuple(sorted(issues, key=lambda i: (i.line, i.column, i.path)))
        count = len(self.issues)
        header = f"{file}: {count} problem{'s' if count != 1 else ''} in the spec"
        super().__init__("\n".join([header, *(str(issue) for issue in self.issues)]))


def format_path(path: Path) -> str:
    """``('agents', 'triage', 'tools', 0)`` -> ``agents.triage.tools[0]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def nearest(name: str, choices: Iterable[str]) -> str | None:
    """The closest valid name to a typo, if one is close enough."""
    found = difflib.get_close_matches(name, sorted(set(choices)), n=1, cutoff=0.6)
    return found[0] if found else None


__all__ = ["SpecIssue", "SpecValidationError", "format_path", "nearest"]
