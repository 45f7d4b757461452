"""Every example in examples/ runs offline, exits 0 and prints what it promises."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SPECS = sorted(p.name for p in EXAMPLES.glob("*.yaml"))
# What each example must print (stdout and stderr together); a new example needs an entry.
EXPECTED: dict[str, tuple[str, ...]] = {
    "support_desk.py": (
        "support desk (OFFLINE - scripted models, no network)",
        ": completed",
        "handled by: triage -> refunds",
        "We have refunded 129.00 EUR",
        "refunds[2] (agent)",
    ),
    "onboarding.py": (
        "bank customer onboarding (OFFLINE - scripted models, no network)",
        ": completed",
        "decision: approved (credit score 742, fraud risk low), overdraft 15,000 EUR",
        "result: Welcome email sent to ana@silvadesign.pt (msg-ana-welcome)",
        "[credit] (agent)",
        "[fraud] (agent)",
        "decide (function)",
    ),
    "sourcing.py": (
        "supplier sourcing (OFFLINE - scripted models, no network)",
        ": completed",
        "11 model calls, 5 tool calls",
        "financial_health  best: Alu-Tec GmbH",
        "recommendation: Metalurgia Norte at 3.65 EUR/unit",
        "risk: on-time rate 93%: agree late-delivery penalties",
        "reduce (agent)",
    ),
    "procurement.py": (
        "vendor procurement (OFFLINE - scripted models, no network)",
        ": completed",
        "contract_review[1]    Acceptable with one change",
        "vendor_onboarding[1]  Registered CloudNest BV as vendor V-20931",
        "manager: Procurement complete: CloudNest BV selected at 38,400 EUR/year",
    ),
    "contract_review.py": (
        "contract review (OFFLINE - scripted models, no network)",
        ": completed",
        "attempt 1: passed=False score=0.6: Open flags",
        "attempt 2: passed=True score=0.95: No open flags.",
        "result: passed after 2 iterations",
        "liability cap: 2x the fees of the preceding 12 months",
        "open flags: 0",
    ),
    "debate.py": (
        "debate (OFFLINE - scripted models, no network)",
        ": completed",
        "4 model calls",
        "skeptic   against",
        "ruling (judge): for_with_conditions: Approve the pilot",
        "solver[regulator] (agent)",
    ),
    "research_graph.py": (
        "research graph (OFFLINE - scripted models, no network)",
        ": completed",
        "path: plan -> web+papers -> write -> review -> web+papers -> write -> review -> END",
        "rounds: 2, notes: 6, approved: True",
        "answer: A heat pump cuts a household's heating emissions by about 50-70%",
    ),
    "durable_approval.py": (
        ": suspended after 1 model call",
        "signalled; status index: pending",
        ": completed",
        "drafter model requests: 1, payments: 1",
        '"status": "paid"',
    ),
    "failover.py": (
        "completed -> 'Paris.'",
        "scripted:primary attempt 1: HTTP 429: rate limited",
        "scripted:primary attempt 2: HTTP 503: overloaded",
        "answered by scripted:backup",
        "failed -> ModelHTTPError: HTTP 400: prompt too long",
        "backup asked 0x",
    ),
    "crash_recovery.py": (
        "child exited with -9",
        "resumed: needs_attention, unknown step: payer/tool:send_payment#2",
        'completed -> "Paid 250.00 EUR to ACME Ltd."',
        "payments in the ledger: 1; model requests here: 1",
    ),
}
if sys.platform == "win32":  # no SIGKILL: the example says so and exits 0
    EXPECTED["crash_recovery.py"] = ("needs SIGKILL",)


def test_every_example_has_expectations() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_offline(name: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / name)],
        cwd=tmp_path,
        env=_offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output, output
    for text in EXPECTED[name]:
        assert text in output, f"{name}: {text!r} not in output:\n{output}"
    assert (tmp_path / "podium.db").exists(), "the example ignored PODIUM_DB"


def _offline_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
    env.pop("PODIUM_DEMO_MODEL", None)
    env["PODIUM_DB"] = str(tmp_path / "podium.db")
    env["PODIUM_ALLOW_MODEL_REQUESTS"] = "0"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _podium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-m", "podium", *args],
        cwd=tmp_path,  # import paths must resolve from the spec's folder, not the working dir
        env=_offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _example_input(stem: str) -> str:
    """The input an example's ``__main__`` uses, as ``podium run -i`` takes it (JSON)."""
    folder = str(EXAMPLES)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        return json.dumps(importlib.import_module(stem).INPUT)
    finally:
        if added:
            sys.path.remove(folder)


def test_there_are_specs() -> None:
    assert len(SPECS) >= 7, SPECS


@pytest.mark.slow
@pytest.mark.parametrize("name", SPECS)
def test_spec_example_validates_and_runs(name: str, tmp_path: Path) -> None:
    spec = str(EXAMPLES / name)
    checked = _podium(tmp_path, "validate", spec)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "valid (workflow" in checked.stderr, checked.stderr

    done = _podium(tmp_path, "run", "-q", spec, "-i", _example_input(Path(name).stem))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "completed" in output, output
    assert "Traceback" not in output, output


@pytest.mark.slow
@pytest.mark.parametrize("name", SPECS)
def test_python_twin_runs_as_a_cli_target(name: str, tmp_path: Path) -> None:
    stem = Path(name).stem
    target = f"{EXAMPLES / stem}.py:workflow"
    done = _podium(tmp_path, "run", "-q", target, "-i", _example_input(stem))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "completed" in output, output
