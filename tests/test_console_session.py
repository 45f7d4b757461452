"""The console's session through the app (httpx's ASGI transport): a revoked key ends its
sessions at once, a tampered cookie is no session, and the login form needs its own CSRF token
and a valid key."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from podium.server.console.session import COOKIE
from server_kit import ADMIN
from server_world import A, World, make_world

pytestmark = pytest.mark.anyio


async def _login(world: World, token: str, *, csrf: bool = True) -> httpx.Response:
    form = await world.client.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert found
    data = {"api_key": token, "csrf": found[1] if csrf else "forged"}
    return await world.client.post("/login", data=data)


async def test_a_revoked_key_ends_its_session_at_once(tmp_path: Path) -> None:
    world = await make_world(tmp_path)
    token = world.keys[A, "operator"]
    assert (await _login(world, token)).headers["location"] == "/runs"
    assert (await world.client.get("/runs")).status_code == 200
    await world.plane.revoke_key(ADMIN, token.split("_")[1])
    gone = await world.client.get("/runs")
    assert gone.status_code == 303
    assert gone.headers["location"] == "/login"


async def test_a_tampered_cookie_is_no_session(tmp_path: Path) -> None:
    world = await make_world(tmp_path)
    await _login(world, world.keys[A, "viewer"])
    cookie = world.client.cookies[COOKIE]
    payload, _, mac = cookie.rpartition(".")
    world.client.cookies.set(COOKIE, payload + "x." + mac)
    assert (await world.client.get("/runs")).headers["location"] == "/login"


async def test_login_refuses_a_forged_form_and_a_bad_key(tmp_path: Path) -> None:
    world = await make_world(tmp_path)
    forged = await _login(world, world.keys[A, "admin"], csrf=False)
    assert forged.status_code == 403
    assert COOKIE not in forged.cookies
    for bad in world.bad.values():  # expired, revoked, unknown, garbage
        refused = await _login(world, bad)
        assert refused.status_code == 401, bad
        assert "That API key is not valid." in refused.text
        assert COOKIE not in refused.cookies
