"""Import paths (``package.module:attribute``) to Python objects, with errors that say which part
is missing and suggest the nearest attribute.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from podium.spec.errors import nearest

IMPORT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_.]*$"
_IMPORT = re.compile(IMPORT_PATTERN)


class ImportProblem(Exception):
    """An import path that does not lead to an object; ``suggestion`` is a close attribute."""

    def __init__(self, message: str, *, name: str = "", choices: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.choices = choices

    @property
    def suggestion(self) -> str | None:
        return nearest(self.name, self.choices) if self.name else None


def is_import_path(text: str) -> bool:
    return bool(_IMPORT.match(text))


def resolve(path: str) -> Any:
    """The object ``path`` names; raise :class:`ImportProblem` saying what is missing."""
    module_name, _, attribute = path.partition(":")
    obj: Any = _import(module_name)
    owner = module_name
    for part in attribute.split("."):
        if not hasattr(obj, part):
            public = tuple(name for name in dir(obj) if not name.startswith("_"))
            raise ImportProblem(f"{owner!r} has no attribute {part!r}", name=part, choices=public)
        obj = getattr(obj, part)
        owner = f"{owner}.{part}"
    return obj


def _import(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or module_name
        if module_name == missing or module_name.startswith(missing + "."):
            message = f"module {missing!r} not found (cannot import {module_name!r})"
            raise ImportProblem(message) from None
        raise ImportProblem(
            f"importing {module_name!r} failed: it needs module {missing!r}, which is not installed"
        ) from error
    except Exception as error:
        raise ImportProblem(
            f"importing {module_name!r} failed: {type(error).__name__}: {error}"
        ) from error


__all__ = ["IMPORT_PATTERN", "ImportProblem", "is_import_path", "resolve"]
