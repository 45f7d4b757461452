"""The report of ``bench/compare.py`` (issue 7): summary, markdown page, chart. Standard library
only. Everything here works from the raw results JSON (``bench/results/compare-<UTC>.json``),
so ``compare.py --report-from FILE`` can regenerate ``docs/benchmarks.md`` without a rerun.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import venvs

PEERS = Path(__file__).resolve().parent
REPO = PEERS.parent.parent
RESULTS = REPO / "bench" / "results"
DIRECT_W6 = 100_000  # the runs of the separate, direct W6 measurement
DIRECT_W6_CMD = "python3 bench/compare.py --only W6 --frameworks podium --w6-runs 100000 --trials 1"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    better: str  # "lower", "higher" or "" (information only)
    target: float | None = None
    digits: int = 1
    chart: bool = True


METRICS: dict[str, tuple[Metric, ...]] = {
    "W1": (Metric("us_per_step", "µs per step", "lower", 50.0),),  # issue 13
    "W2": (
        Metric("x_ideal", "× ideal (50 ms)", "lower", 1.08, 2),  # issue 13
        Metric("wall_ms", "ms", "lower", chart=False),
    ),
    "W3": (Metric("us_per_tool_call", "µs per tool call", "lower", 60.0),),
    "W4": (
        Metric("runs_per_s", "runs/s", "higher", 4000.0, 0),
        Metric("kib_per_run", "KiB/run (peak RSS)", "lower", 8.0),
        Metric("runs", "runs", "", None, 0),
    ),
    "W5": (
        Metric("us_per_step", "µs per step", "lower", 300.0),  # issue 13
        Metric("bytes_per_run", "bytes/run on disk", "lower", 5000.0, 0),
    ),
    "W6": (
        Metric("projected_mb_100k", "MB projected at 100,000", "lower", 300.0, 0),
        Metric("kib_per_run", "KiB per suspended run", "lower", None, 2),
        Metric("peak_rss_mb", "peak RSS MB", "", None, 0),
        Metric("runs", "runs made", "", None, 0),
        Metric("create_ms_per_run", "ms to create a run", "lower", None, 2, chart=False),
    ),
    "W7": (
        Metric("resume_s", "s until all resumed", "lower", 10.0, 2),
        Metric("runs", "runs", "", None, 0),
    ),
}


def titles(settings: dict[str, Any]) -> dict[str, str]:
    s = settings["sizes"]
    return {
        "W1": "Overhead per agent step (chain of 10 agents, 0 ms model)",
        "W2": f"{s['w2_agents']} agents in parallel (50 ms model each)",
        "W3": "One agent calling a trivial tool 5 times (0 ms model)",
        "W4": f"{s['w4_runs']:,} concurrent runs of a 3-agent chain (50 ms model)",
        "W5": "W1 with the durable SQLite store",
        "W6": f"Runs suspended on a human approval ({s['w6_runs']:,} per trial, projected to "
        "100,000)",
        "W7": f"kill -9 with {s['w7_runs']:,} runs in flight, then restart",
    }


# -- summary ----------------------------------------------------------------------------------


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """Per workload and framework: status, version, notes, per metric median/min/max/n."""
    out: dict[str, Any] = {}
    for workload in raw["workloads"]:
        rows: dict[str, Any] = {}
        for framework in raw["frameworks"]:
            mine = [t for t in raw["trials"]
                    if t["workload"] == workload and t["framework"] == framework]  # fmt: skip
            if mine:
                rows[framework] = _row(mine)
                rows[framework]["cut"] = raw.get("cuts", {}).get(workload, {}).get(framework, "")
        out[workload] = rows
    return out


def _row(mine: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [t for t in mine if t["status"] == "ok"]
    row: dict[str, Any] = {
        "version": next((t["version"] for t in mine if t["version"]), ""),
        "trials": len(ok),
        "seconds": sum(t["seconds"] for t in mine),
        "failures": [t["reason"] for t in mine if t["status"] in ("failed", "timeout")],
        "notes": next((t["notes"] for t in ok if t["notes"]), ""),
        "metrics": {},
    }
    if ok:
        row["status"] = "ok"
    else:
        row["status"] = mine[0]["status"]
        row["reason"] = mine[0]["reason"]
    keys = {k for t in ok for k, v in t["metrics"].items() if isinstance(v, int | float)}
    for key in sorted(keys):
        values = [float(t["metrics"][key]) for t in ok
                  if isinstance(t["metrics"].get(key), int | float)]  # fmt: skip
        row["metrics"][key] = {
            "median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values), "samples": values,
        }  # fmt: skip
    return row


def best_peer(rows: dict[str, Any], metric: Metric) -> tuple[str, float] | None:
    peers = [
        (f, r["metrics"][metric.key]["median"])
        for f, r in rows.items()
        if f != "podium" and r["status"] == "ok" and metric.key in r["metrics"]
    ]
    if not peers or not metric.better:
        return None
    pick = min if metric.better == "lower" else max
    return pick(peers, key=lambda p: p[1])


def meets(value: float, metric: Metric) -> bool | None:
    if metric.target is None:
        return None
    return value <= metric.target if metric.better == "lower" else value >= metric.target


# -- tables -----------------------------------------------------------------------------------


def _fmt(value: float, digits: int) -> str:
    if abs(value) >= 1000:
        digits = 0
    return f"{value:,.{digits}f}"


def table(workload: str, rows: dict[str, Any]) -> str:
    metrics = METRICS[workload]
    head = ["framework", "n"]
    for m in metrics:
        head += [f"{m.label} (median)", "spread [min–max]"] if m.better else [m.label]
    head += ["Podium's target", "Podium ÷ best peer"]
    align = ["---", "--:"]
    for m in metrics:
        align += ["--:", "---"] if m.better else ["--:"]
    align += ["---", "---"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for framework, row in rows.items():
        n = str(row["trials"]) + ("\\*" if row.get("cut") else "")
        cells = [f"**{framework}**" if framework == "podium" else framework, n]
        for i, m in enumerate(metrics):
            shown = _cells(row, m) if row["status"] == "ok" or i == 0 else ["", ""]
            cells += shown if m.better else shown[:1]
        if framework == "podium" and row["status"] == "ok":
            cells += [_targets(row, metrics), _ratios(rows, row, metrics)]
        else:
            cells += ["", ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cells(row: dict[str, Any], m: Metric) -> list[str]:
    stats = row["metrics"].get(m.key)
    if row["status"] != "ok":
        label = {"not_installable": "not installable"}.get(row["status"], row["status"])
        return [label, ""]
    if stats is None:
        return ["–", ""]
    spread = f"{_fmt(stats['min'], m.digits)}–{_fmt(stats['max'], m.digits)}"
    return [_fmt(stats["median"], m.digits), spread if stats["n"] > 1 else ""]


def _targets(row: dict[str, Any], metrics: tuple[Metric, ...]) -> str:
    out = []
    for m in metrics:
        stats = row["metrics"].get(m.key)
        verdict = meets(stats["median"], m) if stats else None
        if m.target is None or verdict is None:
            continue
        sign = "≤" if m.better == "lower" else "≥"
        out.append(f"{sign} {m.target:,g} {'✅' if verdict else '❌'}")
    return "; ".join(out)


def _ratios(rows: dict[str, Any], row: dict[str, Any], metrics: tuple[Metric, ...]) -> str:
    out = []
    for m in metrics:
        best = best_peer(rows, m)
        stats = row["metrics"].get(m.key)
        if best is None or stats is None or best[1] == 0 or not m.target:
            continue
        ratio = stats["median"] / best[1]
        shown = f"{ratio:.2f}" if ratio < 10 else f"{ratio:.0f}"
        ahead = ratio < 1 if m.better == "lower" else ratio > 1
        side = "Podium better" if ahead else ("even" if ratio == 1 else "peer better")
        label = f" {m.label}" if sum(1 for x in metrics if x.target) > 1 else ""
        out.append(f"{shown}×{label} vs {best[0]} ({m.better} is better: {side})")
    return "; ".join(out) or "no peer result"


def notes(workload: str, rows: dict[str, Any]) -> list[str]:
    out = []
    for framework, row in rows.items():
        if row["status"] == "ok":
            text = row["notes"] or "no notes"
        elif row["status"] == "unsupported":
            text = f"unsupported: {row.get('reason', '')}"
        else:
            text = f"{row['status']}: {row.get('reason', '')}"
        for failure in row.get("failures", []) if row["status"] == "ok" else []:
            text += f" (a trial failed: {failure[:200]})"
        if row.get("cut"):
            text += f" **\\*{row['trials']} trial(s): {row['cut']}.**"
        out.append(f"- **{framework}**: {text}")
    return out


def _versions(summary: dict[str, Any], pythons: dict[str, str]) -> list[str]:
    seen: dict[str, str] = {}
    for rows in summary.values():
        for framework, row in rows.items():
            if row.get("version") and framework not in seen:
                seen[framework] = row["version"]
    lines = ["| framework | version measured | interpreter |", "|---|---|---|"]
    for framework in pythons:
        python = os.path.relpath(pythons[framework], REPO)
        lines.append(f"| {framework} | {seen.get(framework, '–')} | `{python}` |")
    return lines


def time_table(raw: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    """Seconds spent per workload and framework (all trials, process start-up included)."""
    frameworks = raw["frameworks"]
    lines = ["| workload | " + " | ".join(frameworks) + " | total | load avg at start |",
             "|---|" + "--:|" * (len(frameworks) + 1) + "---|"]  # fmt: skip
    for workload in raw["workloads"]:
        rows = summary[workload]
        cells = [f"{rows[f]['seconds']:.0f} s" if f in rows else "" for f in frameworks]
        total = raw["steps_s"].get(f"run {workload}", 0.0)
        load = raw.get("load_at_start", {}).get(workload, "")
        lines.append(f"| {workload} | " + " | ".join(cells) + f" | {total:.0f} s | {load} |")
    return lines


def timing_summary(raw: dict[str, Any]) -> str:
    """The same table for the terminal."""
    summary = summarize(raw)
    width = max(len(f) for f in raw["frameworks"]) + 1
    out = ["seconds per workload and framework (all trials, n in brackets):"]
    out.append("      " + "".join(f"{f:>{width + 5}}" for f in raw["frameworks"]) + "   total")
    for workload in raw["workloads"]:
        cells = []
        for f in raw["frameworks"]:
            row = summary[workload].get(f)
            cells.append(
                f"{row['seconds']:>{width}.0f} ({row['trials']})" if row else " " * (width + 4)
            )
        total = raw["steps_s"].get(f"run {workload}", 0.0)
        out.append(f"  {workload}  " + " ".join(cells) + f"  {total:6.0f}")
    return "\n".join(out)


def overview(summary: dict[str, Any], names: dict[str, str]) -> list[str]:
    """One line per targeted figure: Podium, its target, the best peer, the ratio."""
    lines = ["| workload | figure | Podium | target | best peer | Podium ÷ best peer |",
             "|---|---|--:|---|---|---|"]  # fmt: skip
    for workload, rows in summary.items():
        podium = rows.get("podium")
        for m in METRICS[workload]:
            if m.target is None:
                continue
            stats = podium["metrics"].get(m.key) if podium and podium["status"] == "ok" else None
            shown = _fmt(stats["median"], m.digits) if stats else "–"
            verdict = meets(stats["median"], m) if stats else None
            sign = "≤" if m.better == "lower" else "≥"
            target = f"{sign} {m.target:,g} " + {True: "✅", False: "❌", None: ""}[verdict]
            best = best_peer(rows, m)
            peer = f"{best[0]} {_fmt(best[1], m.digits)}" if best else "none"
            ratio = "–"
            if stats and best and best[1]:
                r = stats["median"] / best[1]
                ahead = r < 1 if m.better == "lower" else r > 1
                ratio = (f"{r:.2f}×" if r < 10 else f"{r:.0f}×") + (
                    f" ({m.better} is better: {'Podium' if ahead else 'peer'} ahead)"
                )
            lines.append(f"| [{workload}](#{_anchor(workload, names[workload])}) | {m.label} | "
                         f"{shown} | {target} | {peer} | {ratio} |")  # fmt: skip
    return lines


def _anchor(workload: str, title: str) -> str:
    text = f"{workload}: {title}".lower()
    kept = "".join(c for c in text if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


# -- the direct W6 measurement at 100,000 ------------------------------------------------------


def direct_w6(results: Path = RESULTS) -> dict[str, Any] | None:
    """Podium's W6 at >= 100,000 runs from the newest results JSON that has one."""
    for path in sorted(results.glob("compare-*.json"), reverse=True):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for t in raw.get("trials", []):
            if (t.get("framework"), t.get("workload"), t.get("status")) != ("podium", "W6", "ok"):
                continue
            if t["metrics"].get("runs", 0) >= DIRECT_W6:
                before = raw.get("machine_before", {})
                return {"file": path.name, "utc": before.get("utc", "?"),
                        "commit": before.get("git", {}).get("commit", "?"),
                        "metrics": t["metrics"]}  # fmt: skip
    return None


