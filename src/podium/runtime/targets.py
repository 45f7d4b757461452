"""Workflow references: ``package.module:object``, ``path/to/file.py:object``, or a file that a
registered loader builds (``path/to/flow.yaml``: :mod:`podium.spec` registers itself on import).

A run records the reference of its workflow so another process can load it to resume.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from podium.agents import Agent
from podium.errors import UserError
from podium.runtime.nodes import Workflow

TargetLoader = Callable[[Path], Any]
_LOADERS: dict[str, TargetLoader] = {}
_LOADED: dict[int, tuple[Any, str]] = {}  # id -> (object, reference) of loader-built targets


def register_target_loader(suffixes: Iterable[str], loader: TargetLoader) -> None:
    """Make ``load_target("path/file.SUFFIX")`` return ``loader(path)``."""
    for suffix in suffixes:
        _LOADERS[suffix.lower()] = loader


def remember_target(obj: Any, ref: str) -> None:
    """Record that ``obj`` was built from ``ref``, so a run of it can be resumed from ``ref``."""
    _LOADED[id(obj)] = (obj, ref)


def target_ref(obj: Any, fallback: str) -> str:
    """The import reference of ``obj`` if it can be found again, else ``fallback``."""
    built = _LOADED.get(id(obj))
    if built is not None and built[0] is obj:
        return built[1]
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
    return _main_global(obj) or fallback


def _main_global(obj: Any) -> str | None:
    """A pattern or agent defined at the top level of the running script: ``file.py:name``."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not path:
        return None
    name = next((k for k, v in vars(main).items() if v is obj and not k.startswith("_")), None)
    return f"{Path(path).resolve()}:{name}" if name else None


def load_target(ref: str) -> Any:
    """Import what a reference names; errors say which part is wrong."""
    suffix = Path(ref).suffix.lower()
    if suffix in _LOADERS:
        return _LOADERS[suffix](Path(ref))
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
            f"target {ref!r} is not loadable: use 'package.module:object', 'file.py:object' "
            "or a spec file (YAML specs load once podium.spec is imported)"
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
