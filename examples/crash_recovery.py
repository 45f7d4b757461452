"""kill -9 in the middle of a payment, then recovery without paying twice.

The script runs itself as a child process. In the child, an agent calls ``send_payment``, an
``at_most_once`` tool: Podium journals the intent, then the tool records the payment in a ledger
file and kills its own process with SIGKILL before its result can be journaled. The parent then:

1. resumes the run: the step is ``unknown`` (the payment may or may not have gone out), so the
   run becomes ``needs_attention`` and the tool is not called again;
2. plays the operator who checked with the bank: resolves the step as ``skip`` with the real
   result (``podium resolve RUN STEP --action skip --result ...`` does the same);
3. resumes again: the run completes. The journaled model call is not repeated.

Offline (a scripted model). POSIX only (SIGKILL). Run it with ``python examples/crash_recovery.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio

from podium import Agent, Effect, Resolution, Runtime, SQLiteStore, tool
from podium.testing import ScriptedModel, call

CRASH_ENV = "PODIUM_EXAMPLE_CRASH"


def _ledger(db: str) -> Path:
    return Path(db).with_suffix(".ledger")


@tool(effect=Effect.AT_MOST_ONCE)
def send_payment(to: str, amount: float) -> dict[str, Any]:
    """Send money. Never repeated automatically.

    Args:
        to: The payee.
        amount: The amount in EUR.
    """
    with _ledger(os.environ["PODIUM_DB"]).open("a") as ledger:
        ledger.write(f"{to} {amount}\n")
    if os.environ.get(CRASH_ENV) == "1":
        os.kill(os.getpid(), signal.SIGKILL)  # dies after paying, before the result is journaled
    return {"paid": amount, "to": to}


model = ScriptedModel(
    [call("send_payment", to="ACME Ltd", amount=250.0), "Paid 250.00 EUR to ACME Ltd."],
    name="scripted:payer",
    by_turn=True,  # each answer depends only on the conversation so far: any process replays it
)
payer = Agent(name="payer", model=model, instructions="Pay the invoice.", tools=[send_payment])


async def child(db: str) -> None:
    async with SQLiteStore(db) as store:
        runtime = Runtime(store)
        run_id = await runtime.start(payer, "Invoice 17: pay ACME Ltd 250 EUR.")
        print(run_id, flush=True)
        await runtime.resume(run_id, payer)  # never returns: the tool kills the process


async def recover(db: str, run_id: str) -> int:
    async with SQLiteStore(db) as store:
        runtime = Runtime(store)
        stuck = await runtime.resume(run_id, payer)
        print(f"resumed: {stuck.status.value}, unknown step: {stuck.waiting_for}")
        print(f"ledger after resume: {_ledger(db).read_text().splitlines()}")

        await runtime.resolve(
            run_id,
            stuck.waiting_for,
            Resolution.SKIP,
            result={"paid": 250.0, "to": "ACME Ltd", "confirmed": "bank statement"},
            by="ops@example.com",
            comment="the bank shows the transfer",
        )
        print(f"resolved as skip; status index: {(await store.get_run(run_id)).status.value}")
        done = await runtime.resume(run_id, payer)

    print(f"run {run_id}: {done.status.value} -> {json.dumps(done.output)}")
    payments = _ledger(db).read_text().splitlines()
    print(f"payments in the ledger: {len(payments)}; model requests here: {len(model.requests)}")
    ok = stuck.status.value == "needs_attention" and done.status.value == "completed"
    return 0 if ok and len(payments) == 1 and len(model.requests) == 1 else 1


def main() -> int:
    if not hasattr(signal, "SIGKILL"):
        print("this example needs SIGKILL (POSIX); skipped")
        return 0
    db = os.environ.setdefault("PODIUM_DB", ".podium/podium.db")
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    _ledger(db).unlink(missing_ok=True)
    env = {**os.environ, CRASH_ENV: "1"}
    proc = subprocess.run(
        [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True, check=False
    )
    print(f"child exited with {proc.returncode} (-9 is SIGKILL)")
    if proc.returncode != -signal.SIGKILL or not proc.stdout.strip():
        print(proc.stderr, file=sys.stderr)
        return 1
    run_id = proc.stdout.split()[0]
    print(f"run {run_id} died inside send_payment")
    return anyio.run(recover, db, run_id)


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        anyio.run(child, os.environ["PODIUM_DB"])
        sys.exit(1)
    sys.exit(main())
