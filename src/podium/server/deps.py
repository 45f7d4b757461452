"""What every request carries: the control plane, and the authenticated caller.

``Authorization: Bearer pdm_...`` is an API key; any other bearer token is checked by the OIDC
verifier when the server has one (:mod:`podium.server.oidc`). No credential: 401.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from podium.service import Caller, ControlPlane, KeyAuthenticator, Unauthenticated

TokenVerifier = Callable[[str, str], Awaitable[Caller]]


@dataclass(slots=True)
class ServerState:
    plane: ControlPlane
    keys: KeyAuthenticator
    oidc: TokenVerifier | None = None
    poll_seconds: float = 0.2  # how often an SSE follower looks at the store


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.podium
    return state


async def caller_of(request: Request) -> Caller:
    state = state_of(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("no bearer credential")
    token = token.strip()
    source = request.client.host if request.client else ""
    if state.keys.looks_like_key(token):
        return await state.keys.authenticate(token, source)
    if state.oidc is None:
        raise Unauthenticated("unknown credential (this server accepts API keys only)")
    return await state.oidc(token, source)


async def plane_of(request: Request) -> ControlPlane:
    return state_of(request).plane


CallerDep = Annotated[Caller, Depends(caller_of)]
PlaneDep = Annotated[ControlPlane, Depends(plane_of)]
