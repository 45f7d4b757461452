"""``--json``: what the listing and inspection verbs print for scripts, one JSON document on
standard output (``logs --json``: one JSON object per line, so ``--follow`` streams)."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

import typer

from podium.events import ErrorInfo, encode
from podium.observability.audit import VerifyResult
from podium.runtime import RunResult
from podium.store import RunRecord, StoredEvent

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON on standard output (for scripts)")
]


def emit(value: Any) -> None:
    """Print ``value`` as indented JSON (plain text: no console markup, no highlighting)."""
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def record_json(record: RunRecord) -> dict[str, Any]:
    data = dataclasses.asdict(record)
    data["status"] = record.status.value
    data["tags"] = list(record.tags)
    return data


def event_json(stored: StoredEvent) -> dict[str, Any]:
    """``{"seq", "ts", "type", "event": {...}, "hash"}``: the event as the journal encodes it."""
    return {
        "seq": stored.seq,
        "ts": stored.ts,
        "type": stored.event.type,
        "event": json.loads(encode(stored.event)),
        "hash": stored.hash,
    }


def event_line_json(stored: StoredEvent) -> str:
    return json.dumps(event_json(stored), ensure_ascii=False)


def show_json(
    record: RunRecord,
    events: list[StoredEvent],
    unknown: list[str],
    failure: ErrorInfo | None,
) -> dict[str, Any]:
    """``podium show --json``: the index row, every event, the unknown steps, the failure."""
    return {
        "run": record_json(record),
        "events": [event_json(stored) for stored in events],
        "unknown_steps": unknown,
        "error": dataclasses.asdict(failure) if failure is not None else None,
    }


def result_json(result: RunResult) -> dict[str, Any]:
    usage = result.usage
    return {
        "run_id": result.run_id,
        "status": result.status.value,
        "output": result.output,
        "error": result.error,
        "waiting_for": result.waiting_for,
        "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens},
        "model_calls": result.model_calls,
        "tool_calls": result.tool_calls,
    }


def verify_json(result: VerifyResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "ok": result.ok,
        "events": result.events,
        "head": result.head,
        "first_bad_seq": result.first_bad_seq,
        "problem": result.problem,
        "erased": result.erasure is not None,
    }


__all__ = [
    "JsonOption",
    "emit",
    "event_json",
    "event_line_json",
    "record_json",
    "result_json",
    "show_json",
    "verify_json",
]
