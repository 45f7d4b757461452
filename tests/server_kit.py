"""Real `podium serve` processes for the server tests: uvicorn on a free loopback port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx

from podium.service import Caller, ControlPlane
from podium.store.open import open_store

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "tests" / "apps" / "served"
ADMIN = Caller(name="test-admin", credential="local:test", source="test", roles={"*": "admin"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def podium(
    db: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podium", "--db", db, *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env={**os.environ, **(env or {})},
    )  # fmt: skip


@contextmanager
def server(
    db: str, tmp: Path, *, worker: bool | None = None, env: dict[str, str] | None = None
) -> Iterator[str]:
    """A `podium serve` process; yields its base URL; stopped (SIGTERM) at the end."""
    port = free_port()
    args = [sys.executable, "-m", "podium", "--db", db, "serve", "--port", str(port)]
    if worker is not None:
        args.append("--worker" if worker else "--no-worker")
    log = (tmp / f"serve-{port}.log").open("w")
    cache = {"PODIUM_DEPLOY_CACHE": str(tmp / f"cache-{port}"), "PODIUM_SSE_POLL": "0.05"}
    proc = subprocess.Popen(
        args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, **cache, **(env or {})},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, proc, tmp / f"serve-{port}.log")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"podium serve exited: {log.read_text()}")
        try:
            if httpx.get(url + "/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"podium serve did not start: {log.read_text()}")


def make_key(db: str, namespace: str, role: str, **options: Any) -> str:
    """An API key created through the service layer (as `podium keys create` does)."""

    async def go() -> str:
        store = open_store(db)
        try:
            _, token = await ControlPlane(store).create_key(ADMIN, namespace, role, **options)
            return token
        finally:
            await store.close()

    return anyio.run(go)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Follower(threading.Thread):
    """An SSE client in a thread: collects ``(id, event, data)`` until ``event: end``."""

    def __init__(self, url: str, token: str, last_event_id: int | None = None) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.last = url, token, last_event_id
        self.messages: list[tuple[int | None, str, Any]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        headers = auth(self.token)
        if self.last is not None:
            headers["Last-Event-ID"] = str(self.last)
        try:
            with httpx.stream("GET", self.url, headers=headers, timeout=60) as response:
                assert response.status_code == 200, response.read()
                for message in _messages(response.iter_lines()):
                    self.messages.append(message)
                    if message[1] == "end":
                        return
        except BaseException as error:  # reported by the test
            self.error = error

    def ids(self) -> list[int]:
        return [m[0] for m in self.messages if m[0] is not None]

    def types(self) -> list[str]:
        return [m[1] for m in self.messages]


def _messages(lines: Iterator[str]) -> Iterator[tuple[int | None, str, Any]]:
    ident: int | None = None
    event, data = "message", ""
    for line in lines:
        if line == "":
            if data:
                yield ident, event, json.loads(data)
            ident, event, data = None, "message", ""
        elif line.startswith("id: "):
            ident = int(line[4:])
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data += line[6:]


@contextmanager
def worker_process(db: str, tmp: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A `podium worker` process beside the servers (stopped with SIGTERM)."""
    log = (tmp / "worker.log").open("w")
    env = {**os.environ, "PODIUM_DEPLOY_CACHE": str(tmp / "cache-worker")}
    args = [sys.executable, "-m", "podium", "--db", db, "worker", "--poll", "0.1"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
