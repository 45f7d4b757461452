"""Log in with an API key, log out."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from podium.server.console.session import COOKIE, SESSION_SECONDS
from podium.server.console.web import ConsoleRoute, PostDep, page, sessions_of
from podium.server.deps import state_of
from podium.service import Unauthenticated

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
LOGIN_COOKIE = "podium_login"


def _cookie(response: Response, request: Request, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name, value, max_age=age, httponly=True, samesite="strict", path="/",
        secure=request.url.scheme == "https",
    )  # fmt: skip


@router.get("/login")
async def login_form(request: Request) -> Response:
    token = secrets.token_urlsafe(16)  # double-submit: the pre-session CSRF token
    response = page(request, "login.html", None, csrf=token, error="")
    _cookie(response, request, LOGIN_COOKIE, token, 600)
    return response


@router.post("/login")
async def login(request: Request, api_key: str = Form(""), csrf: str = Form("")) -> Response:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf):
        return _refused(request, "This form is stale; try again.", 403)
    keys = state_of(request).keys
    source = request.client.host if request.client else ""
    try:
        caller = await keys.authenticate(api_key.strip(), source)
    except Unauthenticated:
        return _refused(request, "That API key is not valid.", 401)
    key_id = caller.credential.removeprefix("key:")
    response = RedirectResponse("/runs", status_code=303)
    _cookie(response, request, COOKIE, sessions_of(request).issue(key_id), SESSION_SECONDS)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


def _refused(request: Request, message: str, status: int) -> Response:
    token = secrets.token_urlsafe(16)
    response = page(request, "login.html", None, csrf=token, error=message)
    response.status_code = status
    _cookie(response, request, LOGIN_COOKIE, token, 600)
    return response


@router.post("/logout")
async def logout(request: Request, me: PostDep) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
