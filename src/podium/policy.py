"""Policy vocabulary: who may do what, when a person must decide, and what is secret.

Pure definitions; the runtime enforces them outside the model. Nothing a model writes can change
an agent's identity, its scopes or the rules here: they come from code and configuration only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import JsonValue

from podium.errors import SpecError

UntrustedPolicy = Literal["approve", "refuse", "allow"]
"""What happens when an agent proposes a consequential tool call after untrusted content
(a tool result, a fetched document, another agent's text) entered its context: ask a person,
refuse the call, or (not recommended) allow it."""

_ROLE = re.compile(r"^[A-Za-z0-9_.:@-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Principal:
    """A person (or service) deciding approvals: a name and the roles it holds."""

    name: str
    roles: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise SpecError("a principal needs a name")
        object.__setattr__(self, "roles", frozenset(self.roles))


@dataclass(frozen=True, kw_only=True, slots=True)
class ApprovalRule:
    """When a tool call needs a person's approval, and who may give it.

    ``when`` is a predicate on the validated arguments (``lambda a: a["amount"] > 1000``);
    ``None`` means always. A predicate that raises counts as "needs approval" (fail closed).
    After ``expires_after`` seconds without a decision the request is denied, or with
    ``on_expiry="escalate"`` passed on to the ``escalate_to`` role.
    """

    when: Callable[[Mapping[str, Any]], bool] | None = None
    role: str = "approver"
    expires_after: float | None = None
    on_expiry: Literal["deny", "escalate"] = "deny"
    escalate_to: str | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        check_role(self.role)
        if self.on_expiry not in ("deny", "escalate"):
            raise SpecError(f"on_expiry must be 'deny' or 'escalate', not {self.on_expiry!r}")
        if self.on_expiry == "escalate":
            if self.escalate_to is None or self.expires_after is None:
                raise SpecError("on_expiry='escalate' needs escalate_to and expires_after")
            check_role(self.escalate_to)
        if self.expires_after is not None and (
            isinstance(self.expires_after, bool) or self.expires_after <= 0
        ):
            raise SpecError(f"expires_after must be > 0 seconds, not {self.expires_after!r}")

    def applies(self, arguments: Mapping[str, Any]) -> bool:
        if self.when is None:
            return True
        try:
            return bool(self.when(arguments))
        except Exception:
            return True  # fail closed: a rule that cannot be evaluated asks a person


def check_role(role: str) -> str:
    if not isinstance(role, str) or not _ROLE.match(role):
        raise SpecError(f"role {role!r} must be 1-64 characters of letters, digits and _ . : @ -")
    return role


def action_digest(kind: str, subject: str, action: JsonValue) -> str:
    """A stable digest of exactly what is to be approved (canonical JSON)."""
    canonical = json.dumps(
        {"kind": kind, "subject": subject, "action": action},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


# -- secrets ------------------------------------------------------------------------------


class SecretsProvider(Protocol):
    """Where secret values come from. Only tools that declare a secret receive it."""

    def get(self, name: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class EnvSecrets:
    """Secrets from environment variables (``prefix + name``)."""

    prefix: str = ""

    def get(self, name: str) -> str | None:
        return os.environ.get(self.prefix + name)


@dataclass(frozen=True, slots=True)
class StaticSecrets:
    """Secrets from a mapping (tests, or a vault client's snapshot)."""

    values: Mapping[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.values.get(name)


class Redactor:
    """Replaces every known secret value with ``[secret:NAME]`` wherever it would be stored,
    logged or shown (tool results, error messages, model-visible text)."""

    MIN_LENGTH = 4  # shorter values would redact ordinary text

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def add(self, name: str, value: str) -> None:
        if len(value) >= self.MIN_LENGTH:
            self._values[value] = name

    def __bool__(self) -> bool:
        return bool(self._values)

    def text(self, value: str) -> str:
        for secret, name in sorted(self._values.items(), key=lambda kv: -len(kv[0])):
            if secret in value:
                value = value.replace(secret, f"[secret:{name}]")
        return value

    def value(self, value: Any) -> Any:
        """Redact strings anywhere in a JSON-like value (dict keys too)."""
        if not self._values:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


def scopes_of(values: Iterable[str] | None) -> frozenset[str]:
    if values is None:
        return frozenset()
    if isinstance(values, str):
        raise SpecError(f"scopes must be a list of names, not the string {values!r}")
    return frozenset(values)


__all__ = [
    "ApprovalRule",
    "EnvSecrets",
    "Principal",
    "Redactor",
    "SecretsProvider",
    "StaticSecrets",
    "UntrustedPolicy",
    "action_digest",
    "check_role",
    "scopes_of",
]
