"""The event vocabulary: one serializer, every type round-trips, bad rows fail clearly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from podium.events import (
    SCHEMA_VERSION,
    TERMINAL_TYPES,
    RunStarted,
    SignalReceived,
    decode,
    encode,
)
from podium.testing.conformance import event_types, sample_events

SAMPLES = sample_events()


def _type_tag(cls: type[Any]) -> str:
    tag = cls.__dataclass_fields__["type"].default
    assert isinstance(tag, str)
    return tag


def test_samples_cover_every_event_type() -> None:
    members = event_types()
    assert len(members) == len(set(members)) >= 18
    assert set(SAMPLES) == set(members), "add the new event type to sample_events()"


def test_type_tags_are_unique_and_match_instances() -> None:
    tags = [_type_tag(cls) for cls in event_types()]
    assert len(tags) == len(set(tags))
    assert all(event.type == _type_tag(cls) for cls, event in SAMPLES.items())
    assert {"run_completed", "run_failed", "run_cancelled"} == TERMINAL_TYPES


@pytest.mark.parametrize("cls", event_types(), ids=lambda cls: cls.__name__)
def test_every_event_round_trips(cls: type[Any]) -> None:
    event = SAMPLES[cls]
    body = encode(event)
    assert json.loads(body)["type"] == event.type
    decoded = decode(body)
    assert type(decoded) is cls
    assert decoded == event
    assert decode(body.encode()) == event
    assert encode(decoded) == body


def test_encode_is_compact_utf8_json() -> None:
    body = encode(SAMPLES[RunStarted])
    assert body == json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False)
    assert "héllo" in body


def test_a_run_started_written_before_forks_existed_still_decodes() -> None:
    old = '{"type":"run_started","workflow":"pkg.mod:flow","input":"hi","namespace":"default"}'
    started = decode(old)
    assert isinstance(started, RunStarted)
    assert (started.forked_from, started.fork_point, started.carried) == (None, None, 0)
    forked = SAMPLES[RunStarted]
    assert isinstance(forked, RunStarted)
    assert decode(encode(forked)) == forked
    assert (forked.forked_from, forked.fork_point, forked.carried) == (
        "run-0",
        "flow/agent/model#2",
        7,
    )


def test_newer_schema_version_is_refused() -> None:
    body = encode(SAMPLES[RunStarted])
    with pytest.raises(ValueError, match=rf"v{SCHEMA_VERSION + 1}.*newer"):
        decode(body, SCHEMA_VERSION + 1)
    assert decode(body, SCHEMA_VERSION) == SAMPLES[RunStarted]


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ('{"type": "node_started", "path": 123, "kind": "agent"}', "node_started.path"),
        ('{"type": "node_started", "kind": "agent"}', "node_started.path"),
        (
            '{"type": "model_call_completed", "key": "k", "model": "m", "request_digest": "d",'
            ' "response": {"usage": {"input_tokens": "many"}}}',
            "model_call_completed.response.usage.input_tokens",
        ),
        ('{"type": "run_failed", "error": {"type": "E"}}', "run_failed.error.message"),
        ('{"type": "no_such_event"}', "no_such_event"),
    ],
    ids=["wrong-type", "missing", "nested", "nested-missing", "unknown-type"],
)
def test_decode_errors_name_the_field(body: str, names: str) -> None:
    with pytest.raises(ValueError, match=names.replace(".", r"\.")):
        decode(body)


@pytest.mark.parametrize("body", ["{not json", "", "[]", "null", '"run_started"'])
def test_decode_refuses_non_events(body: str) -> None:
    with pytest.raises(ValueError, match="top level"):
        decode(body)


class _Opaque:
    pass


@pytest.mark.parametrize(
    "payload",
    [{1, 2}, b"raw", float("nan"), float("-inf"), _Opaque(), {"deep": [_Opaque()]}],
    ids=["set", "bytes", "nan", "inf", "object", "nested-object"],
)
def test_encode_refuses_what_is_not_plain_json(payload: object) -> None:
    event = SignalReceived(name="s", payload=payload)  # type: ignore[arg-type]
    with pytest.raises(ValueError):  # noqa: PT011 - the reason text is the serializer's
        encode(event)


def test_nan_inside_a_string_is_fine() -> None:
    event = SignalReceived(name="s", payload={"NaN": "Infinity and NaN"})
    assert decode(encode(event)) == event
