"""OIDC bearer tokens (service accounts, client credentials), verified with PyJWT.

Pinned: the issuer (``iss``), the audience (``aud``), the algorithms (default ``RS256``,
``ES256``), and ``exp`` (required). The signing keys come from the issuer's JWKS (its
``jwks_uri``, found by discovery); PyJWT's :class:`jwt.PyJWKClient` caches them and fetches the
set again when a token names a ``kid`` it does not hold (key rotation). Roles come from one
claim (``roles_claim``, default ``podium_roles``): a mapping ``{namespace: role}``, or a list
(or space-separated string) of ``namespace:role``. A token without a valid role maps to no
namespace: every run is invisible to it.

Settings from the environment (:func:`from_env`): ``PODIUM_OIDC_ISSUER``,
``PODIUM_OIDC_AUDIENCE``, ``PODIUM_OIDC_ROLES_CLAIM``, ``PODIUM_OIDC_ALGORITHMS`` (comma
separated), ``PODIUM_OIDC_JWKS_URI`` (skip discovery), ``PODIUM_OIDC_LEEWAY`` (seconds of clock
skew allowed, default 5), ``PODIUM_OIDC_REFETCH_COOLDOWN`` (an unknown ``kid`` fetches the JWKS
again at most once per this many seconds, default 30).
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import jwt

from podium.errors import UserError
from podium.service import Caller, Unauthenticated
from podium.service.auth import GRANTS, NAMESPACE

DEFAULT_ALGORITHMS = ("RS256", "ES256")


@dataclass(frozen=True, kw_only=True, slots=True)
class OIDCSettings:
    issuer: str
    audience: str
    roles_claim: str = "podium_roles"
    algorithms: Sequence[str] = DEFAULT_ALGORITHMS
    jwks_uri: str | None = None
    leeway: float = 5.0  # seconds of clock skew allowed on exp/iat/nbf
    # an unknown kid fetches the JWKS again, at most once per this many seconds (a flood of
    # made-up kids must not become a flood of requests to the issuer)
    refetch_cooldown: float = 30.0


class OIDCVerifier:
    def __init__(self, settings: OIDCSettings) -> None:
        self.settings = settings
        self._client: jwt.PyJWKClient | None = None

    async def __call__(self, token: str, source: str) -> Caller:
        try:
            claims = await anyio.to_thread.run_sync(self._verify, token)
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"bearer token refused: {error}") from None
        subject = str(claims.get("sub") or claims.get("client_id") or "")
        if not subject:
            raise Unauthenticated("bearer token refused: no subject")
        return Caller(
            name=subject, credential=f"oidc:{subject}", source=source,
            roles=roles_from(claims.get(self.settings.roles_claim)),
        )  # fmt: skip

    def _verify(self, token: str) -> dict[str, Any]:
        key = self._jwks().get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token, key.key, algorithms=list(self.settings.algorithms),
            audience=self.settings.audience, issuer=self.settings.issuer,
            options={"require": ["exp", "iss", "aud"]}, leeway=self.settings.leeway,
        )  # fmt: skip
        return claims

    def _jwks(self) -> jwt.PyJWKClient:
        if self._client is None:
            uri = self.settings.jwks_uri or _discover(self.settings.issuer)
            self._client = jwt.PyJWKClient(
                uri, cache_keys=True, lifespan=300, timeout=10,
                cooldown_duration=self.settings.refetch_cooldown,
            )  # fmt: skip
        return self._client


def _discover(issuer: str) -> str:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            uri = json.load(response).get("jwks_uri")
    except (OSError, ValueError) as error:
        raise jwt.PyJWKClientConnectionError(f"OIDC discovery at {url} failed: {error}") from None
    if not isinstance(uri, str):
        raise jwt.PyJWKClientError(f"OIDC discovery at {url}: no jwks_uri")
    return uri


def roles_from(raw: Any) -> dict[str, str]:
    """``{namespace: role}`` from a roles claim (invalid entries are dropped)."""
    pairs: list[tuple[str, str]] = []
    if isinstance(raw, dict):
        pairs = [(str(k), str(v)) for k, v in raw.items()]
    else:
        items = raw.split() if isinstance(raw, str) else raw if isinstance(raw, list) else []
        for item in items:
            namespace, sep, role = str(item).rpartition(":")
            if sep:
                pairs.append((namespace, role))
    return {ns: role for ns, role in pairs if NAMESPACE.fullmatch(ns) and role in GRANTS}


def from_env() -> OIDCVerifier | None:
    issuer = os.environ.get("PODIUM_OIDC_ISSUER")
    if not issuer:
        return None
    algorithms = os.environ.get("PODIUM_OIDC_ALGORITHMS")
    audience = os.environ.get("PODIUM_OIDC_AUDIENCE", "")
    if not audience:
        raise UserError("PODIUM_OIDC_ISSUER is set without PODIUM_OIDC_AUDIENCE: pin both")
    return OIDCVerifier(
        OIDCSettings(
            issuer=issuer,
            audience=audience,
            roles_claim=os.environ.get("PODIUM_OIDC_ROLES_CLAIM", "podium_roles"),
            algorithms=tuple(algorithms.split(",")) if algorithms else DEFAULT_ALGORITHMS,
            jwks_uri=os.environ.get("PODIUM_OIDC_JWKS_URI") or None,
            leeway=float(os.environ.get("PODIUM_OIDC_LEEWAY", "5")),
            refetch_cooldown=float(os.environ.get("PODIUM_OIDC_REFETCH_COOLDOWN", "30")),
        )
    )
