"""Helpers both provider adapters share (no vendor SDK imported here)."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

from podium.models.base import is_loopback

LOCAL_KEY = "podium-local"  # local servers (Ollama, vLLM) ignore the key but the SDKs want one


def local_key(base_url: str | None) -> str | None:
    """A placeholder key for a loopback server, else None (a real key is required)."""
    return LOCAL_KEY if is_loopback(base_url) else None


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``Retry-After`` (seconds or an HTTP date), else ``retry-after-ms``."""
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    milliseconds = headers.get("retry-after-ms")
    try:
        return max(0.0, float(milliseconds) / 1000) if milliseconds else None
    except ValueError:
        return None
