"""Wire formats of the fake LLM server: OpenAI Chat Completions and Anthropic Messages.

Pure functions from a scripted :class:`~podium.testing.fake_llm.Reply` to JSON bodies and
server-sent-event frames, and the HTTP response writing (including abrupt drops). Scripting
and request handling live in :mod:`podium.testing.fake_llm`.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from podium.testing.fake_llm import Reply

Protocol = Literal["openai", "anthropic"]
Json = dict[str, Any]

CREATED = 1_700_000_000  # a fixed "created" timestamp keeps the answers deterministic

_TO_ANTHROPIC = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
_TO_OPENAI = {theirs: ours for ours, theirs in _TO_ANTHROPIC.items()}

_OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class Ids:
    """Counter-based ids: unique and deterministic per server (``call_1``, ``call_2``...)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}

    def next(self, prefix: str) -> str:
        with self._lock:
            value = self._counters.get(prefix, 0) + 1
            self._counters[prefix] = value
        return f"{prefix}{value}"


def finish_reason(reply: Reply, protocol: Protocol) -> str:
    """The vendor's finish reason; either vocabulary is accepted in a script."""
    if reply.finish_reason is None:
        if protocol == "openai":
            return "tool_calls" if reply.tool_calls else "stop"
        return "tool_use" if reply.tool_calls else "end_turn"
    table = _TO_ANTHROPIC if protocol == "anthropic" else _TO_OPENAI
    return table.get(reply.finish_reason, reply.finish_reason)


def text_pieces(text: str) -> list[str]:
    """Word-sized pieces (each keeps its trailing whitespace) for streamed text."""
    return re.findall(r"\S+\s*|\s+", text)


def json_pieces(arguments: dict[str, Any], size: int = 16) -> list[str]:
    """The JSON text of ``arguments`` cut into pieces, as vendors stream tool arguments."""
    text = json.dumps(arguments)
    return [text[start : start + size] for start in range(0, len(text), size)]


def sse(data: Json | str, event: str | None = None) -> bytes:
    """One server-sent event frame."""
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def error_body(protocol: Protocol, status: int, message: str) -> Json:
    """An error body in the vendor's format."""
    if protocol == "anthropic":
        kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    kind = _OPENAI_ERROR_TYPES.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


# --- OpenAI Chat Completions ------------------------------------------------------------------


def openai_usage(reply: Reply) -> Json:
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
    }


def openai_completion(reply: Reply, model: str, ids: Ids) -> Json:
    message: Json = {"role": "assistant", "content": reply.text or None, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": ids.next("call_"),
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
            for name, arguments in reply.tool_calls
        ]
    choice = {
        "index": 0,
        "message": message,
        "finish_reason": finish_reason(reply, "openai"),
        "logprobs": None,
    }
    return {
        "id": ids.next("chatcmpl-"),
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [choice],
        "usage": openai_usage(reply),
    }


def openai_stream(reply: Reply, model: str, ids: Ids, *, include_usage: bool) -> list[bytes]:
    """The SSE frames of a streamed completion, ending with ``data: [DONE]``."""
    completion_id = ids.next("chatcmpl-")

    def chunk(delta: Json, finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return sse(_openai_chunk(completion_id, model, [choice]))

    frames = [chunk({"role": "assistant", "content": ""})]
    frames += [chunk({"content": piece}) for piece in text_pieces(reply.text)]
    for index, (name, arguments) in enumerate(reply.tool_calls):
        start = {"index": index, "id": ids.next("call_"), "type": "function"}
        start["function"] = {"name": name, "arguments": ""}
        frames.append(chunk({"tool_calls": [start]}))
        for piece in json_pieces(arguments):
            delta = {"index": index, "function": {"arguments": piece}}
            frames.append(chunk({"tool_calls": [delta]}))
    frames.append(chunk({}, finish_reason(reply, "openai")))
    if include_usage:
        usage_chunk = _openai_chunk(completion_id, model, [])
        usage_chunk["usage"] = openai_usage(reply)
        frames.append(sse(usage_chunk))
    frames.append(sse("[DONE]"))
    return frames


def _openai_chunk(completion_id: str, model: str, choices: list[Json]) -> Json:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "choices": choices,
        "usage": None,
    }


# --- Anthropic Messages -----------------------------------------------------------------------


def anthropic_usage(reply: Reply, *, output_tokens: int | None = None) -> Json:
    """Anthropic counts cached input apart: ``input_tokens`` excludes cache reads."""
    return {
        "input_tokens": max(0, reply.input_tokens - reply.cached_tokens),
        "output_tokens": reply.output_tokens if output_tokens is None else output_tokens,
        "cache_read_input_tokens": reply.cached_tokens,
        "cache_creation_input_tokens": 0,
    }


