"""Podium against its peers, side by side, in one run (issue 7). Standard library only.

    python3 bench/compare.py                       # full suite, 3 trials, writes docs/
    python3 bench/compare.py --smoke               # tiny sizes, 1 trial, output to a temp dir
    python3 bench/compare.py --only W1,W3 --frameworks podium,langgraph --trials 5
    python3 bench/compare.py --only W6 --frameworks podium --w6-runs 100000 --trials 1
    python3 bench/compare.py --report-from latest  # rewrite docs/ from the last full results

What it does:

1. Finds the implementations ``bench/peers/<framework>_impl.py``. Podium's runs with the
   checkout's own interpreter, ``.venv/bin/python`` (``--podium-python`` to override; the
   interpreter running this script is used only if that venv is missing), so the measured
   Podium is always the working tree's editable install whatever ``python3`` launched this.
2. Builds ``bench/.peers-venv/<framework>`` for the other frameworks (``bench/peers/venvs.py``).
3. Runs every workload x framework x trial, each trial a fresh process with a timeout; the
   trials of one workload are interleaved round-robin across the frameworks (trial 1 of every
   framework, then trial 2...) so load drift hits all alike. The timed loops are time-boxed
   by the same rule for every framework (``bench/peers/common.py``), so the full suite fits
   in 15 minutes. It has a time budget (``--budget``, default 840 s): each workload gets a
   share of what is left; after its first round, if the other rounds do not fit, frameworks
   whose trial took over 30 s stop there, then (if still needed) everyone runs the rounds
   that fit. Trials are cut, never sizes, and the page says which and why.
4. Writes the raw results to ``bench/results/compare-<UTC>.json`` (every run but ``--smoke``)
   and generates ``docs/benchmarks.md`` and ``docs/benchmarks.png`` (``bench/peers/report.py``
   and ``chart.py``, the chart in the chart venv). ``--smoke``, ``--only`` and ``--frameworks``
   write the page to a temporary directory instead, unless ``--write-docs``.

The workloads, sizes, time-boxes and the RESULT protocol are in ``bench/peers/common.py`` and
``bench/README.md`` ("Peers (issue 7)").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PEERS = BENCH / "peers"
RESULTS = BENCH / "results"
DOCS = REPO / "docs"
sys.path.insert(0, str(PEERS))

import common  # noqa: E402
import report  # noqa: E402
import venvs  # noqa: E402
from venvs import log, tail  # noqa: E402

WORKLOADS = common.WORKLOADS
ORDER = ("podium", "langgraph", "openai_agents", "pydantic_ai", "crewai", "autogen")
# a workload's share of the time budget (relative weights; what is left is re-shared): what 3
# rounds took on the 2-core VM (W1 ~50 s ... W6 ~200 s, W7 ~180 s with Pydantic AI's ~50 s trials)
WEIGHTS = {"W1": 1.0, "W2": 1.2, "W3": 0.9, "W4": 2.6, "W5": 1.4, "W6": 4.0, "W7": 3.5}
TIMEOUT_S = {"full": 300.0, "W6": 1200.0, "smoke": 120.0}
BUDGET_S = 840.0
SLOW_TRIAL_S = 30.0  # a trial longer than this is the first to be cut when rounds do not fit

# Environment of every impl process: offline, no telemetry, no tracing export.
IMPL_ENV = {
    "OPENAI_API_KEY": "sk-fake",
    "ANTHROPIC_API_KEY": "sk-ant-fake",
    "PODIUM_ALLOW_MODEL_REQUESTS": "0",
    "OTEL_SDK_DISABLED": "true",
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "OPENAI_AGENTS_DISABLE_TRACING": "1",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGSMITH_TRACING": "false",
    "ANONYMIZED_TELEMETRY": "false",
    "AUTOGEN_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "PYTHONUNBUFFERED": "1",
}


def discover() -> dict[str, Path]:
    """``{framework: impl path}``, Podium first, then the issue's order, then the rest."""
    found = {p.name[: -len("_impl.py")]: p for p in sorted(PEERS.glob("*_impl.py"))}
    ranked = [f for f in ORDER if f in found] + sorted(f for f in found if f not in ORDER)
    return {f: found[f] for f in ranked}


