"""Shared rate-limit buckets (per provider or model; used by every worker of a store).

A bucket holds up to one minute's allowance of requests and of tokens and refills
continuously. :func:`take` is the whole algorithm; each store keeps the bucket rows
(``rate_buckets``: key, requests, tokens, updated_at) and applies it in one transaction, so
concurrent workers — threads, processes, machines — draw from the same allowance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypedDict

__all__ = ["Bucket", "RateArgs", "from_row", "take", "to_row"]


class RateArgs(TypedDict):
    """:func:`take`'s amounts and limits, as the stores pass them on."""

    requests: float
    tokens: float
    requests_per_minute: float | None
    tokens_per_minute: float | None


@dataclass(frozen=True, slots=True)
class Bucket:
    """What is left, as of ``at`` (seconds, the store's clock). NaN: that dimension is
    unlimited."""

    requests: float
    tokens: float
    at: float


def take(
    bucket: Bucket | None,
    now: float,
    *,
    requests: float,
    tokens: float,
    requests_per_minute: float | None,
    tokens_per_minute: float | None,
    force: bool = False,
) -> tuple[Bucket, float]:
    """Take ``requests`` and ``tokens`` from ``bucket`` (None: a new, full one) if both are
    available now. Returns the bucket to store and the seconds to wait before trying again
    (0.0: taken). A request larger than a whole minute's allowance waits for a full bucket.
    ``force`` takes unconditionally, even into debt (correcting an estimate after the fact;
    a negative amount gives back)."""
    levels = []
    waits = [0.0]
    for rate, level, want in (
        (requests_per_minute, bucket.requests if bucket else math.nan, requests),
        (tokens_per_minute, bucket.tokens if bucket else math.nan, tokens),
    ):
        if rate is None:
            levels.append((math.nan, 0.0))
            continue
        elapsed = max(0.0, now - bucket.at) if bucket else 0.0
        full = level if not math.isnan(level) else rate
        current = min(rate, full + elapsed * rate / 60.0)
        need = min(want, rate)
        levels.append((current, want))
        if not force and current < need:
            waits.append((need - current) * 60.0 / rate)
    wait = max(waits)
    if wait > 0:
        return Bucket(levels[0][0], levels[1][0], now), wait
    return Bucket(levels[0][0] - levels[0][1], levels[1][0] - levels[1][1], now), 0.0


def from_row(row: tuple[float | None, float | None, float] | None) -> Bucket | None:
    """A stored ``(requests, tokens, updated_at)`` row as a bucket (NULL: unlimited)."""
    if row is None:
        return None
    requests, tokens, at = row
    return Bucket(
        math.nan if requests is None else float(requests),
        math.nan if tokens is None else float(tokens),
        float(at),
    )


def to_row(bucket: Bucket) -> tuple[float | None, float | None, float]:
    return (
        None if math.isnan(bucket.requests) else bucket.requests,
        None if math.isnan(bucket.tokens) else bucket.tokens,
        bucket.at,
    )
