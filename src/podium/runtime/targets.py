"""Workflow references: ``package.module:object`` or ``path/to/file.py:object``.

A run records the reference of its workflow so another process can load it to resume.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from podium.agents import Agent
from podium.errors import UserError
from podium.runtime.nodes import Workflow


def target_ref(obj: Any, fallback: str) -> str:
    """The import reference of ``obj`` if it can be found again, else ``fallback``."""
    if isinstance(obj, Workflow):
        module = str(getattr(obj.fn, "__module__", ""))
        qualname = getattr(obj.fn, "__qualname__", "")
        loaded = sys.modules.get(module)
        if loaded is not None and "<" not in qualname and getattr(loaded, qualname, None) is obj:
            if module == "__main__" or module.startswith("podium_target_"):
                path = getattr(loaded, "__file__", None)  # a script: record its file
                return f"{Path(path).resolve()}:{qualname}" if path else fallback
            return f"{module}:{qualname}"
    return fallback


def load_target(ref: str) -> Any:
    """Import what a reference names; errors say which part is wrong."""
    module_part, sep, attr = ref.partition(":")
    if module_part.endswith(".py"):
        module = _load_file(Path(module_part))
    elif sep:
        try:
            module = importlib.import_module(module_part)
        except ImportError as error:
            raise UserError(f"cannot import {module_part!r} from target {ref!r}: {error}") from None
    else:
        raise UserError(
            f"target {ref!r} is not loadable: use 'package.module:object' or 'file.py:object'"
        )
    if not attr:
        return _single_node(module, ref)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserError(f"target {ref!r}: {part!r} not found in {module.__name__}")
        obj = getattr(obj, part)
    return obj


def _load_file(path: Path) -> Any:
    if not path.is_file():
        raise UserError(f"target file {str(path)!r} does not exist")
    resolved = path.resolve()
    name = "podium_target_" + hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise UserError(f"cannot load {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(resolved.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise UserError(f"loading {str(path)!r} failed: {type(error).__name__}: {error}") from error
    return module


def _single_node(module: Any, ref: str) -> Any:
    found = [v for v in vars(module).values() if isinstance(v, Workflow | Agent)]
    if len(found) == 1:
        return found[0]
    raise UserError(f"target {ref!r}: name the object to run, e.g. '{ref}:my_workflow'")