# -- running one trial ------------------------------------------------------------------------


@dataclass
class Trial:
    framework: str
    workload: str
    trial: int
    status: str  # ok, unsupported, failed, timeout, not_installable
    seconds: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    notes: str = ""
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _parse_result(stdout: str) -> tuple[dict[str, Any] | None, str]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].startswith("RESULT "):
            warning = "" if index == len(lines) - 1 else "RESULT was not the last stdout line"
            try:
                return json.loads(lines[index][len("RESULT ") :]), warning
            except json.JSONDecodeError as error:
                return None, f"unparsable RESULT line: {error}"
    return None, "no RESULT line"


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def run_trial(plan: Plan, framework: str, workload: str, trial: int) -> Trial:
    python, impl = plan.pythons[framework], plan.frameworks[framework]
    smoke, tmp = plan.smoke, plan.tmp
    workdir = Path(tempfile.mkdtemp(prefix=f"{framework}-{workload}-", dir=tmp))
    cmd = [python, str(impl), "--workload", workload, "--workdir", str(workdir)]
    if smoke:
        cmd.append("--smoke")
    timeout = TIMEOUT_S["smoke"] if smoke else TIMEOUT_S.get(workload, TIMEOUT_S["full"])
    env = {**os.environ, **IMPL_ENV, **plan.env}
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # a timeout kills the impl's own children too (W7)
    )  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        shutil.rmtree(workdir, ignore_errors=True)
        return Trial(framework, workload, trial, "timeout", time.perf_counter() - started,
                     reason=f"timed out after {timeout:.0f} s")  # fmt: skip
    seconds = time.perf_counter() - started
    shutil.rmtree(workdir, ignore_errors=True)
    return _trial_of(framework, workload, trial, seconds, proc.returncode, stdout, stderr)


def _trial_of(
    framework: str, workload: str, trial: int, seconds: float, rc: int, stdout: str, stderr: str
) -> Trial:
    result, warning = _parse_result(stdout)
    if rc != 0 or result is None:
        why = f"exit code {rc}" + (f", {warning}" if warning else "")
        return Trial(framework, workload, trial, "failed", seconds,
                     reason=f"{why}: {tail(stderr or stdout, 8)}")  # fmt: skip
    out = Trial(framework, workload, trial, "ok", seconds, version=str(result.get("version", "")))
    if warning:
        out.notes = warning + "; "
    if not result.get("ok", False):
        out.status = "unsupported"
        out.reason = str(result.get("unsupported", "unsupported (no reason given)"))
        return out
    metrics = result.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        out.status, out.reason = "failed", "RESULT without metrics"
        return out
    out.metrics = metrics
    out.notes += str(result.get("notes", ""))
    return out


# -- the plan ---------------------------------------------------------------------------------


@dataclass
class Plan:
    workloads: list[str]
    frameworks: dict[str, Path]
    pythons: dict[str, str]
    trials: int
    smoke: bool
    budget_s: float | None
    tmp: Path
    skip: dict[str, str] = field(default_factory=dict)  # framework -> why (not installable)
    env: dict[str, str] = field(default_factory=dict)  # extra environment of the impls
    cuts: dict[str, dict[str, str]] = field(default_factory=dict)  # workload -> fw -> why
    load_at_start: dict[str, list[float]] = field(default_factory=dict)


def run_plan(plan: Plan) -> tuple[list[Trial], dict[str, float]]:
    """Every workload in turn; inside one, trials round-robin across the frameworks."""
    trials: list[Trial] = []
    timings: dict[str, float] = {}
    started = time.perf_counter()
    for index, workload in enumerate(plan.workloads):
        t0 = time.perf_counter()
        plan.load_at_start[workload] = [round(x, 2) for x in os.getloadavg()]
        share = _share(plan, index, time.perf_counter() - started)
        trials += run_workload(plan, workload, share)
        timings[workload] = time.perf_counter() - t0
        shown = f"{share:.0f} s" if share is not None else "none"
        log(f"  {workload} took {timings[workload]:.1f} s (its budget share: {shown})")
    return trials, timings


