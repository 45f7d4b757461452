"""Request bodies: strict (no coercion, no unknown fields), so wrong types are refused whole."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from podium.errors import UserError


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StartRun(_Body):
    namespace: str = Field(min_length=1, max_length=63)
    deployment: str = Field(min_length=1, max_length=63)
    input: JsonValue = None
    version: str | None = Field(default=None, pattern="^[0-9a-f]{64}$")
    environment: str | None = Field(default=None, min_length=1, max_length=63)


class Signal(_Body):
    name: str = Field(min_length=1, max_length=200)
    payload: JsonValue = None


class Cancel(_Body):
    reason: str = Field(default="", max_length=2000)


class Resolve(_Body):
    step_key: str = Field(min_length=1)
    action: Literal["retry", "skip", "fail"]
    result: JsonValue = None
    comment: str = Field(default="", max_length=2000)


class Decision(_Body):
    digest: str | None = None
    comment: str = Field(default="", max_length=2000)


class CreateKey(_Body):
    namespace: str = Field(min_length=1, max_length=63)
    role: str
    expires_in: float | None = Field(default=None, gt=0)
    label: str = Field(default="", max_length=200)


_NAME = Field(min_length=1, max_length=63)


class Configure(_Body):
    environments: dict[str, dict[str, JsonValue]]


class Promote(_Body):
    version: int = Field(ge=1)
    to: str = _NAME
    force: bool = False


class Approve(_Body):
    to: str = _NAME


class Rollback(_Body):
    env: str = _NAME


def encode_cursor(cursor: tuple[float, str] | None) -> str | None:
    if cursor is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(list(cursor)).encode()).decode()


def decode_cursor(text: str | None) -> tuple[float, str] | None:
    if not text:
        return None
    try:
        created, run_id = json.loads(base64.urlsafe_b64decode(text.encode()))
        return float(created), str(run_id)
    except (ValueError, TypeError, binascii.Error):
        raise UserError(f"cursor {text[:40]!r} is not a cursor this server gave") from None
