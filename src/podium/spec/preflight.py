"""Is this machine ready to run a spec? Each model string it names (``openai:gpt-4.1-mini``) is
checked against the environment: a known provider, its SDK installed, a base URL that is a URL,
an API key (or a server on this machine). Nothing is imported and no provider is called.

``podium validate`` reports these problems with the others, located in the file; ``podium run``
refuses to start a run while there are any, so no run is recorded that could only fail.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from podium.errors import UserError
from podium.models.registry import model_setup_problem
from podium.spec.errors import Path as FieldPath
from podium.spec.errors import SpecIssue
from podium.spec.locate import MAX_BYTES, locate
from podium.spec.validate import Finding, issue


def environment_issues(
    path: str | Path, environ: Mapping[str, str] | None = None
) -> list[SpecIssue]:
    """One located issue per model string in the spec file that this environment cannot call."""
    file = str(path)
    try:
        with Path(path).open("rb") as stream:
            text = stream.read(MAX_BYTES + 1).decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read spec {file!r}: {error}") from None
    located = locate(text)
    if located.data is None or located.problems:
        return []  # the file's own problems come first (see check_file)
    found: list[SpecIssue] = []
    for at, model in _model_strings(located.data):
        problem = model_setup_problem(model, environ)
        if problem is not None:
            found.append(issue(located, file, Finding(at, problem)))
    return found


def _model_strings(data: object) -> Iterator[tuple[FieldPath, str]]:
    """``(path, "provider:model")`` for every named model and every agent's inline model."""
    if not isinstance(data, dict):
        return
    models = data.get("models")
    if isinstance(models, dict):
        for name, value in models.items():
            if isinstance(value, str) and ":" in value:
                yield ("models", name), value
    agents = data.get("agents")
    if isinstance(agents, dict):
        for name, agent in agents.items():
            value = agent.get("model") if isinstance(agent, dict) else None
            if isinstance(value, str) and ":" in value:
                yield ("agents", name, "model"), value


__all__ = ["environment_issues"]
