"""What every console page shares: templates, the session caller, CSRF, errors as HTML pages,
and the security headers (strict CSP, no framing)."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from podium.errors import PermissionDenied, PodiumError, RunNotFound, UserError
from podium.server.console.session import COOKIE, Session, Sessions, caller_for
from podium.server.deps import state_of
from podium.service import Caller, ControlPlane, DeploymentNotFound, Unauthenticated

HERE = Path(__file__).parent
templates = Jinja2Templates(
    env=jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make Chrome send Origin: null
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeaders:
    """The console's headers on every response outside ``/v1`` (the API keeps its own docs);
    plain ASGI, so server-sent events stream through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else "/v1"
        if path.startswith("/v1"):
            await self.app(scope, receive, send)
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
        if not path.startswith("/static/"):
            extra.append((b"cache-control", b"no-store"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in extra}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + extra}
            await send(message)

        await self.app(scope, receive, with_headers)


class NeedLogin(Exception):
    """No valid session: pages redirect to the login form."""


class CsrfRefused(Exception):
    """A POST without the session's CSRF token (or from another origin)."""


class ConsoleRoute(APIRoute):
    """Renders the control plane's refusals as HTML pages with the matching status."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except NeedLogin:
                return RedirectResponse("/login", status_code=303)
            except CsrfRefused:
                return error_page(request, 403, "This form is stale or forged (CSRF check).")
            except (RunNotFound, DeploymentNotFound):
                return error_page(request, 404, "Not found.")
            except PermissionDenied as error:
                return error_page(request, 403, str(error))
            except (UserError, PodiumError) as error:
                return error_page(request, 400, str(error))

        return guarded


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    response: HTMLResponse = templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message, "me": None},
        status_code=status,
    )  # fmt: skip
    return response


def sessions_of(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.console_sessions
    return sessions


@dataclass(slots=True)
class Me:
    """The logged-in caller, its session and its CSRF token (every form carries it)."""

    caller: Caller
    session: Session
    csrf: str
    plane: ControlPlane

    def can(self, namespace: str, permission: str) -> bool:
        return self.caller.can(namespace, permission)  # type: ignore[arg-type]

    @property
    def namespaces(self) -> list[str]:
        return sorted(self.caller.roles)


async def me_of(request: Request) -> Me:
    sessions = sessions_of(request)
    plane = state_of(request).plane
    source = request.client.host if request.client else ""
    try:
        session = sessions.read(request.cookies.get(COOKIE))
        caller = await caller_for(plane.store, session, source)
    except Unauthenticated:
        raise NeedLogin() from None
    return Me(caller=caller, session=session, csrf=sessions.csrf(session), plane=plane)


async def checked_me(request: Request) -> Me:
    """The caller of a POST whose CSRF token and Origin match its session."""
    me = await me_of(request)
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise CsrfRefused()
    form = await request.form()
    token = form.get("csrf")
    if not sessions_of(request).check_csrf(me.session, token if isinstance(token, str) else None):
        raise CsrfRefused()
    return me


MeDep = Annotated[Me, Depends(me_of)]
PostDep = Annotated[Me, Depends(checked_me)]


def page(request: Request, name: str, me: Me | None, **context: Any) -> HTMLResponse:
    context = {"me": me, "now": time.time(), **context}
    response: HTMLResponse = templates.TemplateResponse(request, name, context)
    return response


def when(ts: float | None) -> str:
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + "Z"


templates.env.filters["when"] = when
