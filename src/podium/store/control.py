"""What the control plane keeps beside the journals: deployments, API keys, the operator log and
idempotency keys (used by :mod:`podium.server`; backends implement :class:`ControlStore`).

- A **deployment version** is immutable and content-addressed: its ``digest`` covers its entry
  reference and every file of its bundle (the spec and the Python source it loads). Deploying the
  same content again returns the existing version.
- An **API key** is stored as a salted hash only (``scrypt``, a salt per key); the secret is shown
  once, when it is created.
- The **operator log** is hash-chained exactly like a run journal (:mod:`podium.store.chain`),
  under the reserved chain name :data:`OPERATOR_CHAIN`; :func:`verify_operator_log` checks it.
- An **idempotency key** binds a client's key (per namespace) to the digest of the request that
  first used it and to the run it started.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from podium.store import chain

OPERATOR_CHAIN = "operator-log"  # the run id the operator log's chain links are computed with
ROLES = ("viewer", "operator", "approver", "admin")
# scrypt cost: 2**14 x 8 x 1 uses 16 MiB and ~30 ms; the secret it hashes is 32 random bytes
SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def canonical(value: Any) -> str:
    """The one JSON text of ``value`` that digests are computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def bundle_digest(entry: str, files: Mapping[str, str]) -> str:
    """The content address of a deployment: SHA-256 over its entry and its files' digests."""
    manifest = {
        "entry": entry,
        "files": {path: hashlib.sha256(text.encode()).hexdigest() for path, text in files.items()},
    }
    return hashlib.sha256(canonical(manifest).encode()).hexdigest()


def hash_secret(secret: str, salt: bytes) -> str:
    """The stored hash of an API key's secret (hex)."""
    return hashlib.scrypt(secret.encode(), salt=salt, **SCRYPT, dklen=32).hex()


def secret_matches(secret: str, salt: bytes, expected_hex: str) -> bool:
    return hmac.compare_digest(hash_secret(secret, salt), expected_hex)


@dataclass(frozen=True, kw_only=True, slots=True)
class Deployment:
    """One immutable version of a named workflow in a namespace."""

    namespace: str
    name: str
    version: int  # 1, 2, ... per (namespace, name), in the order they were deployed
    digest: str  # bundle_digest(entry, files)
    entry: str  # a target reference inside the bundle: "flow.yaml" or "app.py:flow"
    files: Mapping[str, str] = field(default_factory=dict)  # relative path -> source text
    created_at: float = 0.0
    created_by: str = ""

    @property
    def ref(self) -> str:
        """What a run of this version records as its workflow (see podium.runtime.deployed)."""
        return f"deployment:{self.namespace}/{self.name}@{self.digest}"


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiKey:
    """An API key as stored: never its secret."""

    key_id: str
    namespace: str
    role: str
    salt: bytes
    secret_hash: str  # hash_secret(secret, salt)
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    label: str = ""
    created_by: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class OperatorAction:
    """A mutation made through a surface, and who made it."""

    principal: str  # who: a key's label or a token's subject
    credential: str  # "key:<key id>" or "oidc:<issuer> <subject>"
    source: str  # the client address
    action: str  # e.g. "run.start", "run.cancel", "key.create"
    namespace: str
    target: str = ""  # the run id, approval id, key id, deployment...
    detail: Mapping[str, Any] = field(default_factory=dict)

    def body(self) -> str:
        return canonical(
            {
                "principal": self.principal, "credential": self.credential,
                "source": self.source, "action": self.action, "namespace": self.namespace,
                "target": self.target, "detail": dict(self.detail),
            }
        )  # fmt: skip


@dataclass(frozen=True, kw_only=True, slots=True)
class OperatorEntry:
    seq: int
    ts: float
    action: OperatorAction
    digest: str  # hex SHA-256 of action.body()
    hash: str  # hex chain link


def link_operator(prev: bytes, seq: int, ts: float, action: OperatorAction) -> tuple[bytes, bytes]:
    """The digest and chain hash of the operator log row ``seq`` (raw bytes)."""
    digest = chain.digest(action.body())
    return digest, chain.link(prev, OPERATOR_CHAIN, seq, ts, action.action, digest)