def _anthropic_blocks(reply: Reply, ids: Ids) -> list[Json]:
    blocks: list[Json] = []
    if reply.text:
        blocks.append({"type": "text", "text": reply.text})
    for name, arguments in reply.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": ids.next("toolu_"), "name": name, "input": arguments}
        )
    return blocks


def _anthropic_envelope(model: str, ids: Ids, content: list[Json], usage: Json) -> Json:
    return {
        "id": ids.next("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }


def anthropic_message(reply: Reply, model: str, ids: Ids) -> Json:
    message = _anthropic_envelope(model, ids, [], anthropic_usage(reply))
    message["content"] = _anthropic_blocks(reply, ids)
    message["stop_reason"] = finish_reason(reply, "anthropic")
    return message


def anthropic_stream(reply: Reply, model: str, ids: Ids) -> list[bytes]:
    """The SSE frames of a streamed message, from ``message_start`` to ``message_stop``."""
    start = _anthropic_envelope(model, ids, [], anthropic_usage(reply, output_tokens=1))
    frames = [sse({"type": "message_start", "message": start}, "message_start")]
    for index, block in enumerate(_anthropic_blocks(reply, ids)):
        frames += _anthropic_block_frames(index, block)
    delta = {"stop_reason": finish_reason(reply, "anthropic"), "stop_sequence": None}
    usage = {"output_tokens": reply.output_tokens}
    frames.append(sse({"type": "message_delta", "delta": delta, "usage": usage}, "message_delta"))
    frames.append(sse({"type": "message_stop"}, "message_stop"))
    return frames


def _anthropic_block_frames(index: int, block: Json) -> list[bytes]:
    if block["type"] == "text":
        opening: Json = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in text_pieces(block["text"])]
    else:
        opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        pieces = json_pieces(block["input"])
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
    start = {"type": "content_block_start", "index": index, "content_block": opening}
    frames = [sse(start, "content_block_start")]
    for delta in deltas:
        event = {"type": "content_block_delta", "index": index, "delta": delta}
        frames.append(sse(event, "content_block_delta"))
    frames.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
    return frames


def completion(protocol: Protocol, reply: Reply, model: str, ids: Ids) -> Json:
    """A non-streamed answer body."""
    if protocol == "anthropic":
        return anthropic_message(reply, model, ids)
    return openai_completion(reply, model, ids)


def stream_frames(
    protocol: Protocol, body: Json, reply: Reply, model: str, ids: Ids
) -> list[bytes]:
    """The SSE frames of a streamed answer to a request with ``body``."""
    if protocol == "anthropic":
        return anthropic_stream(reply, model, ids)
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    return openai_stream(reply, model, ids, include_usage=include_usage)


def parse_body(raw: bytes) -> Json:
    """A request body as a dict; anything else is kept under ``_raw``."""
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {"_raw": raw.decode(errors="replace")}
    return body if isinstance(body, dict) else {"_raw": body}


# --- HTTP -------------------------------------------------------------------------------------


class ResponseWriter(BaseHTTPRequestHandler):
    """HTTP/1.1 responses: JSON bodies, chunked SSE streams, and abrupt drops."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the recorded requests instead."""

    def send_json(
        self,
        status: int,
        payload: Json,
        *,
        retry_after: float | None = None,
        drop: bool = False,
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_body(status, data, retry_after=retry_after, drop=drop)

    def send_body(
        self,
        status: int,
        data: bytes,
        *,
        content_type: str = "application/json",
        retry_after: float | None = None,
        drop: bool = False,
    ) -> None:
        """Send ``data``; with ``drop``, only its first half, then close the connection."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self._retry_after_header(retry_after)
        self.end_headers()
        self.wfile.write(data[: len(data) // 2] if drop else data)
        if drop:
            self.abort()

    def send_stream(
        self, frames: list[bytes], drop_after: int | None, retry_after: float | None
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self._retry_after_header(retry_after)
        self.end_headers()
        for index, frame in enumerate(frames):
            if drop_after is not None and index >= drop_after:
                self.abort()
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _retry_after_header(self, retry_after: float | None) -> None:
        if retry_after is not None:
            value = int(retry_after) if float(retry_after).is_integer() else retry_after
            self.send_header("Retry-After", str(value))

    def abort(self) -> None:
        """Close the connection without finishing the response."""
        with contextlib.suppress(OSError):
            self.wfile.flush()
        shutdown_socket(self.connection)
        self.close_connection = True


def shutdown_socket(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
