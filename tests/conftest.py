from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NoReturn

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


# -- PostgreSQL (tests marked ``postgres``) -----------------------------------------------------

POSTGRES_URL = os.environ.get(
    "PODIUM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _postgres_unavailable(reason: str) -> NoReturn:
    """Skip locally; under CI (``CI=true``) a missing PostgreSQL is a failure, not a skip."""
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI is set: the PostgreSQL tests must run)", pytrace=False)
    pytest.skip(f"{reason}; set PODIUM_TEST_POSTGRES_URL to a reachable server")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The URL of a reachable PostgreSQL for the ``postgres`` tests (each test makes its own
    schemas in it and drops them)."""
    try:
        import psycopg
    except ImportError:
        _postgres_unavailable("psycopg is not installed (pip install -e '.[dev]')")
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=5):
            pass
    except psycopg.OperationalError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        _postgres_unavailable(f"PostgreSQL at {POSTGRES_URL} is unreachable: {first}")
    return POSTGRES_URL
