"""The request body limit: a pure ASGI middleware that answers 413 (problem+json) before the
application reads a body over ``max_bytes`` — by its ``Content-Length``, or while it streams."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1_048_576  # 1 MiB: a run's input, a signal's payload, a decision


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", ())).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(send)
            return
        seen = 0
        refused = False

        async def limited() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:  # answer now; the app sees the client leave
                    refused = True
                    await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def quiet_once_refused(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, limited, quiet_once_refused)

    async def _refuse(self, send: Send) -> None:
        body: dict[str, Any] = {
            "type": "https://podium.dev/problems/payload_too_large",
            "title": "Content Too Large", "status": 413, "code": "payload_too_large",
            "detail": f"the request body is over {self.max_bytes} bytes",
        }  # fmt: skip
        raw = json.dumps(body, separators=(",", ":")).encode()
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(raw)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": raw})
