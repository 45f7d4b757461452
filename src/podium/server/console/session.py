"""The console's session: a signed, HttpOnly, SameSite=Strict cookie, and CSRF tokens.

The cookie holds no secret of the user: ``<payload>.<mac>`` where the payload names the API
key (its id), a random session id and an expiry, and the mac is HMAC-SHA256 under the server's
session secret (``PODIUM_CONSOLE_SECRET``; a random one per process when unset, so sessions end
with the process — set it on every replica behind one load balancer). Every request re-reads the
key's row, so a revoked or expired key ends its sessions at once.

A form's CSRF token is HMAC(secret, ``csrf:<session id>``): bound to the session, useless
without the cookie, and checked on every POST (:func:`check_csrf`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass

from podium.service import Caller, Unauthenticated
from podium.service.auth import key_caller
from podium.store import Store

COOKIE = "podium_session"
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    key_id: str
    sid: str
    expires_at: float


class Sessions:
    """Issues and checks session cookies and CSRF tokens under one secret."""

    def __init__(self, secret: bytes | None = None) -> None:
        env = os.environ.get("PODIUM_CONSOLE_SECRET", "")
        self.secret = secret or (env.encode() if env else secrets.token_bytes(32))

    def _mac(self, data: bytes) -> str:
        return hmac.new(self.secret, data, hashlib.sha256).hexdigest()

    def issue(self, key_id: str, *, seconds: float = SESSION_SECONDS) -> str:
        body = {"k": key_id, "s": secrets.token_urlsafe(16), "e": time.time() + seconds}
        payload = base64.urlsafe_b64encode(json.dumps(body).encode()).decode()
        return f"{payload}.{self._mac(payload.encode())}"

    def read(self, cookie: str | None) -> Session:
        if not cookie or "." not in cookie:
            raise Unauthenticated("no session")
        payload, _, mac = cookie.rpartition(".")
        if not hmac.compare_digest(mac, self._mac(payload.encode())):
            raise Unauthenticated("session signature does not match")
        try:
            body = json.loads(base64.urlsafe_b64decode(payload.encode()))
            session = Session(
                key_id=str(body["k"]), sid=str(body["s"]), expires_at=float(body["e"])
            )
        except (ValueError, KeyError, TypeError):
            raise Unauthenticated("malformed session") from None
        if session.expires_at <= time.time():
            raise Unauthenticated("session expired")
        return session

    def csrf(self, session: Session) -> str:
        return self._mac(f"csrf:{session.sid}".encode())

    def check_csrf(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf(session))


async def caller_for(store: Store, session: Session, source: str) -> Caller:
    """The caller a session stands for, from the key's row as it is now."""
    key = await store.get_api_key(session.key_id)
    if key is None:
        raise Unauthenticated("unknown API key")
    return key_caller(key, source)
