"""Podium against its peers, side by side, in one run (issue 7). Standard library only.

    python3 bench/compare.py                       # full suite, 3 trials, writes docs/
    python3 bench/compare.py --smoke               # tiny sizes, 1 trial, output to a temp dir
    python3 bench/compare.py --only W1,W3 --frameworks podium,langgraph --trials 5

What it does:

1. Finds the implementations ``bench/peers/<framework>_impl.py``. Podium's runs with the
   checkout's own interpreter, ``.venv/bin/python`` (``--podium-python`` to override; the
   interpreter running this script is used only if that venv is missing), so the measured
   Podium is always the working tree's editable install whatever ``python3`` launched this.
2. Builds ``bench/.peers-venv`` (git-ignored) for the other frameworks: one venv per framework,
   ``bench/.peers-venv/<framework>``, with the exact pins of its impl's ``# requires:`` lines
   (one shared venv is impossible: the frameworks' pins conflict), and ``.../chart`` with
   matplotlib. Each records its pins in a stamp file and is rebuilt from scratch when they
   change. A framework whose pins do not install is reported as "not installable" with pip's
   error and the others go on.
3. Runs every workload x framework x trial, each trial a fresh process with a timeout; the
   trials of one workload are interleaved round-robin across the frameworks (trial 1 of every
   framework, then trial 2...) so load drift hits all alike. The full suite has a time budget
   (``--budget``, default 840 s): each workload gets a share of what is left; after its first
   round, a workload runs only as many further rounds as fit in its share (trials are cut,
   never sizes), and says so.
4. Writes the raw results to ``bench/results/compare-<UTC>.json`` and generates
   ``docs/benchmarks.md`` and ``docs/benchmarks.png`` (``bench/peers/chart.py``, run in the
   chart venv). ``--smoke``, ``--only`` and ``--frameworks`` write all of it to a temporary
   directory instead, unless ``--write-docs``.

The workloads, sizes and the RESULT protocol are in ``bench/peers/common.py`` and
``bench/README.md`` ("Peers (issue 7)").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
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
VENV = BENCH / ".peers-venv"
REQUIREMENTS = PEERS / "requirements.txt"
RESULTS = BENCH / "results"
DOCS = REPO / "docs"
EXTRA_PACKAGES = ("matplotlib==3.11.2",)  # for chart.py, in its own venv

WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6", "W7")
ORDER = ("podium", "langgraph", "openai_agents", "pydantic_ai", "crewai", "autogen")
# a workload's share of the time budget (relative weights; what is left is re-shared)
WEIGHTS = {"W1": 1.0, "W2": 1.0, "W3": 1.0, "W4": 1.5, "W5": 1.5, "W6": 5.0, "W7": 2.0}
TIMEOUT_S = {"full": 300.0, "W6": 1200.0, "smoke": 120.0}

TITLES = {
    "W1": "Overhead per agent step (chain of 10 agents, 0 ms model)",
    "W2": "100 agents in parallel (50 ms model each)",
    "W3": "One agent calling a trivial tool 5 times (0 ms model)",
    "W4": "1,000 concurrent runs of a 3-agent chain (50 ms model)",
    "W5": "W1 with the durable SQLite store",
    "W6": "100,000 runs suspended on a human approval",
    "W7": "kill -9 with 1,000 runs in flight, then restart",
}
SMOKE_TITLES = {
    "W4": "50 concurrent runs of a 3-agent chain (50 ms model)",
    "W6": "1,000 runs suspended on a human approval",
    "W7": "kill -9 with 50 runs in flight, then restart",
}


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    better: str  # "lower", "higher" or "" (information only)
    target: float | None = None
    digits: int = 1
    chart: bool = True


METRICS: dict[str, tuple[Metric, ...]] = {
    "W1": (Metric("us_per_step", "µs per step", "lower", 40.0),),
    "W2": (
        Metric("x_ideal", "× ideal (50 ms)", "lower", 1.05, 2),
        Metric("wall_ms", "ms", "lower", chart=False),
    ),
    "W3": (Metric("us_per_tool_call", "µs per tool call", "lower", 60.0),),
    "W4": (
        Metric("runs_per_s", "runs/s", "higher", 4000.0, 0),
        Metric("kib_per_run", "KiB/run (peak RSS)", "lower", 8.0),
    ),
    "W5": (
        Metric("us_per_step", "µs per step", "lower", 400.0),
        Metric("bytes_per_run", "bytes/run on disk", "lower", 5000.0, 0),
    ),
    "W6": (
        Metric("peak_rss_mb", "peak RSS MB", "lower", 300.0),
        Metric("create_s", "s to create", "lower"),
        Metric("runs", "runs", "", None, 0),
    ),
    "W7": (
        Metric("resume_s", "s until all resumed", "lower", 10.0, 2),
        Metric("runs", "runs", "", None, 0),
    ),
}

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


def log(message: str) -> None:
    print(message, flush=True)


# -- discovery and the peers venv -------------------------------------------------------------


def discover() -> dict[str, Path]:
    """``{framework: impl path}``, Podium first, then the issue's order, then the rest."""
    found = {p.name[: -len("_impl.py")]: p for p in sorted(PEERS.glob("*_impl.py"))}
    ranked = [f for f in ORDER if f in found] + sorted(f for f in found if f not in ORDER)
    return {f: found[f] for f in ranked}


