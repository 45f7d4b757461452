"""Strict JSON: the values a governed decision may look at and the journal can always record.

A value is strict JSON when it is made of objects (string keys), arrays, strings, finite
numbers, booleans and null, and

- every number is finite (no NaN, no ±Infinity, no ``1e400`` that parses as infinity) and every
  integer fits in 64 bits (``|n| <= 2**63 - 1``);
- every string (keys too) is valid Unicode text: no lone surrogate (``"\\ud800"``) and no
  U+0000, which some stores (PostgreSQL) cannot hold;
- it nests at most :data:`MAX_DEPTH` levels deep.

Model-written tool arguments are parsed with :func:`loads` before any predicate, guardrail,
scope check or tool sees them; tool results are checked with :func:`check` before they are
journaled. A violation raises :class:`JsonValueError` naming where (``arguments.items[2]``) and
why. The walks are iterative: a 100,000-level value cannot exhaust the Python stack.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import pydantic
import pydantic_core

MAX_DEPTH = 100
"""Containers nested more deeply than this are refused."""
MAX_INT = 2**63 - 1
"""The largest integer magnitude accepted (what a 64-bit database column holds)."""
MAX_ARGUMENT_CHARS = 1_000_000
"""The longest tool-argument text a model may send (one million characters)."""

_BAD_CHAR = re.compile("[\ud800-\udfff\x00]")


class JsonValueError(ValueError):
    """A value is not strict JSON; ``where`` is its path, ``reason`` what is wrong there."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


def loads(text: str | bytes, *, root: str = "value", max_chars: int | None = None) -> Any:
    """Parse ``text`` as strict JSON, or raise :class:`JsonValueError`."""
    if max_chars is not None and len(text) > max_chars:
        raise JsonValueError(root, f"is {len(text):,} characters, over the limit of {max_chars:,}")
    try:
        value = pydantic_core.from_json(text, allow_inf_nan=False)
    except ValueError as error:
        raise _parse_error(text, str(error), root) from None
    check(value, root=root)
    return value


def _parse_error(text: str | bytes, detail: str, root: str) -> JsonValueError:
    if "recursion limit" in detail:
        return JsonValueError(root, f"nests deeper than {MAX_DEPTH} levels")
    if "surrogate" in detail or "hex escape" in detail:
        return JsonValueError(root, f"holds a lone surrogate, not valid text ({detail})")
    try:  # NaN or Infinity: say where
        check(pydantic_core.from_json(text, allow_inf_nan=True), root=root)
    except JsonValueError as error:
        return error
    except ValueError:
        pass
    return JsonValueError(root, f"is not valid JSON: {detail}")


def check(value: Any, *, root: str = "value") -> None:
    """Raise :class:`JsonValueError` unless ``value`` (JSON-like values) is strict JSON."""
    if strict_size(value) is None:
        _walk(value, root, python=False)


def check_python(value: Any, *, root: str = "value") -> None:
    """Like :func:`check`, for validated Python values: models, dataclasses, enums, sets and
    ``Decimal`` are looked into (a ``Decimal('NaN')`` is refused too); other objects (dates,
    UUIDs...) are leaves."""
    if strict_size(value) is None:
        _walk(value, root, python=True)


# Anything in a value's compact JSON that may break a rule: a non-finite constant, U+0000, an
# integer of 19 digits or more. Matching text (a string "NaN") only costs the precise walk.
# Substring tests, not one regular expression: re tries an alternation at every byte (~10x
# slower on a short body); 19 digits in a row are 19 zeros once every digit reads "0".
_SUSPECT_TEXT = (b"NaN", b"Infinity", b"\\u0000")
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 19


def _suspect(raw: bytes) -> bool:
    """Whether compact JSON ``raw`` holds anything :func:`strict_size` must not vouch for."""
    for text in _SUSPECT_TEXT:
        if text in raw:
            return True
    return len(raw) >= 19 and _LONG_DIGITS in raw.translate(_DIGITS_TO_ZERO)


def strict_size(value: Any) -> int | None:
    """A fast look (pydantic-core, no Python walk): the length in bytes of ``value``'s compact
    UTF-8 JSON when that text proves it strict (nothing suspect, too few brackets to nest past
    the limit, no lone surrogate), else None, which means "look closely", not "invalid"."""
    try:  # plain values first: a model's own config could write NaN as null
        plain = pydantic_core.to_jsonable_python(value)
        raw = pydantic_core.to_json(plain, inf_nan_mode="constants")
    except (ValueError, RecursionError):
        return None
    if _suspect(raw):
        return None
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:
        return None
    return len(raw)


