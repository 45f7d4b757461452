"""The model contract: one request in, one response out (and optionally a stream)."""

from __future__ import annotations

import abc
import os
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from podium.errors import RealModelRequestBlocked
from podium.messages import ModelRequest, ModelResponse, StreamItem

ALLOW_MODEL_REQUESTS_ENV = "PODIUM_ALLOW_MODEL_REQUESTS"
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}


class Model(abc.ABC):
    """A language model. Implementations translate :class:`ModelRequest` to a vendor call.

    Implementations must not retry on their own: retries and failover are wrappers
    (:class:`~podium.models.RetryModel`, :class:`~podium.models.FallbackModel`) so that every
    attempt is journaled.
    """

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """``provider:model``, e.g. ``openai:gpt-4.1-mini``."""

    @abc.abstractmethod
    async def request(self, request: ModelRequest) -> ModelResponse:
        """Send one request; raise a :class:`~podium.errors.ModelError` on failure."""

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        """Yield text deltas, then the complete :class:`ModelResponse` as the last item."""
        yield await self.request(request)

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most models hold nothing
        """Release clients. Wrappers pass it on; the default does nothing."""


def is_loopback(url: str | None) -> bool:
    """Whether ``url`` names a server on this machine (localhost, 127.0.0.1, ::1)."""
    host = urlsplit(url).hostname if url else None
    return host is not None and host in _LOOPBACK


def check_model_request_allowed(base_url: str | None, model: str) -> None:
    """Fail loudly if real provider requests are disabled and the target is not loopback.

    Tests set ``PODIUM_ALLOW_MODEL_REQUESTS=0`` (``podium.testing.block_real_model_requests``);
    only servers on loopback (Podium's fake LLM server) may be called.
    """
    if os.environ.get(ALLOW_MODEL_REQUESTS_ENV, "1").lower() not in ("0", "false", "no"):
        return
    if not is_loopback(base_url):
        raise RealModelRequestBlocked(
            f"model request to {base_url or 'the default provider endpoint'} blocked: "
            f"{ALLOW_MODEL_REQUESTS_ENV}=0 allows only loopback servers",
            model=model,
        )