def _share(plan: Plan, index: int, elapsed: float) -> float | None:
    if plan.budget_s is None:
        return None
    left = plan.workloads[index:]
    weight = sum(WEIGHTS[w] for w in left)
    return max(0.0, plan.budget_s - elapsed) * WEIGHTS[plan.workloads[index]] / weight


def run_workload(plan: Plan, workload: str, share: float | None) -> list[Trial]:
    out: list[Trial] = []
    active = list(plan.frameworks)
    for framework in list(active):
        if framework in plan.skip:
            out.append(Trial(framework, workload, 1, "not_installable",
                             reason=f"not installable: {plan.skip[framework]}"))  # fmt: skip
            active.remove(framework)
    rounds = dict.fromkeys(active, plan.trials)
    first: dict[str, float] = {}
    t0 = time.perf_counter()
    for trial in range(1, plan.trials + 1):
        todo = [f for f in active if rounds[f] >= trial]
        if not todo:
            break
        shift = (trial - 1) % len(todo)
        for framework in todo[shift:] + todo[:shift]:  # rotate who goes first
            result = run_trial(plan, framework, workload, trial)
            _log_trial(result)
            out.append(result)
            first.setdefault(framework, result.seconds)
            if result.status in ("unsupported", "timeout"):
                active.remove(framework)  # no point in repeating it
        if trial == 1 and share is not None:
            spent = time.perf_counter() - t0
            cut = fit_rounds({f: first[f] for f in active}, plan.trials, share - spent)
            for framework, (n, why) in cut.items():
                rounds[framework] = n
                plan.cuts.setdefault(workload, {})[framework] = why
                log(f"  {workload} {framework}: {n} trial(s): {why}")
    return out


def fit_rounds(first: dict[str, float], wanted: int, left: float) -> dict[str, tuple[int, str]]:
    """Which frameworks run fewer than ``wanted`` trials, given the seconds each one's first
    trial took and the seconds ``left`` of the workload's share: ``{framework: (trials, why)}``.
    First the frameworks whose trial took over SLOW_TRIAL_S stop at one; if the others still do
    not fit, everyone runs the rounds that fit (at least one)."""
    if wanted <= 1 or sum(first.values()) * (wanted - 1) <= left:
        return {}
    cuts: dict[str, tuple[int, str]] = {}
    slow = {f: s for f, s in first.items() if s > SLOW_TRIAL_S}
    for framework, seconds in slow.items():
        why = (f"a trial took {seconds:.0f} s (over {SLOW_TRIAL_S:.0f} s) and {wanted} would "
               "not fit the workload's share of the budget")  # fmt: skip
        cuts[framework] = (1, why)
    rest = {f: s for f, s in first.items() if f not in slow}
    per_round = sum(rest.values())
    if per_round <= 0 or per_round * (wanted - 1) <= left:
        return cuts
    fit = 1 + max(0, int(left / per_round))
    if fit < wanted:
        why = (f"a round took {per_round:.0f} s and the budget left {max(0.0, left):.0f} s "
               "for more rounds")  # fmt: skip
        cuts.update({f: (fit, why) for f in rest})
    return cuts


def _log_trial(t: Trial) -> None:
    if t.status == "ok":
        shown = ", ".join(f"{k}={_num(v)}" for k, v in t.metrics.items())
        log(f"    {t.workload} #{t.trial} {t.framework:<14} {t.seconds:6.1f} s  {shown}")
    else:
        log(f"    {t.workload} #{t.trial} {t.framework:<14} {t.seconds:6.1f} s  "
            f"{t.status.upper()}: {t.reason[:300]}")  # fmt: skip


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


# -- the machine ------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
        model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
        info["cpu"] = model.group(1).strip() if model else platform.processor()
        meminfo = Path("/proc/meminfo").read_text(encoding="ascii", errors="replace")
        total = re.search(r"^MemTotal:\s*(\d+)", meminfo, re.M)
        info["memory_gb"] = round(int(total.group(1)) / 2**20, 1) if total else None
    except OSError:
        info["cpu"] = platform.processor()
    info["git"] = _git()
    return info