REQUIRES = re.compile(r"^#\s*requires:\s*(.*)$")


def pins_of(path: Path) -> list[str]:
    """The packages of the ``# requires:`` lines (several allowed) in an impl's first 30 lines."""
    pins: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for _, line in zip(range(30), fh, strict=False):
            match = REQUIRES.match(line.strip())
            if match:
                pins += match.group(1).split()
    return pins


CHART_ENV = "chart"  # the venv under VENV that holds matplotlib


def venv_python(name: str) -> Path:
    return VENV / name / "bin" / "python"


def _pip(python: Path, args: list[str], timeout: float = 1800) -> tuple[bool, str]:
    cmd = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
           "--no-input", "--prefer-binary", *args]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return False, f"pip timed out after {timeout:.0f} s"
    return done.returncode == 0, (done.stderr or done.stdout)


def _tail(text: str, lines: int = 6) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:])[-600:]


def _write_requirements(pins: dict[str, list[str]]) -> None:
    lines = [
        "# generated by bench/compare.py from the `# requires:` lines of bench/peers/*_impl.py",
        "# a listing, not one installable set: compare.py builds one venv per framework",
        "# (bench/.peers-venv/<framework>) because their pins conflict",
    ]
    for framework, packages in pins.items():
        lines.append(f"# {framework}")
        lines.extend(packages)
    lines.extend([f"# {CHART_ENV} (bench/peers/chart.py)", *EXTRA_PACKAGES])
    text = "\n".join(lines) + "\n"
    if not REQUIREMENTS.exists() or REQUIREMENTS.read_text(encoding="utf-8") != text:
        REQUIREMENTS.write_text(text, encoding="utf-8")


def _base_python() -> str:
    return shutil.which("python3") or sys.executable


def ensure_envs(
    pins: dict[str, list[str]], chart: bool, reinstall: bool, every: dict[str, list[str]]
) -> dict[str, str]:
    """One venv per framework under ``bench/.peers-venv`` (their pins conflict: CrewAI and
    LangGraph's SQLite checkpointer want different aiosqlite, and shared packages such as
    protobuf break when installed over each other), plus one with matplotlib for the chart.
    Returns ``{framework: pip error}`` for the ones that did not install. ``every``: the pins
    of all the impls, selected or not, for ``bench/peers/requirements.txt``."""
    _write_requirements(every)
    if (VENV / "bin").exists():  # an old single venv: replace it with the per-framework layout
        shutil.rmtree(VENV)
    wanted = dict(pins)
    if chart:
        wanted[CHART_ENV] = list(EXTRA_PACKAGES)
    failed = {}
    for name, packages in wanted.items():
        error = ensure_env(name, packages, reinstall)
        if error is not None:
            failed[name] = error
    return failed


