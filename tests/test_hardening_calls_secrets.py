"""Issue 12, item 6: secrets that are not strings, and short secrets.

An :class:`ObedientAttacker` calls careless tools that echo a numeric PIN (as an int, a float,
inside text, in an error) and a 3-digit CVV; neither the journal (every encoded event) nor any
model request may hold them. The rule for short secrets is the one docs/governance.md states.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from calls_support import journal, of, open_store
from podium import Agent, Runtime, ToolContext, tool
from podium.events import ToolCallCompleted, encode
from podium.messages import ModelRequest
from podium.policy import Redactor, StaticSecrets
from podium.store import Store
from podium.testing import ObedientAttacker
from podium.types import RunStatus

pytestmark = pytest.mark.anyio

_REQUEST: TypeAdapter[ModelRequest] = TypeAdapter(ModelRequest)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_store(request, tmp_path) as opened:
        yield opened


PIN = "4921"


def vault_tools() -> list[Any]:
    @tool(secrets=["PIN"])
    def card_pin(ctx: ToolContext) -> dict[str, Any]:
        """The card's PIN, as a careless tool returns it: a number, a float, inside text."""
        pin = int(ctx.secrets["PIN"])
        return {"pin": pin, "as_float": float(pin), "note": f"pin={pin}", "digits": [pin]}

    @tool(secrets=["CVV"])
    def card_cvv(ctx: ToolContext) -> dict[str, Any]:
        """A 3-character secret."""
        cvv = ctx.secrets["CVV"]
        return {"cvv": int(cvv), "text": f"CVV {cvv}.", "order": "A1234"}

    @tool(secrets=["PIN"])
    def check_pin(ctx: ToolContext) -> str:
        """Fails, echoing the secret."""
        raise RuntimeError(f"pin {int(ctx.secrets['PIN'])} rejected")

    return [card_pin, card_cvv, check_pin]


async def test_numeric_secrets_never_reach_the_journal_or_the_model(store: Store) -> None:
    attacker = ObedientAttacker()
    runtime = Runtime(store, secrets=StaticSecrets({"PIN": PIN, "CVV": "123"}))
    agent = Agent(name="teller", model=attacker, tools=vault_tools())
    result = await runtime.run(agent, "CALL card_pin\nCALL card_cvv\nCALL check_pin")
    assert result.status is RunStatus.COMPLETED, result.error
    events = await journal(runtime, result.run_id)
    results = {e.tool: e.result for e in of(events, ToolCallCompleted)}
    assert results["card_pin"] == {
        "pin": "[secret:PIN]", "as_float": "[secret:PIN]", "note": "pin=[secret:PIN]",
        "digits": ["[secret:PIN]"],
    }  # fmt: skip
    assert results["card_cvv"] == {
        "cvv": "[secret:CVV]",
        "text": "CVV [secret:CVV].",
        "order": "A1234",
    }
    assert "[secret:PIN]" in str(results["check_pin"])
    for event in events:
        assert PIN not in encode(event)
    for request in attacker.requests:
        shown = _REQUEST.dump_json(request).decode()
        assert PIN not in shown
        assert "CVV 123" not in shown
        assert '"cvv": 123' not in shown


@pytest.mark.parametrize(
    ("value", "leaks"),
    [
        (4921, [4921, 4921.0, "4921", "PIN 4921.", [4921], {"k": 4921}]),
        ("4921", [4921, 4921.0, "x4921x"]),
        (12.5, [12.5, "12.5"]),
        ('p"w\\d', ['{"t": "p\\"w\\\\d"}', 'p"w\\d', "'p\"w\\\\d'"]),
        ("123", [123, "CVV 123", "(123)"]),
    ],
)
def test_every_rendering_of_a_secret_is_redacted(value: object, leaks: list[Any]) -> None:
    redactor = Redactor()
    redactor.add("S", value)
    for leak in leaks:
        redacted = redactor.value(leak)
        assert "[secret:S]" in json.dumps(redacted), (value, leak, redacted)


def test_a_short_secret_is_redacted_only_where_it_stands_alone() -> None:
    redactor = Redactor()
    redactor.add("CVV", "123")
    assert redactor.value({"cvv": 123, "n": 1234, "id": "A123", "t": "cvv=123"}) == {
        "cvv": "[secret:CVV]", "n": 1234, "id": "A123", "t": "cvv=[secret:CVV]",
    }  # fmt: skip
    empty = Redactor()
    empty.add("E", "")
    assert not empty
    assert empty.text("anything") == "anything"