def _walk(value: Any, root: str, *, python: bool) -> None:
    stack: list[tuple[Any, str, int]] = [(value, root, 0)]
    while stack:
        item, where, depth = stack.pop()
        children = _children(item, where, python)
        if children is None:
            continue
        if depth >= MAX_DEPTH:
            raise JsonValueError(where, f"nests deeper than {MAX_DEPTH} levels")
        stack.extend((child, path, depth + 1) for child, path in children)


def _children(item: Any, where: str, python: bool) -> list[tuple[Any, str]] | None:
    """The items inside a container (None for a valid leaf); raise for an invalid leaf."""
    if isinstance(item, str):
        _check_text(item, where)
        return None
    if item is None or isinstance(item, bool):
        return None
    if isinstance(item, int | float):
        _check_number(item, where)
        return None
    if isinstance(item, Mapping):
        return list(_members(item, where))
    if isinstance(item, list | tuple):
        return [(v, f"{where}[{i}]") for i, v in enumerate(item)]
    if python:
        return _python_children(item, where)
    raise JsonValueError(where, f"is a {type(item).__name__}, not a JSON value")


def _members(mapping: Mapping[Any, Any], where: str) -> Iterator[tuple[Any, str]]:
    for key, item in mapping.items():
        if not isinstance(key, str):
            raise JsonValueError(where, f"has a key that is not a string: {key!r:.40}")
        _check_text(key, f"{where} (a key)")
        yield item, f"{where}.{key}" if key.isidentifier() else f"{where}[{key!r:.40}]"


def _python_children(item: Any, where: str) -> list[tuple[Any, str]] | None:
    if isinstance(item, Decimal):
        if not item.is_finite():
            raise JsonValueError(where, f"{item} is not a finite number")
        return None
    if isinstance(item, set | frozenset):
        return [(v, f"{where}[{i}]") for i, v in enumerate(item)]
    if isinstance(item, enum.Enum):
        return [(item.value, where)]
    if isinstance(item, pydantic.BaseModel):
        return [(getattr(item, n), f"{where}.{n}") for n in type(item).model_fields]
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return [(getattr(item, f.name), f"{where}.{f.name}") for f in dataclasses.fields(item)]
    return None  # a date, a UUID, a path...: serialised as a string


def clean_text(text: str, limit: int = 10_000) -> str:
    """``text`` made safe to record: lone surrogates and U+0000 become U+FFFD, and text past
    ``limit`` characters is clipped with a note (error messages, refused argument text)."""
    if _BAD_CHAR.search(text) is not None:
        text = _BAD_CHAR.sub("\ufffd", text)
    if len(text) > limit:
        text = f"{text[:limit]}... [clipped: {len(text):,} characters]"
    return text


def _check_text(text: str, where: str) -> None:
    found = _BAD_CHAR.search(text)
    if found is None:
        return
    char = found.group()
    what = "U+0000" if char == "\x00" else f"a lone surrogate (U+{ord(char):04X})"
    raise JsonValueError(where, f"holds {what} at index {found.start()}, not valid text")


def _check_number(number: float, where: str) -> None:
    if isinstance(number, float):
        if not math.isfinite(number):
            name = "NaN" if math.isnan(number) else "Infinity" if number > 0 else "-Infinity"
            raise JsonValueError(where, f"{name} is not a finite number")
    elif abs(number) > MAX_INT:
        raise JsonValueError(where, f"the integer {_digits(number)} is outside the 64-bit range")


def _digits(number: int) -> str:
    sign = "-" if number < 0 else ""
    magnitude = abs(number)
    if magnitude.bit_length() > 200:
        return f"{sign}(about 10^{int(magnitude.bit_length() * math.log10(2))})"
    return f"{sign}{magnitude}"


__all__ = [
    "MAX_ARGUMENT_CHARS",
    "MAX_DEPTH",
    "MAX_INT",
    "JsonValueError",
    "check",
    "check_python",
    "clean_text",
    "loads",
    "strict_size",
]