def _direct_w6_lines(summary: dict[str, Any]) -> list[str]:
    found = direct_w6()
    if found is None:
        return [
            f"**Direct measurement at {DIRECT_W6:,}** (Podium): not measured yet. Run "
            f"`{DIRECT_W6_CMD}` (about 4 minutes; its results JSON stays in `bench/results/`),"
            " then `python3 bench/compare.py --report-from latest` to put it on this page.",
        ]
    m = found["metrics"]
    verdict = "✅" if m["peak_rss_mb"] <= 300 else "❌"
    projected = summary.get("W6", {}).get("podium", {}).get("metrics", {})
    proj = projected.get("projected_mb_100k", {}).get("median")
    return [
        f"**Direct measurement at {m['runs']:,}** (Podium, `{DIRECT_W6_CMD}`, "
        f"{found['utc']}, commit `{found['commit']}`, `bench/results/{found['file']}`): "
        f"peak RSS **{m['peak_rss_mb']:,.0f} MB** (target ≤ 300 {verdict}), "
        f"{m['kib_per_run']:.3f} KiB per run, created in {m['create_s']:,.0f} s "
        f"({m['create_ms_per_run']:.2f} ms a run)"
        + (f"; this page's projection from the smaller trials: {proj:,.0f} MB." if proj else "."),
    ]