def _git() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=False, timeout=10)  # fmt: skip
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        return {"commit": git("rev-parse", "--short", "HEAD"),
                "src_dirty": bool(git("status", "--porcelain", "--", "src"))}  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {"commit": "", "src_dirty": None}


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, 1 trial, temp output")
    p.add_argument("--trials", type=int, help="trials per workload and framework (default 3)")
    p.add_argument("--only", help="workloads, e.g. W1,W3")
    p.add_argument("--frameworks", help="e.g. podium,langgraph (default: every *_impl.py)")
    p.add_argument(
        "--write-docs", action="store_true", help="with --smoke/--only/--frameworks: write docs/"
    )
    p.add_argument(
        "--budget", type=float, help=f"seconds for the runs (default {BUDGET_S:.0f}; inf: no cut)"
    )
    p.add_argument("--w6-runs", type=int, help="W6 runs per trial (default 10,000; no cap then)")
    p.add_argument("--w6-cap", type=float, help="W6 creation cap in seconds (0: none)")
    p.add_argument("--report-from", metavar="JSON",
                   help="no runs: rewrite docs/ from a results JSON ('latest': the newest full "
                   "run in bench/results)")  # fmt: skip
    p.add_argument("--podium-python", help="interpreter for Podium (default .venv/bin/python)")
    p.add_argument("--no-chart", action="store_true")
    p.add_argument("--reinstall", action="store_true", help="rebuild every peers venv")
    return p.parse_args(argv)


def _select(args: argparse.Namespace) -> tuple[list[str], dict[str, Path]]:
    workloads = [w.strip().upper() for w in args.only.split(",")] if args.only else list(WORKLOADS)
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        raise SystemExit(f"unknown workload(s): {', '.join(unknown)}")
    found = discover()
    if args.frameworks:
        names = [f.strip() for f in args.frameworks.split(",") if f.strip()]
        missing = [f for f in names if f not in found]
        if missing:
            raise SystemExit(f"no bench/peers/<name>_impl.py for: {', '.join(missing)}")
        found = {f: p for f, p in found.items() if f in names}
    return workloads, found


def podium_python(override: str | None) -> str:
    if override:
        return override
    own = REPO / ".venv" / "bin" / "python"
    return str(own) if own.exists() else sys.executable


def impl_env(args: argparse.Namespace) -> dict[str, str]:
    env = {}
    if args.w6_runs:
        env[common.W6_RUNS_ENV] = str(args.w6_runs)
    if args.w6_cap is not None:
        env[common.W6_CAP_ENV] = str(args.w6_cap)
    return env


def settings(args: argparse.Namespace, trials: int, budget: float | None) -> dict[str, Any]:
    """What the page says about sizes, time-boxes and trials (as this run used them)."""
    saved = {k: os.environ.get(k) for k in (common.W6_RUNS_ENV, common.W6_CAP_ENV)}
    os.environ.update(impl_env(args))
    try:
        sizes = common.sizes(args.smoke)
        _, cap = common.w6_plan(args.smoke)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return {
        "sizes": sizes, "time_box_s": common.TIME_BOX_S, "min_runs": common.MIN_RUNS,
        "w4_probe": common.W4_PROBE, "w4_max_s": common.W4_MAX_S,
        "w4_min_runs": common.W4_MIN_RUNS, "w6_cap_s": None if cap == float("inf") else cap,
        "w7_recovery_timeout_s": common.W7_RECOVERY_TIMEOUT_S, "trials": trials,
        "budget": "none" if budget is None else f"{budget:.0f}", "slow_trial_s": SLOW_TRIAL_S,
    }  # fmt: skip


