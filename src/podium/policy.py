"""Policy vocabulary: who may do what, when a person must decide, and what is secret.

Pure definitions; the runtime enforces them outside the model. Nothing a model writes can change
an agent's identity, its scopes or the rules here: they come from code and configuration only.
"""

from __future__ import annotations

import hashlib
import json
import math
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
    logged or shown (tool results, error messages, model-visible text).

    Every rendering of a value counts: the text itself, its JSON and ``repr`` escapes, and for
    a value that is a number (``4921`` or ``"4921"``) the number as ``4921`` and ``4921.0``; a
    number in a result (``{"pin": 4921}``) whose digits hold a secret becomes the redacted
    text. A rendering of :attr:`MIN_LENGTH` characters or more is replaced wherever it occurs,
    even inside longer text. A shorter one (a 3-digit CVV) is replaced where it stands alone:
    as a whole value, or as a token that no letter or digit touches (``CVV 123.`` is
    redacted, ``A1234`` is left alone), since replacing it inside words would destroy
    ordinary text. An empty value redacts nothing.
    """

    MIN_LENGTH = 4  # shorter renderings are replaced as whole tokens only

    def __init__(self) -> None:
        self._values: dict[str, str] = {}  # rendering -> secret name (anywhere in text)
        self._short: dict[str, str] = {}  # rendering -> secret name (whole tokens only)
        self._ordered: list[tuple[str, str]] = []
        self._token: re.Pattern[str] | None = None

    def add(self, name: str, value: object) -> None:
        for rendering in renderings(value):
            if len(rendering) >= self.MIN_LENGTH:
                self._values[rendering] = name
            elif rendering:
                self._short[rendering] = name
        self._ordered = sorted(self._values.items(), key=lambda kv: -len(kv[0]))
        if self._short:
            words = "|".join(re.escape(w) for w in sorted(self._short, key=len, reverse=True))
            self._token = re.compile(f"(?<![A-Za-z0-9])(?:{words})(?![A-Za-z0-9])")

    def __bool__(self) -> bool:
        return bool(self._values or self._short)

    def text(self, value: str) -> str:
        for secret, name in self._ordered:
            if secret in value:
                value = value.replace(secret, f"[secret:{name}]")
        if self._token is not None:
            value = self._token.sub(lambda m: f"[secret:{self._short[m.group()]}]", value)
        return value

    def value(self, value: Any) -> Any:
        """Redact anywhere in a JSON-like value: strings, dict keys, and numbers or booleans
        whose rendering holds a secret (they become the redacted text)."""
        if not self:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bool | int | float):
            shown = json.dumps(value)
            redacted = self.text(shown)
            return value if redacted == shown else redacted
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


def renderings(value: object) -> set[str]:
    """The ways a secret's value may be written out: itself, its JSON and repr escapes, and
    for a number (or a string that is one) its integer and float forms."""
    if isinstance(value, bool):
        return {str(value), json.dumps(value)}
    text = value if isinstance(value, str) else str(value)
    found = {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    found.add(repr(text)[1:-1])
    number = _as_number(value)
    if number is not None:
        found.update({str(number), json.dumps(number)})
        if float(number).is_integer() and abs(number) < 2**53:
            found.update({str(int(number)), f"{int(number)}.0"})
    found.discard("")
    return found


def _as_number(value: object) -> int | float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value if math.isfinite(value) else None
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


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
    "renderings",
    "scopes_of",
]