# -- the page ---------------------------------------------------------------------------------


def how(settings: dict[str, Any]) -> str:
    s, box, mins = settings["sizes"], settings["time_box_s"], settings["min_runs"]
    budget = "no" if settings["budget"] == "none" else f"{settings['budget']} s"
    cap = settings["w6_cap_s"]
    cap = (
        "(no creation cap)"
        if cap is None
        else f"until a {cap:g} s creation cap (checked between batches)"
    )
    return f"""\
Each trial is one fresh process running one workload of one framework
(`<python> bench/peers/<framework>_impl.py --workload W1 [--smoke] --workdir DIR`, which prints
one `RESULT {{json}}` line); within a workload the trials are interleaved round-robin across the
frameworks (who goes first rotates), so drift in the machine's load hits all of them alike.
Figures are the median over the `n` successful trials, with the spread [min–max]. Every
framework gets the same scripted model through its own extension point for a custom model: it
answers by the conversation's turn, with 0 ms or 50 ms (`asyncio.sleep`) of latency, and never
reaches the network (tracing and telemetry exports are off). The targets are Podium's, from
issue 7. "Podium ÷ best peer" is Podium's median divided by the best peer's median in the same
run; whether below or above 1 is better is said in each cell (for µs, ms, KiB, MB and seconds
lower is better, so below 1 means Podium is ahead; for runs/s above 1 does).

**Time-boxes: the same rule for every framework**, so that the whole suite fits in 15 minutes
on a 2-core machine although the slowest peers take 100× longer per step than the fastest (in
`bench/peers/common.py`). A timed loop stops after its maximum number of runs or, once its
minimum is done, when its time-box has passed, whichever comes first; the figures are per step
or per call, so a framework that made fewer runs is not disadvantaged, only measured on fewer
samples (the raw JSON has each trial's `runs`).

- **W1**: a chain of 10 agents run in sequence (agent i's output is agent i+1's input), a 0 ms
  model answering a short text; {s["w1_warmup"]} warm-up runs, then up to {s["w1_runs"]} timed
  runs (at least {mins["W1"]}, time-box {box["W1"]:g} s): wall time / (runs × 10).
- **W2**: {s["w2_agents"]} agents fanned out in parallel by the framework's own construct, each
  one model call of 50 ms; 1 warm-up, then the median of up to {s["w2_reps"]} repetitions (at
  least {mins["W2"]}, time-box {box["W2"]:g} s): wall time as a multiple of the ideal 50 ms.
- **W3**: one agent whose model calls a trivial tool on turns 1–5 and answers on turn 6 (0 ms);
  {s["w3_warmup"]} warm-up runs, then up to {s["w3_runs"]} timed runs (at least {mins["W3"]},
  time-box {box["W3"]:g} s): wall time / (runs × 5).
- **W4**: {s["w4_runs"]:,} runs at once of a 3-agent chain with a 50 ms model (ideal wall time
  150 ms): runs per second, and (peak RSS during − RSS before) / runs. First a probe of
  {settings["w4_probe"]} concurrent runs (also the warm-up); if it predicts that {s["w4_runs"]:,}
  would take more than {settings["w4_max_s"]:g} s (its CPU time per run × N + 150 ms), N is the
  number that fits (at least {settings["w4_min_runs"]}), shown in the `runs` column.
- **W5**: W1 with the framework's durable SQLite store (Podium's `SQLiteStore`, the peers'
  SQLite checkpointer or session), {s["w1_warmup"]} warm-up runs, then up to {s["w5_runs"]}
  timed runs (at least {mins["W5"]}, time-box {box["W5"]:g} s): µs per step, and the growth
  of the database file (+ WAL) per run, measured after a WAL checkpoint.
- **W6**: runs suspended on a human approval, durably where the framework can: up to
  {s["w6_runs"]:,} per trial, created in batches {cap}; the process's RSS is
  sampled after every batch. "KiB per suspended run" is the steady growth (from the sample
  nearest 20% of the runs to the last: the caches filling and first allocations are left
  out), and "MB projected at 100,000" is the peak RSS plus (100,000 − runs) × that (memory
  grows linearly with suspended runs); one run is then resumed to prove they resume. Podium's
  target (≤ 300 MB at 100,000) is checked against the projection, and against the direct
  measurement below when there is one.
- **W7**: a process runs {s["w7_runs"]:,} runs of a 3-step chain (a 50 ms agent, a step that
  blocks, an agent); once every run journaled step 1 it is killed with `kill -9`; a recovery
  process is started: seconds from its launch until all {s["w7_runs"]:,} runs completed
  (recovery timeout {settings["w7_recovery_timeout_s"]:g} s).

**Trials.** {settings["trials"]} per workload and framework, in a time budget of
{budget} for the runs: each workload gets a share of what is left; after its first
round, if the remaining rounds do not fit its share, a framework whose trial took more than
{settings["slow_trial_s"]:g} s gets no more trials (marked `*` in the `n` column, with the
reason in its notes), and if that is not enough every framework gets the rounds that fit. A
framework reporting "unsupported" runs once.
"""


