"""Runs of deployed versions: a run started from a deployment records the reference
``deployment:NAMESPACE/NAME@DIGEST`` (:attr:`~podium.store.control.Deployment.ref`), and any
process resuming it loads that exact version from the store, whatever was deployed since.

Loading a version writes its files (the spec and the Python source captured by ``podium
deploy``) once into a folder named by its digest (under ``$PODIUM_DEPLOY_CACHE``, default
``~/.cache/podium/deployments``), and imports them there in isolation: the bundle's own modules
are imported afresh for each version and taken out of ``sys.modules`` afterwards, so two
versions of ``helpers.py`` live side by side in one worker. Modules imported from outside the
bundle (installed packages) are shared, as usual in Python.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from podium.errors import UserError
from podium.runtime.targets import load_target
from podium.store import Store
from podium.store.control import Deployment, bundle_digest

PREFIX = "deployment:"
_REF = re.compile(r"deployment:(?P<ns>[^/@]+)/(?P<name>[^/@]+)@(?P<digest>[0-9a-f]{64})")
_LOADED: dict[str, Any] = {}  # digest -> the loaded workflow object


def is_deployment_ref(ref: str) -> bool:
    return ref.startswith(PREFIX)


def parse_ref(ref: str) -> tuple[str, str, str]:
    """``(namespace, name, digest)`` of a deployment reference."""
    match = _REF.fullmatch(ref)
    if match is None:
        raise UserError(f"{ref!r} is not a deployment reference (deployment:NS/NAME@DIGEST)")
    return match["ns"], match["name"], match["digest"]


async def load_deployed(store: Store, ref: str) -> Any:
    """The workflow of the deployment version ``ref`` names (loaded once per process)."""
    namespace, name, digest = parse_ref(ref)
    if digest in _LOADED:
        return _LOADED[digest]
    deployment = await store.get_deployment(namespace, name, digest)
    if deployment is None:
        raise UserError(f"deployment {namespace}/{name} has no version {digest[:12]}")
    return load_version(deployment)


def load_version(deployment: Deployment) -> Any:
    """Materialize and import one version (see the module docstring)."""
    if deployment.digest in _LOADED:
        return _LOADED[deployment.digest]
    if bundle_digest(deployment.entry, deployment.files) != deployment.digest:
        raise UserError(
            f"deployment {deployment.namespace}/{deployment.name} v{deployment.version}: "
            "its files do not match its digest"
        )
    folder = _materialize(deployment)
    entry_path, sep, attr = deployment.entry.partition(":")
    with _isolated(folder, _module_names(deployment.files)):
        obj = load_target(str(folder / entry_path) + sep + attr)
    _LOADED[deployment.digest] = obj
    return obj


def _cache_root() -> Path:
    configured = os.environ.get("PODIUM_DEPLOY_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "podium" / "deployments"


def _materialize(deployment: Deployment) -> Path:
    folder = _cache_root() / deployment.digest
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder.parent))
    for relative, text in deployment.files.items():
        path = staging / _safe(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    try:
        staging.rename(folder)  # atomic; another process may have won the race: same content
    except OSError:
        if not folder.is_dir():
            raise
    return folder


def _safe(relative: str) -> PurePosixPath:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise UserError(f"deployment file {relative!r}: paths must stay inside the bundle")
    return path


def _module_names(files: Any) -> set[str]:
    """The importable names of the bundle's Python files and their parent packages."""
    names: set[str] = set()
    for relative in files:
        path = PurePosixPath(relative)
        if path.suffix != ".py":
            continue
        parts = list(path.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        for end in range(1, len(parts) + 1):
            names.add(".".join(parts[:end]))
    return names


@contextmanager
def _isolated(folder: Path, names: set[str]) -> Iterator[None]:
    """Import from ``folder`` first, with the bundle's module names fresh, and put
    ``sys.modules`` and ``sys.path`` back afterwards."""
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if _within(name, names)}
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if _within(n, names)]:
            del sys.modules[name]
        sys.modules.update(saved)


def _within(module: str, names: set[str]) -> bool:
    return module in names or any(module.startswith(name + ".") for name in names)


__all__ = ["PREFIX", "is_deployment_ref", "load_deployed", "load_version", "parse_ref"]
