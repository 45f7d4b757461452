"""A fake LLM server: a real HTTP server on loopback speaking the vendors' wire protocols.

It serves OpenAI Chat Completions (``POST /v1/chat/completions``) and Anthropic Messages
(``POST /v1/messages``), streaming and not, with tool calls and usage, so the official SDKs
can be tested end to end without mocks. Answers are scripted::

    with FakeLLMServer() as server:
        server.script([Fault(status=429, retry_after=2), Reply(text="hello")])
        model = OpenAIModel("gpt-test", base_url=server.openai_base_url)
        ...
        server.assert_complete()

Scripted items are consumed first from the queue of the requested model (``script(...,
model=...)``), then from the shared queue, then the :meth:`FakeLLMServer.on_request` function
decides. A request nothing answers gets HTTP 500 naming the model, and is still recorded.

Run it as a separate process with ``python -m podium.testing.fake_llm --port N --script FILE``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from podium.store import rates
from podium.testing import _fake_llm_wire as wire

__all__ = ["FakeLLMServer", "Fault", "RecordedRequest", "Reply", "load_script"]


@dataclass(frozen=True, kw_only=True)
class Reply:
    """A scripted successful answer.

    ``input_tokens`` counts the whole prompt, ``cached_tokens`` the part of it read from cache
    (the Anthropic wire format reports them apart). ``finish_reason`` may use either vendor's
    vocabulary; by default it is ``tool_calls``/``tool_use`` with tool calls, else
    ``stop``/``end_turn``.
    """

    text: str = ""
    tool_calls: Sequence[tuple[str, dict[str, Any]]] = ()
    input_tokens: int = 10
    output_tokens: int = 5
    cached_tokens: int = 0
    finish_reason: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tool_calls", tuple((n, dict(a)) for n, a in self.tool_calls))


@dataclass(frozen=True, kw_only=True)
class Fault:
    """A scripted failure.

    ``status`` answers with that HTTP status and an error body in the vendor's format;
    ``retry_after`` sets the ``Retry-After`` header; ``delay`` sleeps before answering;
    ``drop_stream_after`` sends that many SSE frames of ``then`` and closes the connection
    abruptly (a non-streaming request gets part of its body); ``raw_body`` is sent verbatim
    (status 200 unless ``status`` is set) to test malformed answers. Without ``status`` or
    ``raw_body``, the answer after the delay is ``then`` (default: ``Reply()``).
    """

    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    drop_stream_after: int | None = None
    then: Reply | None = None
    raw_body: str | None = None


@dataclass(frozen=True, kw_only=True)
class RecordedRequest:
    """One completion request as the server received it."""

    protocol: Literal["openai", "anthropic"]
    path: str
    model: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


Script = Iterable[Reply | Fault]
Responder = Callable[[RecordedRequest], Reply | Fault]
_PATHS: dict[str, Literal["openai", "anthropic"]] = {
    "/v1/chat/completions": "openai",
    "/chat/completions": "openai",
    "/v1/messages": "anthropic",
}


class FakeLLMServer:
    """A scripted OpenAI- and Anthropic-compatible server in a daemon thread.

    Use it as a context manager or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._address = (host, port)
        self._lock = threading.Lock()
        self._shared: deque[Reply | Fault] = deque()
        self._by_model: dict[str, deque[Reply | Fault]] = {}
        self._responder: Responder | None = None
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ids = wire.Ids()
        self._rate: tuple[float, float] | None = None  # (requests per minute, tokens per minute)
        self._bucket: rates.Bucket | None = None
        self.rejected = 0  # requests answered 429 by limit_rate()

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer(self._address, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},  # stop() waits for one poll
            name="fake-llm-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            wire.shutdown_socket(connection)
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeLLMServer is not running; call start() or use 'with'")
        host, port = self._httpd.server_address[:2]
        host = str(host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    # --- scripting --------------------------------------------------------------------------

    def script(self, items: Script, *, model: str | None = None) -> None:
        """Queue answers (FIFO); with ``model``, only for requests naming that model."""
        with self._lock:
            queue = self._shared if model is None else self._by_model.setdefault(model, deque())
            queue.extend(items)

    def on_request(self, fn: Responder | None) -> None:
        """Answer with ``fn(request)`` when no scripted item is left (``None`` turns it off)."""
        with self._lock:
            self._responder = fn

    def limit_rate(self, requests_per_minute: float) -> None:
        """Enforce a rate limit as providers do: a bucket of one minute's requests, refilled
        continuously; past it, HTTP 429 with ``Retry-After`` (counted in :attr:`rejected`)."""
        with self._lock:
            self._rate = (requests_per_minute, 0.0)
            self._bucket = None

    @property
    def requests(self) -> list[RecordedRequest]:
        """The completion requests received so far (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        """How many completion requests arrived, answered or failed."""
        with self._lock:
            return len(self._requests)

    def assert_complete(self) -> None:
        """Raise :class:`AssertionError` if scripted items were not consumed."""
        with self._lock:
            left = [("the shared queue", len(self._shared))] if self._shared else []
            left += [(f"model {m!r}", len(q)) for m, q in self._by_model.items() if q]
        if left:
            detail = ", ".join(f"{where}: {count} left" for where, count in left)
            raise AssertionError(f"fake LLM server: scripted items not consumed ({detail})")

    # --- called by the request handler ------------------------------------------------------

    def _next(self, request: RecordedRequest) -> Reply | Fault | str:
        """Record the request and pick its answer; a string is an unscripted-request message."""
        with self._lock:
            self._requests.append(request)
            number = len(self._requests)
            if self._rate is not None:
                self._bucket, wait = rates.take(
                    self._bucket, time.time(), requests=1, tokens=0,
                    requests_per_minute=self._rate[0], tokens_per_minute=None,
                )  # fmt: skip
                if wait > 0:
                    self.rejected += 1
                    return Fault(status=429, retry_after=round(wait, 3))
            queue = self._by_model.get(request.model)
            for candidate in (queue, self._shared):
                if candidate:
                    return candidate.popleft()
            responder = self._responder
        if responder is not None:
            try:
                return responder(request)
            except Exception as error:  # the test's function failed: tell the client why
                return f"fake LLM server: on_request function raised {error!r}"
        return (
            f"fake LLM server: no scripted reply for model {request.model!r} "
            f"(request #{number} to {request.path}); use FakeLLMServer.script() or on_request()"
        )

    def _wait(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True if it is stopping."""
        if seconds > 0:
            self._stopping.wait(seconds)
        return self._stopping.is_set()

    @property
    def open_connections(self) -> int:
        """How many client connections are open right now (a client that closes its pool
        brings this back to 0 once the server has seen the connections close)."""
        with self._lock:
            return len(self._connections)

    def wait_connections(self, count: int, timeout: float = 5.0) -> int:
        """Wait until :attr:`open_connections` is ``count`` (or ``timeout`` passes); return
        the number open then. Closing a connection reaches the server a moment later."""
        deadline = time.monotonic() + timeout
        while self.open_connections != count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.open_connections

    def _track(self, connection: socket.socket, active: bool) -> None:
        with self._lock:
            if active:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 resets bursts of concurrent clients

    def __init__(self, address: tuple[str, int], fake: FakeLLMServer) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.fake = fake
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client hanging up is not an error
            super().handle_error(request, client_address)


class _Handler(wire.ResponseWriter):
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        self.server.fake._track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        protocol = _PATHS.get(path)
        if protocol is None:
            message = f"fake LLM server: unknown path {path}"
            self.send_json(404, wire.error_body("openai", 404, message))
            return
        body = wire.parse_body(raw)
        headers = {key.lower(): value for key, value in self.headers.items()}
        model = str(body.get("model", ""))
        request = RecordedRequest(
            protocol=protocol, path=path, model=model, body=body, headers=headers
        )
        self._answer(request, self.server.fake._next(request))

    def _answer(self, request: RecordedRequest, item: Reply | Fault | str) -> None:
        if isinstance(item, str):
            self.send_json(500, wire.error_body(request.protocol, 500, item))
        elif isinstance(item, Reply):
            self._reply(request, item, None)
        elif self.server.fake._wait(item.delay):
            self.abort()
        elif item.raw_body is not None:
            streaming = request.body.get("stream") is True
            self.send_body(
                item.status or 200,
                item.raw_body.encode(),
                content_type="text/event-stream" if streaming else "application/json",
                retry_after=item.retry_after,
            )
        elif item.status is not None:
            message = f"fake LLM server: scripted HTTP {item.status}"
            body = wire.error_body(request.protocol, item.status, message)
            self.send_json(item.status, body, retry_after=item.retry_after)
        else:
            self._reply(request, item.then or Reply(), item.drop_stream_after, item.retry_after)

    def _reply(
        self,
        request: RecordedRequest,
        reply: Reply,
        drop_after: int | None,
        retry_after: float | None = None,
    ) -> None:
        fake, model = self.server.fake, request.model
        if request.body.get("stream") is True:
            frames = wire.stream_frames(request.protocol, request.body, reply, model, fake._ids)
            self.send_stream(frames, drop_after, retry_after)
        else:
            payload = wire.completion(request.protocol, reply, model, fake._ids)
            self.send_json(200, payload, retry_after=retry_after, drop=drop_after is not None)


# --- JSON scripts and the command line ---------------------------------------------------------

_FAULT_KEYS = {f.name for f in fields(Fault)}


def load_script(path: str | os.PathLike[str]) -> list[Reply | Fault]:
    """Read a JSON list of replies and faults.

    An object with any of ``status``, ``retry_after``, ``delay``, ``drop_stream_after``,
    ``then`` or ``raw_body`` is a :class:`Fault`, any other a :class:`Reply`; ``tool_calls`` holds
    ``[name, arguments]`` pairs or ``{"name": ..., "arguments": ...}`` objects.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: a fake LLM script must be a JSON list")
    return [_item_from_json(item, f"{path}[{index}]") for index, item in enumerate(data)]


def _item_from_json(item: object, where: str) -> Reply | Fault:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected an object, got {item!r}")
    try:
        if _FAULT_KEYS & item.keys():
            then = item.get("then")
            reply = None if then is None else _reply_from_json(then, f"{where}.then")
            return Fault(**{**item, "then": reply})
        return _reply_from_json(item, where)
    except TypeError as error:
        raise ValueError(f"{where}: {error}") from error


def _reply_from_json(item: object, where: str) -> Reply:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected an object, got {item!r}")
    calls: list[tuple[str, dict[str, Any]]] = []
    for call in item.get("tool_calls", ()):
        if isinstance(call, dict):
            calls.append((call["name"], call.get("arguments", {})))
        elif isinstance(call, list) and len(call) == 2:
            calls.append((call[0], call[1]))
        else:
            raise ValueError(f"{where}: bad tool call {call!r}")
    return Reply(**{**item, "tool_calls": calls})


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until killed; prints ``listening on URL`` once ready."""
    parser = argparse.ArgumentParser(prog="python -m podium.testing.fake_llm")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", help="JSON list of replies and faults to answer in order")
    args = parser.parse_args(argv)
    server = FakeLLMServer(args.host, args.port)
    if args.script:
        server.script(load_script(args.script))
    with server:
        print(f"listening on {server.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
