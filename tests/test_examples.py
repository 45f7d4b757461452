"""Every example in examples/ runs offline, exits 0 and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# What each example must print (stdout and stderr together); a new example needs an entry.
EXPECTED: dict[str, tuple[str, ...]] = {
    "support_desk.py": ('"category": "billing"', "refunded 129.00 EUR", ": completed"),
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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
    env.pop("PODIUM_DEMO_MODEL", None)
    env["PODIUM_DB"] = str(tmp_path / "podium.db")
    env["PODIUM_ALLOW_MODEL_REQUESTS"] = "0"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / name)],
        cwd=tmp_path,
        env=env,
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
