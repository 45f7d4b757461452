"""Run every Podium benchmark, print a markdown report, write the figures as JSON.

    .venv/bin/python bench/run.py            # full: ≥ 5 timed trials per case after a warm-up
    .venv/bin/python bench/run.py --quick    # smoke run, a few seconds
    .venv/bin/python bench/run.py --whatif   # also estimate the gains of the suggested fixes

Results go to ``bench/results/<UTC timestamp>-<mode>.json`` (git-ignored). These are
measurements for the foundation issue's closing note, not timed tests: nothing fails when a
target is missed.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import profile_steps
import step_overhead
import whatif
from harness import RESULTS_DIR, environment


async def collect(args: argparse.Namespace, env: dict[str, Any]) -> dict[str, Any]:
    plan = step_overhead.QUICK if args.quick else step_overhead.FULL
    if args.trials:
        plan = replace(plan, trials=args.trials)
    report: dict[str, Any] = {"environment": env, "plan": plan.name}
    print(f"step overhead ({plan.name}: {plan.trials} trials per case after a warm-up)")
    cases = await step_overhead.run_all(plan)
    report["cases"] = [case.as_dict() for case in cases]
    report["targets_us_per_step"] = {
        f"{bench}/{store}": target for (bench, store), target in step_overhead.TARGETS.items()
    }
    report["references"] = step_overhead.REFERENCES
    report["tables"] = {"step_overhead": step_overhead.markdown_table(cases)}
    if not args.no_profile:
        runs = 20 if args.quick else 300
        profiles = []
        for structured in (False, True):
            print(f"profiling the memory-store chain (structured={structured})")
            profiles.append(
                await profile_steps.profile_memory_chain(
                    runs, 5 if args.quick else 30, structured=structured
                )
            )
        report["profiles"] = [p.as_dict() for p in profiles]
        report["tables"]["profiles"] = [profile_steps.markdown(p) for p in profiles]
    if args.whatif:
        print("what-if: the suggested fixes, monkeypatched")
        outcomes = await whatif.compare(args.trials or (2 if args.quick else 7), args.quick)
        report["whatif"] = [o.as_dict() for o in outcomes]
        report["tables"]["whatif"] = whatif.markdown_table(outcomes)
    return report


def render(report: dict[str, Any]) -> str:
    env = report["environment"]
    git = env["git"]
    dirty = " (src/ has uncommitted changes)" if git.get("src_dirty") else ""
    lines = [
        f"## Podium step overhead — {env['timestamp_utc']}",
        "",
        f"Python {env['python']}, podium {env['versions']['podium']}, "
        f"pydantic {env['versions']['pydantic']}, anyio {env['versions']['anyio']}, "
        f"SQLite {env['sqlite']}; {env['cpu_count']} CPUs, load {env['loadavg_1_5_15']}, "
        f"calibration {env['calibration']}; "
        f"commit {git.get('commit', '')[:10]}{dirty}; plan {report['plan']}",
        "",
        report["tables"]["step_overhead"],
        "",
        f"References (LangGraph on this machine): {report['references']}",
    ]
    for table in report["tables"].get("profiles", []):
        lines += ["", table]
    if "whatif" in report["tables"]:
        lines += ["", report["tables"]["whatif"]]
    return "\n".join(lines)


def write(report: dict[str, Any], mode: str, out: Path | None) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = out or RESULTS_DIR / f"{stamp}-{mode}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the Podium benchmarks.")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (a few seconds)")
    parser.add_argument("--trials", type=int, default=0, help="timed trials per case")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile section")
    parser.add_argument("--whatif", action="store_true", help="estimate the suggested fixes")
    parser.add_argument("--out", type=Path, help="JSON path (default: bench/results/...)")
    args = parser.parse_args(argv)
    report = anyio.run(collect, args, environment())  # environment() runs its own loop
    print()
    print(render(report))
    path = write(report, "quick" if args.quick else "full", args.out)
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
