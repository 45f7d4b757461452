"""Environments, promotions and promotion approvals: what the control plane keeps to move a
deployment version from one environment to the next (:mod:`podium.service.environments`).

- A namespace's **environments** are ordered (default ``dev, uat, preprod, prod``); each has
  :class:`EnvSettings`.
- A **promotion** row records a version entering an environment (``promote`` or ``force``) or the
  environment going back to the version it served before (``rollback``); the version an
  environment serves is :func:`serving`, a fold over its rows.
- A **promotion approval** is one row per approver of (version, environment): approving twice
  changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from podium.errors import UserError

PromotionKind = Literal["promote", "force", "rollback"]
DEFAULT_ENVIRONMENTS = ("dev", "uat", "preprod", "prod")
_SETTINGS = {
    "approvals", "approver_roles", "models", "secrets", "budget", "rate_limits",
    "approval_rules",
}  # fmt: skip


@dataclass(frozen=True, kw_only=True, slots=True)
class EnvSettings:
    """One environment's settings. ``approvals``: how many distinct approvers (never the
    version's author) holding one of ``approver_roles`` a promotion into it needs."""

    approvals: int = 0
    approver_roles: tuple[str, ...] = ("approver", "admin")
    models: Mapping[str, str] = field(default_factory=dict)  # model name -> override
    secrets: Mapping[str, str] = field(default_factory=dict)  # name -> secret reference
    budget: Mapping[str, float] = field(default_factory=dict)  # e.g. {"cost_usd": 5}
    rate_limits: Mapping[str, float] = field(default_factory=dict)  # e.g. {"runs_per_minute": 60}
    approval_rules: Sequence[Mapping[str, Any]] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "approvals": self.approvals, "approver_roles": list(self.approver_roles),
            "models": dict(self.models), "secrets": dict(self.secrets),
            "budget": dict(self.budget), "rate_limits": dict(self.rate_limits),
            "approval_rules": [dict(r) for r in self.approval_rules],
        }  # fmt: skip


def settings_of(where: str, raw: Mapping[str, Any]) -> EnvSettings:
    """Settings from their JSON/YAML form; an unknown key or a bad value is a UserError naming
    ``where``."""
    unknown = sorted(set(raw) - _SETTINGS)
    if unknown:
        raise UserError(f"{where}: unknown setting(s) {', '.join(unknown)}")
    approvals = raw.get("approvals", 0)
    if not isinstance(approvals, int) or isinstance(approvals, bool) or approvals < 0:
        raise UserError(f"{where}.approvals: a whole number >= 0, not {approvals!r}")
    roles = raw.get("approver_roles", ["approver", "admin"])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles) or not roles:
        raise UserError(f"{where}.approver_roles: a non-empty list of role names")
    maps = {}
    for key in ("models", "secrets", "budget", "rate_limits"):
        value = raw.get(key, {})
        if not isinstance(value, dict):
            raise UserError(f"{where}.{key}: a mapping, not {type(value).__name__}")
        maps[key] = value
    rules = raw.get("approval_rules", [])
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise UserError(f"{where}.approval_rules: a list of mappings")
    return EnvSettings(
        approvals=approvals, approver_roles=tuple(roles), models=maps["models"],
        secrets=maps["secrets"], budget=maps["budget"], rate_limits=maps["rate_limits"],
        approval_rules=tuple(rules),
    )  # fmt: skip


@dataclass(frozen=True, kw_only=True, slots=True)
class Environment:
    namespace: str
    name: str
    position: int  # 0 for the first (dev); promotions go from position n to n + 1
    settings: EnvSettings = field(default_factory=EnvSettings)


def default_environments(namespace: str) -> list[Environment]:
    """dev (no approvals), uat and preprod (one approver), prod (two distinct approvers)."""
    counts = {"dev": 0, "uat": 1, "preprod": 1, "prod": 2}
    return [
        Environment(
            namespace=namespace,
            name=name,
            position=i,
            settings=EnvSettings(approvals=counts[name]),
        )
        for i, name in enumerate(DEFAULT_ENVIRONMENTS)
    ]