def ensure_env(name: str, packages: list[str], reinstall: bool) -> str | None:
    """Create or reuse ``bench/.peers-venv/<name>``; rebuilt from scratch when the pins change.
    A failed install is remembered in the stamp (``--reinstall`` tries again)."""
    env = VENV / name
    stamp = env / "podium-peers-stamp.json"
    wanted = {"packages": packages, "python": _base_python()}
    digest = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()
    if not reinstall and stamp.exists() and venv_python(name).exists():
        old = json.loads(stamp.read_text(encoding="utf-8"))
        if old.get("digest") == digest:
            error: str | None = old.get("error")
            log(f"  {name}: venv up to date" + (f" (NOT INSTALLABLE: {error})" if error else ""))
            return error
        log(f"  {name}: the pins changed, rebuilding its venv")
    if env.exists():
        shutil.rmtree(env)
    started = time.perf_counter()
    subprocess.run([_base_python(), "-m", "venv", str(env)], check=True)
    ok, out = _pip(venv_python(name), packages) if packages else (True, "")
    error = None if ok else _tail(out)
    seconds = time.perf_counter() - started
    log(f"  {name}: pip install {' '.join(packages)}: "
        + (f"ok in {seconds:.0f} s" if ok else f"NOT INSTALLABLE: {error}"))  # fmt: skip
    stamp.write_text(json.dumps({"digest": digest, "error": error, **wanted}, indent=2),
                     encoding="utf-8")  # fmt: skip
    return error


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


def run_trial(
    python: str, impl: Path, framework: str, workload: str, trial: int, smoke: bool, tmp: Path
) -> Trial:
    workdir = Path(tempfile.mkdtemp(prefix=f"{framework}-{workload}-", dir=tmp))
    cmd = [python, str(impl), "--workload", workload, "--workdir", str(workdir)]
    if smoke:
        cmd.append("--smoke")
    timeout = TIMEOUT_S["smoke"] if smoke else TIMEOUT_S.get(workload, TIMEOUT_S["full"])
    env = {**os.environ, **IMPL_ENV}
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
                     reason=f"{why}: {_tail(stderr or stdout, 8)}")  # fmt: skip
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


def run_plan(plan: Plan) -> tuple[list[Trial], dict[str, float]]:
    """Every workload in turn; inside one, trials round-robin across the frameworks."""
    trials: list[Trial] = []
    timings: dict[str, float] = {}
    started = time.perf_counter()
    for index, workload in enumerate(plan.workloads):
        t0 = time.perf_counter()
        share = _share(plan, index, time.perf_counter() - started)
        trials += run_workload(plan, workload, share)
        timings[workload] = time.perf_counter() - t0
        log(f"  {workload} took {timings[workload]:.1f} s")
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
    rounds = plan.trials
    t0 = time.perf_counter()
    for trial in range(1, plan.trials + 1):
        if trial > rounds or not active:
            break
        first = (trial - 1) % len(active)
        order = active[first:] + active[:first]  # rotate who goes first
        for framework in order:
            result = run_trial(plan.pythons[framework], plan.frameworks[framework], framework,
                               workload, trial, plan.smoke, plan.tmp)  # fmt: skip
            _log_trial(result)
            out.append(result)
            if result.status in ("unsupported", "timeout"):
                active.remove(framework)  # no point in repeating it
        if trial == 1 and share is not None:
            rounds = _rounds_that_fit(workload, plan.trials, time.perf_counter() - t0, share)
    return out


def _rounds_that_fit(workload: str, wanted: int, first: float, share: float) -> int:
    if first <= 0 or share == float("inf"):
        return wanted
    fit = max(1, int(share / first))
    if fit < wanted:
        log(f"  {workload}: a round takes {first:.0f} s, its budget share is {share:.0f} s: "
            f"{fit} trial(s) instead of {wanted}")  # fmt: skip
    return min(wanted, fit)


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


# -- summary ----------------------------------------------------------------------------------


