"""What ``podium deploy`` captures: the entry reference and the source files it loads.

For ``flow.yaml`` the bundle is the spec plus every Python module that loading it imported from
under ``root`` (default: the spec's folder); for ``module:obj`` or ``file.py:obj``, the entry
module plus every module it imported from under ``root`` (default: the current folder). Files
outside ``root`` (installed packages, Podium itself) are not captured: they are the
environment, not the deployment. The digest covers the entry and every captured file.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from podium.errors import UserError
from podium.runtime.targets import load_target

MAX_BUNDLE_BYTES = 5_000_000


def capture(target: str, root: Path | None = None) -> tuple[str, dict[str, str]]:
    """``(entry, files)`` of ``target``: loads it (so a broken target is refused here)."""
    path_part, sep, attr = target.partition(":")
    is_file = Path(path_part).suffix.lower() in (".yaml", ".yml", ".py")
    if is_file and not Path(path_part).is_file():
        raise UserError(f"deploy: {path_part!r} does not exist")
    base = (root or (Path(path_part).parent if is_file else Path.cwd())).resolve()
    before = set(sys.modules)
    load_target(target)
    files: dict[str, str] = {}
    entry_file = Path(path_part).resolve() if is_file else _module_file(path_part, target)
    entry = _relative(entry_file, base, target) + sep + attr
    files[_relative(entry_file, base, target)] = entry_file.read_text(encoding="utf-8")
    for name in sorted(set(sys.modules) - before):
        found = getattr(sys.modules.get(name), "__file__", None)
        if found and found.endswith(".py") and _inside(Path(found).resolve(), base):
            files.setdefault(_relative(Path(found).resolve(), base, target), _read(found))
    if sum(len(text.encode()) for text in files.values()) > MAX_BUNDLE_BYTES:
        raise UserError(f"deploy: the bundle of {target!r} is over {MAX_BUNDLE_BYTES:,} bytes")
    return entry, files


def _module_file(module: str, target: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise UserError(f"deploy: {target!r}: module {module!r} has no Python source file")
    return Path(spec.origin).resolve()


def _inside(path: Path, base: Path) -> bool:
    if "site-packages" in path.parts or ".venv" in path.parts:
        return False
    return path.is_relative_to(base)


def _relative(path: Path, base: Path, target: str) -> str:
    if not path.is_relative_to(base):
        raise UserError(f"deploy: {target!r} is outside the bundle root {str(base)!r} (--root)")
    return path.relative_to(base).as_posix()


def _read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


__all__ = ["MAX_BUNDLE_BYTES", "capture"]
