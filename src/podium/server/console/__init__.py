"""The web console of ``podium serve``, served at ``/`` beside the ``/v1`` API.

Server-rendered pages (Jinja2) over the same service layer as the API, with htmx and its SSE
extension (vendored, pinned, licences in ``static/LICENSES.txt``) for the live parts; no Node
build. Login is with an API key; the session is a signed HttpOnly SameSite=Strict cookie
(:mod:`podium.server.console.session`); every form carries a CSRF token; every page is sent
with a strict Content-Security-Policy and refuses framing (:mod:`podium.server.console.web`).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from podium.server.console import auth_pages, ops_pages, run_pages
from podium.server.console.session import Sessions
from podium.server.console.web import HERE, SecurityHeaders


def install(app: FastAPI, *, secret: bytes | None = None) -> None:
    """Serve the console on ``app``: pages at ``/``, assets at ``/static``."""
    app.state.console_sessions = Sessions(secret)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(auth_pages.router)
    app.include_router(run_pages.router)
    app.include_router(ops_pages.router)
    app.add_middleware(SecurityHeaders)


__all__ = ["install"]