def summarize(trials: list[Trial], workloads: list[str], frameworks: list[str]) -> dict[str, Any]:
    """Per workload and framework: status, version, notes, and per metric median/min/max/n."""
    out: dict[str, Any] = {}
    for workload in workloads:
        rows: dict[str, Any] = {}
        for framework in frameworks:
            mine = [t for t in trials if t.workload == workload and t.framework == framework]
            if mine:
                rows[framework] = _row(mine)
        out[workload] = rows
    return out


def _row(mine: list[Trial]) -> dict[str, Any]:
    ok = [t for t in mine if t.status == "ok"]
    row: dict[str, Any] = {
        "version": next((t.version for t in mine if t.version), ""),
        "trials": len(ok),
        "failures": [t.reason for t in mine if t.status in ("failed", "timeout")],
        "notes": next((t.notes for t in ok if t.notes), ""),
        "metrics": {},
    }
    if ok:
        row["status"] = "ok"
    else:
        row["status"] = mine[0].status
        row["reason"] = mine[0].reason
    keys = {k for t in ok for k, v in t.metrics.items() if isinstance(v, int | float)}
    for key in sorted(keys):
        values = [float(t.metrics[key]) for t in ok if isinstance(t.metrics.get(key), int | float)]
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


# -- outputs ----------------------------------------------------------------------------------


def write_outputs(
    args: argparse.Namespace,
    before: dict[str, Any],
    results: list[Trial],
    workloads: list[str],
    frameworks: list[str],
    pythons: dict[str, str],
    steps: dict[str, float],
) -> None:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    partial = bool(args.only or args.frameworks)  # would overwrite the page with a part of it
    to_docs = args.write_docs or not (args.smoke or partial)
    if to_docs:
        RESULTS.mkdir(parents=True, exist_ok=True)
        raw_path, md_path, png_path = (
            RESULTS / f"compare-{stamp}.json",
            DOCS / "benchmarks.md",
            (DOCS / "benchmarks.png"),
        )
    else:
        out = Path(tempfile.mkdtemp(prefix="podium-compare-smoke-"))
        raw_path, md_path, png_path = (
            out / f"compare-{stamp}.json",
            out / "benchmarks.md",
            out / "benchmarks.png",
        )
    after = machine()
    summary = summarize(results, workloads, frameworks)
    raw = {
        "smoke": args.smoke, "machine_before": before, "loadavg_after": after["loadavg"],
        "pythons": pythons, "steps_s": steps, "summary": summary,
        "trials": [r.as_dict() for r in results],
    }  # fmt: skip
    raw_path.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    log(f"\nraw results: {raw_path}")
    chart_ok = False if args.no_chart else make_chart(summary, workloads, args.smoke, png_path)
    runs_s = sum(v for k, v in steps.items() if k.startswith("run "))
    text = markdown(summary, workloads, before, after, pythons, args.smoke, chart_ok, png_path)
    text = text.replace("{RUNS_TIME}", f"{runs_s / 60:.1f} min")
    md_path.write_text(text, encoding="utf-8")
    log(f"report: {md_path}" + (f", chart: {png_path}" if chart_ok else " (no chart)"))
    log("")
    titles = {**TITLES, **SMOKE_TITLES} if args.smoke else TITLES
    for workload in workloads:
        log(f"{workload}: {titles[workload]}")
        log(_table(workload, summary[workload]))
        log("")


def _chart_python() -> str | None:
    """An interpreter with matplotlib: the chart venv's, else this one's."""
    for python in (str(venv_python(CHART_ENV)), sys.executable):
        if Path(python).exists():
            probe = subprocess.run([python, "-c", "import matplotlib"], capture_output=True,
                                   check=False)  # fmt: skip
            if probe.returncode == 0:
                return python
    return None


