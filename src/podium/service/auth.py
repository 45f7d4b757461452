"""Who is calling, and what each role may do in a namespace.

A :class:`Caller` holds one role per namespace (an API key: one namespace; an OIDC token: what
its roles claim maps to). Roles grant permissions::

    viewer    read
    operator  read, operate (start, signal, cancel, resume, resolve)
    approver  read, decide (approve, reject)
    admin     read, operate, decide, admin (keys, deployments, operator log)

API keys are ``pdm_<key id>_<secret>``: the store keeps the key id and a salted scrypt hash of
the secret (:mod:`podium.store.control`). Every authentication re-reads the key's row, so a
revocation takes effect at once on every replica; only the (slow) hash comparison is cached, by
the SHA-256 of the whole token.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import anyio
import anyio.to_thread

from podium.errors import PodiumError, UserError
from podium.policy import Principal
from podium.store import Store
from podium.store.control import ROLES, ApiKey, hash_secret, secret_matches

Permission = Literal["read", "operate", "decide", "admin"]
GRANTS: Mapping[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "operator": frozenset({"read", "operate"}),
    "approver": frozenset({"read", "decide"}),
    "admin": frozenset({"read", "operate", "decide", "admin"}),
}
NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_TOKEN = re.compile(r"pdm_(?P<id>[a-f0-9]{16})_(?P<secret>[A-Za-z0-9_-]{43})")


class Unauthenticated(PodiumError):
    """No credential, or one that is unknown, expired, revoked or for another audience."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Caller:
    """An authenticated principal: ``name`` (a key's label or a token's subject),
    ``credential`` (``key:<id>`` or ``oidc:<subject>``), the client address, and its roles."""

    name: str
    credential: str
    source: str
    roles: Mapping[str, str] = field(default_factory=dict)  # namespace -> role

    def can(self, namespace: str, permission: Permission) -> bool:
        role = self.roles.get(namespace) or self.roles.get("*")
        return role is not None and permission in GRANTS.get(role, frozenset())

    def namespaces(self, permission: Permission = "read") -> list[str]:
        return sorted(ns for ns in self.roles if ns != "*" and self.can(ns, permission))

    def principal(self, namespace: str) -> Principal:
        """The approvals principal of this caller in ``namespace`` (its role names)."""
        role = self.roles.get(namespace) or self.roles.get("*") or ""
        roles = {"approver", "admin"} if role == "admin" else {role} - {""}
        return Principal(self.name, frozenset(roles))


def check_namespace(namespace: str) -> str:
    if not NAMESPACE.fullmatch(namespace):
        raise UserError(f"namespace {namespace!r}: use letters, digits, '_', '.', '-' (at most 63)")
    return namespace


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"role {role!r}: one of {', '.join(ROLES)}")
    return role


def new_api_key(
    namespace: str, role: str, *, expires_at: float | None, label: str = "", by: str = ""
) -> tuple[ApiKey, str]:
    """A new key and its token (``pdm_<id>_<secret>``), shown once."""
    check_namespace(namespace)
    check_role(role)
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    salt = os.urandom(16)
    key = ApiKey(
        key_id=key_id, namespace=namespace, role=role, salt=salt,
        secret_hash=hash_secret(secret, salt), created_at=time.time(), expires_at=expires_at,
        label=label or f"key-{key_id}", created_by=by,
    )  # fmt: skip
    return key, f"pdm_{key_id}_{secret}"


class KeyAuthenticator:
    """API keys to callers (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._verified: dict[str, str] = {}  # sha256(token) -> key id whose hash matched
        self._hashing = anyio.Lock()  # one scrypt at a time, off the event loop

    def looks_like_key(self, token: str) -> bool:
        return token.startswith("pdm_")

    async def authenticate(self, token: str, source: str) -> Caller:
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise Unauthenticated("malformed API key")
        key = await self.store.get_api_key(match["id"])
        if key is None:
            raise Unauthenticated("unknown API key")
        fingerprint = hashlib.sha256(token.encode()).hexdigest()
        if self._verified.get(fingerprint) != key.key_id:
            async with self._hashing:  # a burst of one new token hashes it once
                if self._verified.get(fingerprint) != key.key_id:
                    secret = match["secret"]
                    ok = await anyio.to_thread.run_sync(
                        lambda: secret_matches(secret, key.salt, key.secret_hash)
                    )
                    if not ok:
                        raise Unauthenticated("unknown API key")
                    self._verified[fingerprint] = key.key_id
        return key_caller(key, source)


def key_caller(key: ApiKey, source: str) -> Caller:
    """The caller a key stands for as its row is now: refused once revoked or expired (one
    rule for bearer keys and console sessions)."""
    if key.revoked_at is not None:
        raise Unauthenticated("API key revoked")
    if key.expires_at is not None and key.expires_at <= time.time():
        raise Unauthenticated("API key expired")
    return Caller(
        name=key.label, credential=f"key:{key.key_id}", source=source,
        roles={key.namespace: key.role},
    )  # fmt: skip


__all__ = [
    "GRANTS",
    "Caller",
    "KeyAuthenticator",
    "Permission",
    "Unauthenticated",
    "check_namespace",
    "check_role",
    "key_caller",
    "new_api_key",
]
