"""A TCP proxy in front of a real server, for outage tests: ``cut()`` drops every connection
and refuses new ones (as a database restarting does), ``restore()`` serves again on the same
port. Threads and plain sockets; test code only."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from urllib.parse import urlsplit, urlunsplit


class TcpProxy:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._parts = parts
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._refuser: socket.socket | None = None
        self.port = 0
        self.refused = 0

    @property
    def url(self) -> str:
        """The server's URL with the proxy's host and port."""
        auth = self._parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{self.port}" if auth else f"127.0.0.1:{self.port}"
        return urlunsplit(self._parts._replace(netloc=netloc))

    def start(self) -> TcpProxy:
        self._listener = self._listen(self._serve)
        return self

    def cut(self) -> None:
        """Drop every connection; until :meth:`restore`, accept and close at once."""
        self._close_listener()
        with self._lock:
            conns, self._open = self._open, []
        for conn in conns:
            _close(conn)
        self._refuser = self._listen(self._refuse)

    def restore(self) -> None:
        if self._refuser is not None:
            _close(self._refuser)
            self._refuser = None
        self._listener = self._listen(self._serve)

    def wait_refused(self, count: int, timeout: float = 30) -> None:
        """Until ``count`` more connection attempts were refused since this call."""
        target, end = self.refused + count, time.monotonic() + timeout
        while self.refused < target:
            if time.monotonic() > end:
                raise AssertionError(f"only {self.refused} attempts refused")
            time.sleep(0.02)

    def stop(self) -> None:
        self._close_listener()
        if self._refuser is not None:
            _close(self._refuser)
        with self._lock:
            conns, self._open = self._open, []
        for conn in conns:
            _close(conn)

    # -- internals ----------------------------------------------------------------------

    def _listen(self, handle: object) -> socket.socket:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        threading.Thread(target=self._accept, args=(listener, handle), daemon=True).start()
        return listener

    def _close_listener(self) -> None:
        if self._listener is not None:
            _close(self._listener)
            self._listener = None

    def _accept(self, listener: socket.socket, handle: object) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            handle(client)  # type: ignore[operator]

    def _refuse(self, client: socket.socket) -> None:
        self.refused += 1
        _close(client)

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self._target)
        except OSError:
            _close(client)
            return
        with self._lock:
            self._open += [client, upstream]
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    conn.close()