def markdown(raw: dict[str, Any], chart: bool, png: Path) -> str:
    summary, names = summarize(raw), titles(raw["settings"])
    before, after = raw["machine_before"], raw["machine_after"]
    git = before.get("git", {})
    dirty = " (with uncommitted changes in `src/`)" if git.get("src_dirty") else ""
    runs_s = sum(v for k, v in raw["steps_s"].items() if k.startswith("run "))
    smoke = raw["smoke"]
    lines = [
        "<!-- generated by bench/compare.py: do not edit by hand, run it again -->",
        "",
        "# Benchmarks: Podium and its peers",
        "",
        f"Generated by `bench/compare.py` on {before['utc']}, commit "
        f"`{git.get('commit') or 'unknown'}`{dirty}; the runs took {runs_s / 60:.1f} min, the "
        f"whole command {raw.get('total_s', runs_s) / 60:.1f} min."
        + (" **Smoke run: tiny sizes, one trial — not a measurement.**" if smoke else ""),
        "",
        "```sh",
        "python3 bench/compare.py                      # the full suite: rewrites this page",
        "python3 bench/compare.py --smoke              # tiny sizes, 1 trial, to a temp dir",
        "python3 bench/compare.py --report-from latest # this page from the last full results",
        "```",
        "",
        "## Summary",
        "",
        "Podium's medians against its targets (issue 7) and the best peer's median in the same "
        "run; the sections below have every framework, the spread, the notes and the reasons "
        "for anything unsupported.",
        "",
        *overview(summary, names),
        "",
    ]
    if chart:
        lines += [f"![Median per framework and workload]({png.name})", ""]
    lines += [
        "## Machine and run",
        "",
        f"- CPU: {before.get('cpu', '?')}, {before.get('cpus', '?')} cores, "
        f"{before.get('memory_gb', '?')} GB of memory; {before['platform']}",
        f"- Python {before['python']} (the harness); load average (1, 5, 15 min) "
        f"{before['loadavg']} before the runs, {after['loadavg']} after (the machine is shared: "
        "other jobs, such as a CI run, may have overlapped; the load at each workload's start "
        "is in [Where the time went](#where-the-time-went))",
        f"- The runs took {runs_s / 60:.1f} min; the whole command "
        f"{raw.get('total_s', runs_s) / 60:.1f} min (venv check and report included, building "
        "the venvs the first time not)",
        "",
        "## Versions measured",
        "",
        *_versions(summary, raw["pythons"]),
        "",
        "## How",
        "",
        how(raw["settings"]),
    ]
    if smoke:
        lines += ["Smoke sizes (`--smoke`): see `_SIZES` in `bench/peers/common.py`.", ""]
    for workload in raw["workloads"]:
        lines += [f"## {workload}: {names[workload]}", "", table(workload, summary[workload]), ""]
        if workload == "W6" and not smoke:
            lines += [*_direct_w6_lines(summary), ""]
        lines += [*notes(workload, summary[workload]), ""]
    lines += ["## Where the time went", "", "Seconds per workload and framework, all trials "
              "(process start-up included).", "", *time_table(raw, summary), ""]  # fmt: skip
    return "\n".join(lines)