def report_from(which: str) -> int:
    if which == "latest":
        full = []
        for path in sorted(RESULTS.glob("compare-*.json"), reverse=True):
            raw = json.loads(path.read_text(encoding="utf-8"))
            if not raw.get("smoke") and not raw.get("partial") and "settings" in raw:
                full.append(path)
        if not full:
            raise SystemExit(f"no full run in {RESULTS}")
        path = full[0]
    else:
        path = Path(which)
    raw = json.loads(path.read_text(encoding="utf-8"))
    log(f"rewriting the report from {path}")
    report.write(raw, DOCS / "benchmarks.md", DOCS / "benchmarks.png")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_from:
        return report_from(args.report_from)
    t_start = time.perf_counter()
    workloads, frameworks = _select(args)
    peers = [f for f in frameworks if f != "podium"]
    log(f"frameworks: {', '.join(frameworks)}; workloads: {', '.join(workloads)}")
    steps: dict[str, float] = {}

    t = time.perf_counter()
    pins = {f: venvs.pins_of(frameworks[f]) for f in peers}
    chart = not args.no_chart and (bool(peers) or (venvs.VENV / venvs.CHART_ENV).exists())
    every = {f: venvs.pins_of(p) for f, p in discover().items() if f != "podium"}
    failed = venvs.ensure_envs(pins, chart, args.reinstall, every) if peers or chart else {}
    steps["peers venvs"] = time.perf_counter() - t

    pythons = {f: str(venvs.venv_python(f)) for f in peers}
    if "podium" in frameworks:
        pythons["podium"] = podium_python(args.podium_python)
    pythons = {f: pythons[f] for f in frameworks}
    trials = args.trials or (1 if args.smoke else 3)
    budget = None if args.smoke else (args.budget or BUDGET_S)
    if budget == float("inf"):
        budget = None
    with tempfile.TemporaryDirectory(prefix="podium-compare-") as tmp:
        plan = Plan(workloads, frameworks, pythons, trials, args.smoke, budget, Path(tmp),
                    skip={f: why for f, why in failed.items() if f in frameworks},
                    env=impl_env(args))  # fmt: skip
        before = machine()
        results, per_workload = run_plan(plan)
    steps.update({f"run {w}": s for w, s in per_workload.items()})
    raw = {
        "smoke": args.smoke, "partial": bool(args.only or args.frameworks),
        "workloads": workloads, "frameworks": list(frameworks),
        "settings": settings(args, trials, budget), "machine_before": before,
        "machine_after": machine(), "pythons": pythons, "steps_s": steps,
        "cuts": plan.cuts, "load_at_start": plan.load_at_start,
        "trials": [r.as_dict() for r in results],
    }  # fmt: skip
    write_outputs(args, raw, t_start)
    bad = [r for r in results if r.status in ("failed", "timeout")]
    return 1 if bad else 0


def write_outputs(args: argparse.Namespace, raw: dict[str, Any], t_start: float) -> None:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    to_docs = args.write_docs or not (args.smoke or raw["partial"])
    out = DOCS if to_docs else Path(tempfile.mkdtemp(prefix="podium-compare-"))
    raw_dir = out if args.smoke and not args.write_docs else RESULTS
    raw_dir.mkdir(parents=True, exist_ok=True)
    raw_path = raw_dir / f"compare-{stamp}.json"
    t = time.perf_counter()
    raw["total_s"] = t - t_start  # the report's own few seconds come on top
    raw_path.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    log(f"\nraw results: {raw_path}")
    report.write(raw, out / "benchmarks.md", out / "benchmarks.png", args.no_chart)
    raw["steps_s"]["report"] = time.perf_counter() - t
    raw["total_s"] = time.perf_counter() - t_start
    raw_path.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    log("")
    summary, names = report.summarize(raw), report.titles(raw["settings"])
    for workload in raw["workloads"]:
        log(f"{workload}: {names[workload]}")
        log(report.table(workload, summary[workload]))
        log("")
    log(report.timing_summary(raw))
    log("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in raw["steps_s"].items()))
    log(f"load average before {raw['machine_before']['loadavg']}, after "
        f"{raw['machine_after']['loadavg']}")  # fmt: skip
    log(f"total: {raw['total_s']:.1f} s ({raw['total_s'] / 60:.1f} min)")


if __name__ == "__main__":
    sys.exit(main())