def make_chart(summary: dict[str, Any], workloads: list[str], smoke: bool, png: Path) -> bool:
    python = _chart_python()
    if python is None:
        log(f"no matplotlib (no {VENV.name}/{CHART_ENV} venv, none here): no chart")
        return False
    panels = []
    for workload in workloads:
        titles = {**TITLES, **SMOKE_TITLES} if smoke else TITLES
        for metric in METRICS[workload]:
            if not metric.better or not metric.chart:
                continue
            panels.append({
                "workload": workload, "title": titles[workload], "key": metric.key,
                "label": metric.label, "better": metric.better, "target": metric.target,
                "rows": {f: {"status": r["status"], **r["metrics"].get(metric.key, {})}
                         for f, r in summary[workload].items()},
            })  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"panels": panels, "smoke": smoke}, fh)
    try:
        done = subprocess.run([python, str(PEERS / "chart.py"), fh.name, str(png)],
                              capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
    finally:
        os.unlink(fh.name)
    if done.returncode != 0:
        log(f"chart failed: {_tail(done.stderr)}")
        return False
    return True


def _fmt(value: float, digits: int) -> str:
    if abs(value) >= 1000:
        digits = 0
    return f"{value:,.{digits}f}"


def _table(workload: str, rows: dict[str, Any]) -> str:
    metrics = METRICS[workload]
    head = ["framework", "n"]
    for m in metrics:
        head += [f"{m.label} (median)", "spread [min–max]"]
    head += ["Podium's target", "Podium ÷ best peer"]
    align = ["---", "--:"] + ["--:", "---"] * len(metrics) + ["---", "---"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for framework, row in rows.items():
        cells = [f"**{framework}**" if framework == "podium" else framework, str(row["trials"])]
        for m in metrics:
            cells += _cells(row, m)
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
        if best is None or stats is None or best[1] == 0:
            continue
        ratio = stats["median"] / best[1]
        shown = f"{ratio:.2f}" if ratio < 10 else f"{ratio:.0f}"
        out.append(f"{shown}× {best[0]}" + (f" ({m.label})" if len(metrics) > 1 else ""))
    return "; ".join(out) or "no peer result"


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


def _notes(rows: dict[str, Any]) -> list[str]:
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
        out.append(f"- **{framework}**: {text}")
    return out


HOW = """\
Each trial is one fresh process running one workload of one framework
(`<python> bench/peers/<framework>_impl.py --workload W1 [--smoke] --workdir DIR`, which prints
one `RESULT {json}` line); within a workload the trials are interleaved round-robin across the
frameworks, so drift in the machine's load hits all of them alike. Figures are the median over
the `n` successful trials, with the spread [min–max]. Every framework gets the same scripted
model through its own extension point for a custom model: it answers by the conversation's turn,
with 0 ms or 50 ms (`asyncio.sleep`) of latency, and never reaches the network (tracing and
telemetry exports are off). The targets are Podium's, from issue 7; "Podium ÷ best peer" is
Podium's median divided by the best peer's median in the same run (for lower-is-better figures
below 1 means Podium is ahead; for runs/s above 1 does).

- **W1**: a chain of 10 agents run in sequence (agent i's output is agent i+1's input), a 0 ms
  model answering a short text; 5 warm-up runs, then 200 timed runs: wall time / (runs × 10).
- **W2**: 100 agents fanned out in parallel by the framework's own construct, each one model
  call of 50 ms; 1 warm-up, median of 5 repetitions: wall time as a multiple of the ideal 50 ms.
- **W3**: one agent whose model calls a trivial tool on turns 1–5 and answers on turn 6 (0 ms);
  5 warm-up runs, then 200 timed runs: wall time / (runs × 5).
- **W4**: 1,000 runs at once of a 3-agent chain with a 50 ms model (ideal wall time 150 ms):
  runs per second, and (peak RSS during − RSS before) / runs.
- **W5**: W1 with the framework's durable SQLite store (Podium's `SQLiteStore`, the peers'
  SQLite checkpointer or session), 100 timed runs: µs per step, and the growth of the database
  file (+ WAL) per run, measured after a WAL checkpoint.
- **W6**: 100,000 runs suspended on a human approval, durably where the framework can: peak RSS
  of the process that created them, and the time to create them; one is then resumed.
- **W7**: a process runs 1,000 runs of a 3-step chain (a 50 ms agent, a step that blocks, an
  agent); once every run journaled step 1 it is killed with `kill -9`; a recovery process is
  started: seconds from its launch until all 1,000 runs completed.
"""


def markdown(
    summary: dict[str, Any],
    workloads: list[str],
    before: dict[str, Any],
    after: dict[str, Any],
    pythons: dict[str, str],
    smoke: bool,
    chart: bool,
    png: Path,
) -> str:
    git = before.get("git", {})
    commit = git.get("commit") or "unknown"
    dirty = " (with uncommitted changes in `src/`)" if git.get("src_dirty") else ""
    lines = [
        "<!-- generated by bench/compare.py: do not edit by hand, run it again -->",
        "",
        "# Benchmarks: Podium and its peers",
        "",
        f"Generated by `bench/compare.py` on {before['utc']}, commit `{commit}`{dirty}."
        + (" **Smoke run: tiny sizes, one trial — not a measurement.**" if smoke else ""),
        "",
        "```sh",
        "python3 bench/compare.py            # the full suite, 3 trials, rewrites this page",
        "python3 bench/compare.py --smoke    # tiny sizes, 1 trial, output to a temp directory",
        "```",
        "",
        "## Machine",
        "",
        f"- CPU: {before.get('cpu', '?')}, {before.get('cpus', '?')} cores, "
        f"{before.get('memory_gb', '?')} GB of memory; {before['platform']}",
        f"- Python {before['python']} (the harness); load average (1, 5, 15 min) "
        f"{before['loadavg']} before the runs, {after['loadavg']} after; the machine was shared, "
        "so expect noise",
        "- The runs took {RUNS_TIME} (building the venvs not included)",
        "",
        "## Versions measured",
        "",
        *_versions(summary, pythons),
        "",
        "## How",
        "",
        HOW,
    ]
    if smoke:
        lines += ["Smoke sizes (`--smoke`): see `sizes()` in `bench/peers/common.py`.", ""]
    if chart:
        lines += [f"![Median per framework and workload]({png.name})", ""]
    titles = {**TITLES, **SMOKE_TITLES} if smoke else TITLES
    for workload in workloads:
        lines += [f"## {workload}: {titles[workload]}", "", _table(workload, summary[workload]), ""]
        lines += [*_notes(summary[workload]), ""]
    return "\n".join(lines)


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
        "--budget", type=float, help="seconds for the runs (default 840, 'inf': no cut; smoke none)"
    )
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    workloads, frameworks = _select(args)
    peers = [f for f in frameworks if f != "podium"]
    log(f"frameworks: {', '.join(frameworks)}; workloads: {', '.join(workloads)}")
    steps: dict[str, float] = {}

    t = time.perf_counter()
    pins = {f: pins_of(frameworks[f]) for f in peers}
    chart = not args.no_chart and (bool(peers) or (VENV / CHART_ENV).exists())
    every = {f: pins_of(p) for f, p in discover().items() if f != "podium"}
    failed = ensure_envs(pins, chart, args.reinstall, every) if peers or chart else {}
    steps["peers venvs"] = time.perf_counter() - t

    pythons = {f: str(venv_python(f)) for f in peers}
    if "podium" in frameworks:
        pythons["podium"] = podium_python(args.podium_python)
    trials = args.trials or (1 if args.smoke else 3)
    budget = None if args.smoke else (args.budget or 840.0)
    with tempfile.TemporaryDirectory(prefix="podium-compare-") as tmp:
        plan = Plan(workloads, frameworks, pythons, trials, args.smoke, budget, Path(tmp),
                    skip={f: why for f, why in failed.items() if f in frameworks})  # fmt: skip
        before = machine()
        results, per_workload = run_plan(plan)
    steps.update({f"run {w}": s for w, s in per_workload.items()})
    t = time.perf_counter()
    write_outputs(args, before, results, workloads, list(frameworks), pythons, steps)
    steps["outputs"] = time.perf_counter() - t
    log("\ntimings: " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()))
    log(f"total: {time.perf_counter() - t_start:.1f} s")
    bad = [r for r in results if r.status in ("failed", "timeout")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
