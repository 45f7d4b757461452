"""YAML text to plain values, remembering where every key and value was written.

PyYAML composes the text into a node tree whose marks hold 0-based lines and columns; this
module walks that tree into dicts, lists and scalars and records ``path -> (line, column)``
(1-based) for each value and each mapping key. Mapping keys are kept as the text written, so a
key such as ``on`` or ``1`` is not silently turned into a boolean or a number. A key written twice
in one mapping is a problem, as are YAML syntax errors and tags that build Python objects.
Plain values follow YAML 1.2 where PyYAML's YAML 1.1 would surprise: ``on``, ``yes``, ``no``
and ``off`` are text, not booleans, and ``1:30`` is text, not the number 90.

A spec is small, so hostile or runaway input is refused with one problem instead of hanging or
crashing: text over :data:`MAX_BYTES`, collections nested over :data:`MAX_DEPTH` levels (checked
while composing, before anything recursive runs, and again once aliases are expanded), and more
than :data:`MAX_NODES` values once aliases are expanded (a "billion laughs" alias bomb).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import CollectionStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from podium.spec.errors import Path

Position = tuple[int, int]
MAX_BYTES = 1_000_000  # the largest spec text read, in UTF-8 bytes
MAX_DEPTH = 64  # collections nested in one another, the root mapping being level 1
MAX_NODES = 100_000  # values (and merged keys) once every alias is expanded
TOO_LARGE = f"spec too large (over {MAX_BYTES:,} bytes)"
TOO_DEEP = f"nested too deeply (max {MAX_DEPTH} levels)"
TOO_MANY = (
    f"spec too large or too many aliases (more than {MAX_NODES:,} values once aliases are expanded)"
)
_MERGE = "tag:yaml.org,2002:merge"
_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_YAML11_ONLY = {  # tag -> is this text also that type in YAML 1.2?
    "tag:yaml.org,2002:bool": lambda text: text.lower() in ("true", "false"),
    "tag:yaml.org,2002:int": lambda text: ":" not in text,
    "tag:yaml.org,2002:float": lambda text: ":" not in text,
}


@dataclass(frozen=True, slots=True)
class Problem:
    """A problem found before the document has a shape to validate."""

    position: Position
    path: Path
    message: str


@dataclass(slots=True)
class Located:
    """The document's plain value and where each part of it was written."""

    data: Any
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def position(self, path: Path, *, at_key: bool = False) -> Position:
        """Where ``path`` was written, else where its nearest written ancestor was.

        ``at_key`` points at the key itself (an unknown or duplicate key); an ancestor is
        pointed at by its key, so a missing field is reported on the line that names its owner.
        """
        for size in range(len(path), -1, -1):
            prefix = path[:size]
            if (at_key or size < len(path)) and prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return (1, 1)


def locate(text: str) -> Located:
    """Parse ``text``; YAML errors become problems (``data`` is then ``None``)."""
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "replace")) > MAX_BYTES:
        return Located(None, problems=[Problem((1, 1), (), TOO_LARGE)])
    try:
        root = yaml.compose(text, Loader=_Loader)
    except _Refused as refused:
        return Located(None, problems=[refused.problem])
    except yaml.MarkedYAMLError as error:
        return Located(None, problems=[_syntax_problem(error)])
    except yaml.YAMLError as error:  # pragma: no cover - every PyYAML parse error is marked
        return Located(None, problems=[Problem((1, 1), (), f"invalid YAML: {error}")])
    if root is None:
        return Located(None, problems=[Problem((1, 1), (), "the file is empty")])
    walker = _Walker()
    try:
        data = walker.value(root, (), frozenset())
    except _Refused as refused:
        return Located(None, problems=[refused.problem])
    return Located(data, walker.values, walker.keys, walker.problems)


