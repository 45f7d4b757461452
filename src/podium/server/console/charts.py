"""Server-rendered SVG bar charts (no script, no inline style: the CSP holds)."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, ROW, LABEL = 640.0, 22, 200.0


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    value: float
    text: str
    y: float
    w: float


@dataclass(frozen=True, slots=True)
class Chart:
    rows: tuple[Row, ...]
    height: float
    width: float = WIDTH
    label_width: float = LABEL


def bars(rows: list[tuple[str, float]]) -> Chart:
    """One horizontal bar per ``(label, value)``, scaled to the largest value."""
    top = max([v for _, v in rows] + [0.0])
    scale = (WIDTH - LABEL - 110) / top if top > 0 else 0.0
    out = tuple(
        Row(label[:40], value, f"${value:.6f}", index * ROW + 4, max(1.0, value * scale))
        for index, (label, value) in enumerate(rows)
    )
    return Chart(rows=out, height=len(out) * ROW + 8)
