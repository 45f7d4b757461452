"""Test doubles shipped with Podium: scripted and function models, a fake clock, a fake LLM
server speaking the OpenAI and Anthropic wire protocols, and the store conformance suite
(``podium.testing.conformance``, which needs pytest).

Library code never imports this package.
"""

import os

from podium.models import ALLOW_MODEL_REQUESTS_ENV
from podium.testing.attacker import ObedientAttacker
from podium.testing.clock import FakeClock
from podium.testing.models import CallSpec, FunctionModel, ScriptedModel, call
from podium.testing.replay import Recording, ReplayResult, StepDiff, assert_same, diff, replay


def block_real_model_requests() -> None:
    """Make any model request to a non-loopback host fail loudly (tests call this)."""
    os.environ[ALLOW_MODEL_REQUESTS_ENV] = "0"


__all__ = [
    "CallSpec",
    "FakeClock",
    "FunctionModel",
    "ObedientAttacker",
    "Recording",
    "ReplayResult",
    "ScriptedModel",
    "StepDiff",
    "assert_same",
    "block_real_model_requests",
    "call",
    "diff",
    "replay",
]