def verify_operator_log(entries: Sequence[OperatorEntry]) -> list[str]:
    """Problems found in the operator log (empty: intact): a gap in the sequence, a body that
    does not match its digest, or a broken link."""
    problems: list[str] = []
    prev = chain.GENESIS
    for expected, entry in enumerate(entries, 1):
        if entry.seq != expected:
            problems.append(f"operator log: seq {expected} is missing (found {entry.seq})")
            return problems
        digest = chain.digest(entry.action.body())
        if digest.hex() != entry.digest:
            problems.append(f"operator log seq {entry.seq}: the body does not match its digest")
        stored = bytes.fromhex(entry.digest) if _is_hex(entry.digest) else digest
        link = chain.link(prev, OPERATOR_CHAIN, entry.seq, entry.ts, entry.action.action, stored)
        if link.hex() != entry.hash:
            problems.append(f"operator log seq {entry.seq}: the chain is broken here")
        prev = bytes.fromhex(entry.hash) if _is_hex(entry.hash) else link
    return problems


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


def action_of(fields: Mapping[str, Any]) -> OperatorAction:
    """An operator action from its stored columns (detail as JSON text)."""
    detail = fields["detail"]
    return OperatorAction(
        principal=str(fields["principal"]), credential=str(fields["credential"]),
        source=str(fields["source"]), action=str(fields["action"]),
        namespace=str(fields["namespace"]), target=str(fields["target"]),
        detail=json.loads(detail) if isinstance(detail, str) else dict(detail),
    )  # fmt: skip


class ControlStore:
    """The control plane's part of the store contract (SQLite and PostgreSQL implement it;
    :mod:`podium.testing.control_conformance` is its test suite)."""

    async def put_deployment(self, deployment: Deployment) -> tuple[Deployment, bool]:
        """Record a version (its ``version``, ``created_at`` are assigned here); if the same
        digest is already deployed under that name, return it and False (nothing written)."""
        raise NotImplementedError(f"{type(self).__name__} does not keep deployments")

    async def get_deployment(
        self, namespace: str, name: str, digest: str | None = None
    ) -> Deployment | None:
        """A version by digest, or the newest one; None if there is none."""
        raise NotImplementedError(f"{type(self).__name__} does not keep deployments")

    async def list_deployments(self, namespace: str | None = None) -> list[Deployment]:
        """Every version (files omitted), newest first."""
        raise NotImplementedError(f"{type(self).__name__} does not keep deployments")

    async def put_api_key(self, key: ApiKey) -> None:
        """Record a new key (an existing key id: ``StoreError``)."""
        raise NotImplementedError(f"{type(self).__name__} does not keep API keys")

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        raise NotImplementedError(f"{type(self).__name__} does not keep API keys")

    async def list_api_keys(self, namespace: str | None = None) -> list[ApiKey]:
        raise NotImplementedError(f"{type(self).__name__} does not keep API keys")

    async def revoke_api_key(self, key_id: str) -> bool:
        """Revoke now (store clock); False if unknown or already revoked."""
        raise NotImplementedError(f"{type(self).__name__} does not keep API keys")

    async def log_operator(self, action: OperatorAction) -> OperatorEntry:
        """Append to the operator log, chained in the append's transaction."""
        raise NotImplementedError(f"{type(self).__name__} does not keep an operator log")

    async def operator_log(self, *, after_seq: int = 0, limit: int = 10_000) -> list[OperatorEntry]:
        raise NotImplementedError(f"{type(self).__name__} does not keep an operator log")

    async def reserve_idempotency(
        self, namespace: str, key: str, request_digest: str, run_id: str
    ) -> tuple[str, str]:
        """Bind ``key`` to ``(request_digest, run_id)`` unless it is bound already; return the
        binding that holds (the earlier one if any)."""
        raise NotImplementedError(f"{type(self).__name__} does not keep idempotency keys")


__all__ = [
    "OPERATOR_CHAIN",
    "ROLES",
    "ApiKey",
    "ControlStore",
    "Deployment",
    "OperatorAction",
    "OperatorEntry",
    "bundle_digest",
    "canonical",
    "hash_secret",
    "link_operator",
    "secret_matches",
    "verify_operator_log",
]