@dataclass(frozen=True, kw_only=True, slots=True)
class Promotion:
    namespace: str
    name: str  # the deployment
    env: str
    seq: int  # 1, 2, ... per (namespace, name, env); assigned by the store
    kind: PromotionKind
    version: int  # the version the environment serves after this row
    created_at: float = 0.0
    created_by: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class PromotionApproval:
    namespace: str
    name: str
    version: int
    env: str
    approver: str
    role: str
    created_at: float = 0.0


def serving_stack(history: Sequence[Promotion]) -> list[int]:
    """The versions an environment served, oldest first, after ``history`` (oldest first): a
    promotion pushes its version, a rollback pops the top one."""
    stack: list[int] = []
    for row in history:
        if row.kind == "rollback":
            if stack:
                stack.pop()
        else:
            stack.append(row.version)
    return stack


def serving(history: Sequence[Promotion]) -> int | None:
    stack = serving_stack(history)
    return stack[-1] if stack else None


class EnvironmentStore:
    """The store contract of environments and promotions (SQLite and PostgreSQL implement it;
    :mod:`podium.testing.environment_conformance` is its test suite)."""

    async def put_environments(self, namespace: str, envs: Sequence[Environment]) -> None:
        """Replace the namespace's environments (in ``position`` order)."""
        raise NotImplementedError(f"{type(self).__name__} does not keep environments")

    async def get_environments(self, namespace: str) -> list[Environment]:
        """The configured environments in order; empty if none are configured."""
        raise NotImplementedError(f"{type(self).__name__} does not keep environments")

    async def add_promotion(self, promotion: Promotion) -> Promotion:
        """Append a promotion row (its ``seq`` and ``created_at`` are assigned here)."""
        raise NotImplementedError(f"{type(self).__name__} does not keep promotions")

    async def promotions(self, namespace: str, name: str, env: str) -> list[Promotion]:
        """The rows of one deployment in one environment, oldest first."""
        raise NotImplementedError(f"{type(self).__name__} does not keep promotions")

    async def approve_promotion(self, approval: PromotionApproval) -> bool:
        """Record an approval; False (nothing written) if that approver already approved."""
        raise NotImplementedError(f"{type(self).__name__} does not keep promotion approvals")

    async def promotion_approvals(
        self, namespace: str, name: str, version: int, env: str
    ) -> list[PromotionApproval]:
        raise NotImplementedError(f"{type(self).__name__} does not keep promotion approvals")


def promotion_of(row: Sequence[Any]) -> Promotion:
    namespace, name, env, seq, kind, version, created_at, created_by = row
    return Promotion(
        namespace=namespace, name=name, env=env, seq=int(seq), kind=kind, version=int(version),
        created_at=float(created_at), created_by=created_by,
    )  # fmt: skip


def approval_of(row: Sequence[Any]) -> PromotionApproval:
    namespace, name, version, env, approver, role, created_at = row
    return PromotionApproval(
        namespace=namespace, name=name, version=int(version), env=env, approver=approver,
        role=role, created_at=float(created_at),
    )  # fmt: skip


PROMOTION_COLUMNS = "namespace, name, env, seq, kind, version, created_at, created_by"
APPROVAL_COLUMNS = "namespace, name, version, env, approver, role, created_at"

__all__ = [
    "APPROVAL_COLUMNS",
    "DEFAULT_ENVIRONMENTS",
    "PROMOTION_COLUMNS",
    "EnvSettings",
    "Environment",
    "EnvironmentStore",
    "Promotion",
    "PromotionApproval",
    "PromotionKind",
    "approval_of",
    "default_environments",
    "promotion_of",
    "serving",
    "serving_stack",
    "settings_of",
]