class _Refused(Exception):
    """The text is beyond a limit; nothing more is read."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class _Loader(yaml.SafeLoader):
    """PyYAML's composer recurses once per nesting level: refuse a deep text before it does,
    and stop reading once there are more values than the expanded document may hold."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._values = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        position = (event.start_mark.line + 1, event.start_mark.column + 1)
        if not (isinstance(parent, MappingNode) and index is None):  # keys are not values
            self._values += 1
            if self._values > MAX_NODES:
                raise _Refused(Problem(position, (), TOO_MANY))
        if not isinstance(event, CollectionStartEvent):
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise _Refused(Problem(position, (), TOO_DEEP))
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _syntax_problem(error: yaml.MarkedYAMLError) -> Problem:
    mark = error.problem_mark or error.context_mark
    position = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    parts = [part for part in (error.context, error.problem) if part]
    return Problem(position, (), "invalid YAML: " + ", ".join(parts))


def _at(node: Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Walker:
    def __init__(self) -> None:
        self.values: dict[Path, Position] = {}
        self.keys: dict[Path, Position] = {}
        self.problems: list[Problem] = []
        self._scalars = yaml.SafeLoader("")
        self._budget = MAX_NODES

    # The composer has checked the text itself, so a limit reached here is reached through
    # aliases; the expanded path would be long, so a refusal names the top-level key instead.

    def _spend(self, node: Node, path: Path, count: int = 1) -> None:
        self._budget -= count
        if self._budget < 0:
            raise _Refused(Problem(_at(node), path[:1], TOO_MANY))

    def value(self, node: Node, path: Path, active: frozenset[int]) -> Any:
        self._spend(node, path)
        self.values[path] = _at(node)
        if id(node) in active:
            self.problems.append(Problem(_at(node), path, "an alias refers to itself"))
            return None
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if node.tag not in _COLLECTION_TAGS:
            return self._unsupported(node, path)
        if len(path) >= MAX_DEPTH:
            raise _Refused(Problem(_at(node), path[:1], TOO_DEEP))
        inner = active | {id(node)}
        if isinstance(node, SequenceNode):
            return [self.value(item, (*path, i), inner) for i, item in enumerate(node.value)]
        assert isinstance(node, MappingNode)
        return self._mapping(node, path, inner)

    def _scalar(self, node: ScalarNode, path: Path) -> Any:
        if node.tag in _YAML11_ONLY and not _YAML11_ONLY[node.tag](node.value):
            return node.value  # yes/no/on/off and 1:30 stay text, as in YAML 1.2
        try:
            return self._scalars.construct_object(node)
        except yaml.YAMLError:
            return self._unsupported(node, path)

    def _unsupported(self, node: Node, path: Path) -> None:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        self.problems.append(Problem(_at(node), path, f"unsupported YAML tag {tag!r}"))

    def _mapping(self, node: MappingNode, path: Path, active: frozenset[int]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first: dict[str, Position] = {}
        merged: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.extend(self._merge_pairs(value_node, path))
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            if key in first:
                line = first[key][0]
                message = f"duplicate key {key!r} (first written on line {line})"
                self.problems.append(Problem(_at(key_node), (*path, key), message))
                continue
            first[key] = self.keys[(*path, key)] = _at(key_node)
            result[key] = self.value(value_node, (*path, key), active)
        for key_node, value_node in merged:  # explicit keys win over merged ones
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if key is not None and key not in result:
                self.keys[(*path, key)] = _at(key_node)
                result[key] = self.value(value_node, (*path, key), active)
        return result

    def _key(self, node: Node, path: Path) -> str | None:
        if isinstance(node, ScalarNode):
            return str(node.value)
        self.problems.append(Problem(_at(node), path, "a key must be a plain name"))
        return None

    def _merge_pairs(self, node: Node, path: Path) -> list[tuple[Node, Node]]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        pairs: list[tuple[Node, Node]] = []
        for source in sources:
            if not isinstance(source, MappingNode):
                self.problems.append(Problem(_at(source), path, "'<<' merges only mappings"))
                continue
            self._spend(source, path, len(source.value))
            pairs.extend(source.value)
        return pairs


__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "TOO_DEEP",
    "TOO_LARGE",
    "Located",
    "Position",
    "Problem",
    "locate",
]
