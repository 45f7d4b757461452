"""The app ``podium serve`` runs, built from its environment (so uvicorn can build it in any
process): ``PODIUM_DB`` (the store), ``PODIUM_SERVE_WORKER`` (``1``: an in-process worker; the
default on SQLite), ``PODIUM_MAX_BODY_BYTES``, ``PODIUM_SSE_POLL`` (seconds) and the OIDC
settings of :func:`podium.server.oidc.from_env`."""

from __future__ import annotations

import os

from fastapi import FastAPI

from podium.server.app import create_app
from podium.server.limits import MAX_BODY_BYTES
from podium.server.oidc import from_env
from podium.store.open import open_store


def build() -> FastAPI:
    db = os.environ.get("PODIUM_DB", ".podium/podium.db")
    store = open_store(db)
    default_worker = "0" if db.startswith(("postgres://", "postgresql://")) else "1"
    worker = os.environ.get("PODIUM_SERVE_WORKER", default_worker) == "1"
    return create_app(
        store,
        worker=worker,
        oidc=from_env(),
        max_body_bytes=int(os.environ.get("PODIUM_MAX_BODY_BYTES", MAX_BODY_BYTES)),
        poll_seconds=float(os.environ.get("PODIUM_SSE_POLL", "0.2")),
    )
