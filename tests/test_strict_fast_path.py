"""The fast look of jsonsafe.strict_size: it vouches only for text with nothing suspect."""

from __future__ import annotations

import json

import pytest

from podium import jsonsafe


@pytest.mark.parametrize(
    "value",
    [
        {"n": 1234567890123456789},  # 19 digits: may be past int64
        {"n": -12345678901234567890},
        {"text": "order 1234567890123456789 shipped"},  # digits in a string: looked at closely
        {"x": float("nan")},
        {"x": [1.0, float("-inf")]},
        {"text": "a\x00b"},
        {"text": "says NaN"},
        {"text": "Infinity and beyond"},
    ],
)
def test_suspect_text_gets_the_close_look(value: object) -> None:
    assert jsonsafe.strict_size(value) is None


@pytest.mark.parametrize(
    "value",
    [
        {"n": 123456789012345678},  # 18 digits
        {"text": "order 12345678-9012345678 shipped", "ids": [1, 22, 333]},
        "plain text",
        "",
        [],
    ],
)
def test_plain_values_measure_their_compact_json(value: object) -> None:
    expected = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    assert jsonsafe.strict_size(value) == expected
