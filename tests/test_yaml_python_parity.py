"""Every example with a YAML twin builds the same workflow both ways: run on the same input, the
Python object and the spec file write identical journals.

Only what must differ is normalised: the run id (and the idempotency keys derived from it),
durations, and the workflow reference recorded at ``run_started``. Each run gets fresh scripted
models (``build_workflow()`` and ``load_spec`` call the model factories again).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from podium import MemoryStore, Runtime
from podium.events import encode
from podium.spec import load_spec
from podium.store import StoredEvent

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TWINS = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))
NAMESPACE = "default"


@pytest.fixture(scope="module", autouse=True)
def _examples_importable() -> Iterator[None]:
    """The examples import each other's pieces as top-level modules, as their YAML twins do."""
    folder = str(EXAMPLES)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    yield
    if added and folder in sys.path:
        sys.path.remove(folder)


def example(name: str) -> ModuleType:
    return importlib.import_module(name)


def test_there_are_twins() -> None:
    assert len(TWINS) >= 7, TWINS


@pytest.mark.parametrize("name", TWINS)
def test_every_yaml_has_a_python_twin(name: str) -> None:
    assert (EXAMPLES / f"{name}.py").is_file(), f"{name}.yaml has no {name}.py"
    module = example(name)
    assert callable(getattr(module, "build_workflow", None)), f"{name}.py has no build_workflow()"
    assert hasattr(module, "INPUT"), f"{name}.py has no INPUT"


@pytest.mark.anyio
@pytest.mark.parametrize("name", TWINS)
async def test_yaml_and_python_write_the_same_journal(name: str) -> None:
    module = example(name)
    python_flow = module.build_workflow()
    yaml_flow = load_spec(EXAMPLES / f"{name}.yaml")
    assert type(yaml_flow) is type(python_flow)
    assert yaml_flow.name == python_flow.name

    from_python = await journal(python_flow, module.INPUT)
    from_yaml = await journal(yaml_flow, module.INPUT)

    assert from_python[-1]["type"] == "run_completed", from_python[-1]
    assert len(from_python) > 5
    for seq, (left, right) in enumerate(zip(from_python, from_yaml, strict=False), start=1):
        assert left == right, f"{name}: event {seq} differs"
    assert len(from_python) == len(from_yaml)


async def journal(workflow: Any, input: Any) -> list[dict[str, Any]]:
    store = MemoryStore()
    runtime = Runtime(store, owner="parity")
    result = await runtime.run(workflow, input)
    return normalised(await store.read(result.run_id), result.run_id)


def normalised(events: list[StoredEvent], run_id: str) -> list[dict[str, Any]]:
    """Every event as ``type`` + all its fields, minus what differs between two runs."""
    out = []
    for stored in events:
        data = json.loads(encode(stored.event))
        if data["type"] == "run_started":
            data["workflow"] = "<workflow>"
            data["started_at"] = "<clock>"
        if data["type"] == "tool_call_intent":
            raw = f"{NAMESPACE}|{run_id}|{data['key']}"
            assert data["idempotency_key"] == hashlib.sha256(raw.encode()).hexdigest()[:32]
            data["idempotency_key"] = "<derived from the run id>"
        out.append(_scrub(data, run_id))
    return out


def _scrub(value: Any, run_id: str) -> Any:
    if isinstance(value, dict):
        return {k: 0.0 if k == "duration_ms" else _scrub(v, run_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, run_id) for v in value]
    if isinstance(value, str):
        return value.replace(run_id, "<run>")
    return value