def make_chart(raw: dict[str, Any], png: Path) -> bool:
    python = venvs.chart_python()
    if python is None:
        venvs.log(f"no matplotlib (no {venvs.VENV.name}/{venvs.CHART_ENV} venv, none here)")
        return False
    summary, names = summarize(raw), titles(raw["settings"])
    panels = []
    for workload in raw["workloads"]:
        for metric in METRICS[workload]:
            if not metric.better or not metric.chart:
                continue
            panels.append({
                "workload": workload, "title": names[workload], "key": metric.key,
                "label": metric.label, "better": metric.better, "target": metric.target,
                "rows": {f: {"status": r["status"], **r["metrics"].get(metric.key, {})}
                         for f, r in summary[workload].items()},
            })  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"panels": panels, "smoke": raw["smoke"]}, fh)
    try:
        done = subprocess.run([python, str(PEERS / "chart.py"), fh.name, str(png)],
                              capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
    finally:
        os.unlink(fh.name)
    if done.returncode != 0:
        venvs.log(f"chart failed: {venvs.tail(done.stderr)}")
        return False
    return True


def write(raw: dict[str, Any], md_path: Path, png_path: Path, no_chart: bool = False) -> None:
    """The chart and the page from ``raw``."""
    chart = False if no_chart else make_chart(raw, png_path)
    md_path.write_text(markdown(raw, chart, png_path), encoding="utf-8")
    venvs.log(f"report: {md_path}" + (f", chart: {png_path}" if chart else " (no chart)"))
