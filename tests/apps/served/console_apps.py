"""Deployable workflows for the console's browser tests (offline: function models).

``wirer`` sends a wire with an ``at_most_once`` tool that crashes the process after its intent
when ``PODIUM_TEST_CRASH_WIRE=1`` (set only in the test process that prepares the unknown step).
``echoer`` echoes its input through a tool (an XSS payload in the input shows in the tool
result and the answer). Agent names cannot carry markup (``[A-Za-z0-9_.-]``).
"""

from __future__ import annotations

import os
from typing import Any

from podium import Agent, Effect, tool
from podium.messages import ModelRequest, ToolMessage, UserMessage
from podium.testing import FunctionModel, call
from podium.testing.models import ScriptItem


class WireCrash(BaseException):
    """The process dies between the intent and the result."""


@tool(effect=Effect.AT_MOST_ONCE, threaded=False)
def send_wire(amount: int) -> str:
    """Send money.

    Args:
        amount: How much, in EUR.
    """
    if os.environ.get("PODIUM_TEST_CRASH_WIRE") == "1":
        raise WireCrash("crashed after the intent")
    return f"sent {amount}"


@tool(effect=Effect.READ, threaded=False)
def echo(text: str) -> str:
    """Say it back.

    Args:
        text: What to say.
    """
    return f"echo: {text}"


def _first(tool_name: str, argument: str) -> Any:
    def answer(request: ModelRequest) -> ScriptItem:
        asked = next((m.content for m in request.messages if isinstance(m, UserMessage)), "")
        results = [m for m in request.messages if isinstance(m, ToolMessage)]
        if not results:
            value: Any = 100 if argument == "amount" else str(asked)
            return call(tool_name, **{argument: value})
        return f"done: {results[-1].content}"

    return FunctionModel(answer, name=f"scripted:{tool_name}")


wirer = Agent(name="wirer", instructions="Send the wire.", model=_first("send_wire", "amount"),
              tools=[send_wire])  # fmt: skip
echoer = Agent(name="echoer", instructions="Echo.", model=_first("echo", "text"), tools=[echo])
