"""Draw docs/benchmarks.png from the panels bench/compare.py writes (runs where matplotlib is:
the peers venv).

    python bench/peers/chart.py PANELS.json OUT.png

PANELS.json: ``{"smoke": bool, "panels": [{"workload", "title", "key", "label", "better",
"target", "rows": {framework: {"status", "median", "min", "max", "n"}}}]}``. One panel per
workload figure (W4 and W5 have two), one bar per framework (the median, with a min-max error
bar), Podium's bar highlighted, Podium's target as a dashed line; a logarithmic axis when the
bars differ by more than 20x. Frameworks without a figure are named under the axis.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PODIUM = "#d1495b"
PEER = "#5b7a99"
SHORT = {"not_installable": "not installable", "unsupported": "unsupported"}


def _panel(ax: Any, panel: dict[str, Any]) -> None:
    names, medians, lows, highs, colours, missing = [], [], [], [], [], []
    for framework, row in panel["rows"].items():
        if row.get("status") != "ok" or "median" not in row:
            missing.append(f"{framework}: {SHORT.get(row.get('status', ''), row.get('status'))}")
            continue
        names.append(framework)
        medians.append(row["median"])
        lows.append(row["median"] - row["min"])
        highs.append(row["max"] - row["median"])
        colours.append(PODIUM if framework == "podium" else PEER)
    ax.set_title(f"{panel['workload']}: {panel['label']}", fontsize=9, loc="left")
    if not names:
        ax.text(0.5, 0.5, "no results", ha="center", va="center", transform=ax.transAxes)
    else:
        positions = range(len(names))
        ax.bar(positions, medians, color=colours, yerr=[lows, highs], capsize=3)
        ax.set_xticks(list(positions), names, rotation=30, ha="right", fontsize=8)
        positive = [m for m in medians if m > 0]
        if len(positive) > 1 and max(positive) / min(positive) > 20:
            ax.set_yscale("log")
        for x, value in zip(positions, medians, strict=True):
            ax.annotate(_short(value), (x, value), ha="center", va="bottom", fontsize=7)
    target = panel.get("target")
    if target is not None:
        ax.axhline(target, color=PODIUM, linestyle="--", linewidth=1)
        sign = "≤" if panel["better"] == "lower" else "≥"
        ax.annotate(f"target {sign} {_short(target)}", (0.99, target), xycoords=("axes fraction",
                    "data"), ha="right", va="bottom", fontsize=7, color=PODIUM)  # fmt: skip
    arrow = "lower is better" if panel["better"] == "lower" else "higher is better"
    ax.set_ylabel(arrow, fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    if missing:
        ax.set_xlabel("; ".join(missing), fontsize=6)


def _short(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def main() -> None:
    source, out = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as fh:
        data = json.load(fh)
    panels = data["panels"]
    cols = 3
    rows = max(1, math.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 4.2, rows * 3.4), squeeze=False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        _panel(ax, panel)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    title = "Podium and its peers: median per framework (error bars: min–max over trials)"
    if data.get("smoke"):
        title += " — SMOKE RUN, not a measurement"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
