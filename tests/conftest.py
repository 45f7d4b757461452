from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from podium.testing import block_real_model_requests

block_real_model_requests()  # any request to a non-loopback model host fails loudly


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_real_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "PODIUM_DEMO_MODEL"):
        monkeypatch.delenv(name, raising=False)
    assert os.environ.get("PODIUM_ALLOW_MODEL_REQUESTS") == "0"
    return
