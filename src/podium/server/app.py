"""The ASGI app of ``podium serve``: the ``/v1`` API over one store.

>>> app = create_app(SQLiteStore(".podium/podium.db"))     # doctest: +SKIP

The app keeps no state a second replica would miss: every request reads the store (API keys
and their revocation included), and SSE followers poll it. On SQLite, ``worker=True`` runs a
:class:`~podium.worker.Worker` in the same process (one command, a working control plane); on
PostgreSQL run ``podium worker`` processes beside any number of replicas.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

import podium.spec  # noqa: F401  (registers the YAML loader: deployed specs load)
from podium.errors import PodiumError
from podium.server import console, problems, routes_admin, routes_envs, routes_runs
from podium.server.deps import ServerState, TokenVerifier
from podium.server.limits import MAX_BODY_BYTES, BodyLimit
from podium.service import ControlPlane, KeyAuthenticator
from podium.store import Store
from podium.worker import Worker

API_VERSION = "1"


def create_app(
    store: Store,
    *,
    worker: bool = False,
    oidc: TokenVerifier | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    poll_seconds: float = 0.2,
    worker_options: dict[str, Any] | None = None,
) -> FastAPI:
    """The API over ``store``. ``worker``: also execute runs in this process."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner = Worker(store, **(worker_options or {"poll_interval": 0.2})) if worker else None
        async with anyio.create_task_group() as tg:
            if runner is not None:
                tg.start_soon(runner.run)
            try:
                yield
            finally:
                if runner is not None:
                    runner.stop()
        await store.close()

    app = FastAPI(
        title="Podium control plane",
        version=API_VERSION,
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.podium = ServerState(
        plane=ControlPlane(store), keys=KeyAuthenticator(store), oidc=oidc,
        poll_seconds=poll_seconds,
    )  # fmt: skip
    app.add_exception_handler(PodiumError, problems.podium_error)
    app.add_exception_handler(RequestValidationError, problems.validation_error)
    app.include_router(routes_runs.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_envs.router)
    console.install(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    @app.get("/v1/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
