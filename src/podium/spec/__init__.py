"""The YAML front end: a spec file describes models, tools, agents, limits and the workflow
tree, and loads into the same objects as the Python API.

>>> workflow = load_spec("flow.yaml")            # doctest: +SKIP
>>> root, issues = check_file("flow.yaml")       # every problem, located, nothing raised

Importing this package makes ``load_target("flow.yaml")`` (``podium run flow.yaml``, resume)
build the workflow through :func:`load_spec`. See ``docs/spec.md``.
"""

from podium.runtime.targets import register_target_loader
from podium.spec.errors import SpecIssue, SpecValidationError
from podium.spec.loader import check_file, check_text, load_spec, loads_spec
from podium.spec.preflight import environment_issues
from podium.spec.schema import SpecDocument, json_schema, schema_text

SUFFIXES = (".yaml", ".yml")
register_target_loader(SUFFIXES, load_spec)

__all__ = [
    "SUFFIXES",
    "SpecDocument",
    "SpecIssue",
    "SpecValidationError",
    "check_file",
    "check_text",
    "environment_issues",
    "json_schema",
    "load_spec",
    "loads_spec",
    "schema_text",
]
