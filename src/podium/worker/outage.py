"""One log line when the store becomes unavailable and one when it is back, however many
attempts fail in between (a restarting database fails every claim and every renewal)."""

from __future__ import annotations

import logging
import time


class OutageLog:
    """Tracks failures of the store across a worker's loops; logs the first and the recovery."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._since: float | None = None
        self._failures = 0

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, doing: str, error: BaseException) -> None:
        """An operation on the store failed: the first failure of an outage is logged."""
        self._failures += 1
        if self._since is None:
            self._since = time.monotonic()
            self._log.warning(
                "store unavailable (%s failed: %s); retrying quietly until it is back",
                doing,
                " ".join(str(error).split()),
            )

    def succeeded(self) -> None:
        """An operation on the store succeeded: the end of an outage is logged."""
        if self._since is None:
            return
        took = time.monotonic() - self._since
        self._log.warning(
            "store available again after %.1f s (%d failed attempts)", took, self._failures
        )
        self._since, self._failures = None, 0


__all__ = ["OutageLog"]
