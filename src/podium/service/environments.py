"""Environments and gated promotion, as a part of :class:`~podium.service.core.ControlPlane`.

A deployment version enters a namespace's first environment (``dev``) by promotion, and each
later one only from the environment just before it, where it must be the version served. A
promotion into an environment needs ``approvals`` distinct approvers holding one of its
``approver_roles`` (the version's author can never approve it; approving twice counts once).
``force`` skips the approvals and the previous-environment rule; only an admin may force, and
the operator log says what was skipped. A rollback puts back the version the environment served
before its current one; runs already started keep the version they started with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from podium.errors import PermissionDenied, PodiumError, UserError
from podium.service.auth import Caller, Permission, check_namespace
from podium.store import Store
from podium.store.control import Deployment
from podium.store.environments import (
    Environment,
    Promotion,
    PromotionApproval,
    default_environments,
    serving,
    serving_stack,
    settings_of,
)


class EnvironmentNotFound(PodiumError):
    """No environment of that name in the namespace."""


class PromotionRefused(UserError):
    """A promotion or rollback whose conditions do not hold (the message says which)."""


class EnvironmentOps:
    """Mixed into :class:`ControlPlane` (which provides the store, role checks and the log)."""

    store: Store

    def _require(self, caller: Caller, namespace: str, permission: Permission) -> None:
        raise NotImplementedError

    async def _log(
        self, caller: Caller, action: str, namespace: str, target: str, detail: dict[str, Any]
    ) -> None:
        raise NotImplementedError

    async def _version(self, caller: Caller, namespace: str, name: str, version: int) -> Deployment:
        raise NotImplementedError

    async def environments(self, caller: Caller, namespace: str) -> list[Environment]:
        self._require(caller, check_namespace(namespace), "read")
        return await self.store.get_environments(namespace) or default_environments(namespace)

    async def configure_environments(
        self, caller: Caller, namespace: str, config: Mapping[str, Any]
    ) -> list[Environment]:
        """Replace the namespace's environments: ``config`` maps each name, in promotion order,
        to its settings (see :class:`~podium.store.environments.EnvSettings`)."""
        self._require(caller, check_namespace(namespace), "admin")
        if not config:
            raise UserError("environments: name at least one")
        envs = []
        for i, (name, raw) in enumerate(config.items()):
            check_namespace(str(name))
            if not isinstance(raw, Mapping):
                raise UserError(f"environments.{name}: a mapping of settings")
            settings = settings_of(f"environments.{name}", raw)
            envs.append(Environment(namespace=namespace, name=name, position=i, settings=settings))
        await self.store.put_environments(namespace, envs)
        detail = {"environments": {e.name: e.settings.as_dict() for e in envs}}
        await self._log(caller, "environments.configure", namespace, namespace, detail)
        return envs

    async def serving(self, caller: Caller, namespace: str, name: str) -> dict[str, int | None]:
        """The version each environment serves (None: none promoted there yet)."""
        out: dict[str, int | None] = {}
        for env in await self.environments(caller, namespace):
            out[env.name] = serving(await self.store.promotions(namespace, name, env.name))
        return out

    async def approve_promotion(
        self, caller: Caller, namespace: str, name: str, version: int, env: str
    ) -> tuple[list[PromotionApproval], bool]:
        """Approve promoting ``version`` into ``env``; the approvals so far and whether this
        one was new (an approver approving again is counted once)."""
        target = await self._environment(caller, namespace, env)
        deployment = await self._version(caller, namespace, name, version)
        role = _role(caller, namespace)
        if not caller.can(namespace, "decide") or role not in target.settings.approver_roles:
            wanted = " or ".join(target.settings.approver_roles)
            raise PermissionDenied(
                f"{caller.name} may not approve promotions into {env} (needs {wanted})"
            )
        if caller.name == deployment.created_by:
            raise PermissionDenied(
                f"{caller.name} authored {name} v{version} and cannot approve its promotion"
            )
        approval = PromotionApproval(
            namespace=namespace, name=name, version=version, env=env, approver=caller.name,
            role=role,
        )  # fmt: skip
        new = await self.store.approve_promotion(approval)
        if new:
            detail = {"version": version, "env": env}
            await self._log(caller, "promotion.approve", namespace, name, detail)
        return await self.store.promotion_approvals(namespace, name, version, env), new

    async def promote(
        self,
        caller: Caller,
        namespace: str,
        name: str,
        version: int,
        env: str,
        *,
        force: bool = False,
    ) -> Promotion:
        """Make ``env`` serve ``version`` for new runs (see the module's rules)."""
        self._require(caller, namespace, "admin" if force else "operate")
        target = await self._environment(caller, namespace, env)
        deployment = await self._version(caller, namespace, name, version)
        problems = await self._unmet(namespace, name, deployment, target)
        if problems and not force:
            raise PromotionRefused(f"{name} v{version} cannot enter {env}: " + "; ".join(problems))
        made = await self.store.add_promotion(
            Promotion(
                namespace=namespace, name=name, env=env, seq=0,
                kind="force" if force else "promote", version=version, created_by=caller.name,
            )
        )  # fmt: skip
        detail = {"version": version, "env": env, "digest": deployment.digest, "skipped": problems}
        action = "promotion.force" if force else "promotion.promote"
        await self._log(caller, action, namespace, name, detail)
        return made

    async def rollback(self, caller: Caller, namespace: str, name: str, env: str) -> Promotion:
        """Put back the version ``env`` served before its current one, for new runs at once."""
        self._require(caller, namespace, "operate")
        await self._environment(caller, namespace, env)
        stack = serving_stack(await self.store.promotions(namespace, name, env))
        if len(stack) < 2:
            raise PromotionRefused(f"{name} in {env}: no earlier version to roll back to")
        made = await self.store.add_promotion(
            Promotion(
                namespace=namespace, name=name, env=env, seq=0, kind="rollback",
                version=stack[-2], created_by=caller.name,
            )
        )  # fmt: skip
        detail = {"env": env, "from": stack[-1], "to": stack[-2]}
        await self._log(caller, "promotion.rollback", namespace, name, detail)
        return made

    async def serving_version(self, namespace: str, name: str, env: str) -> int:
        version = serving(await self.store.promotions(namespace, name, env))
        if version is None:
            raise PromotionRefused(f"no version of {name} has been promoted to {env}")
        return version

    async def _environment(self, caller: Caller, namespace: str, env: str) -> Environment:
        for found in await self.environments(caller, namespace):
            if found.name == env:
                return found
        raise EnvironmentNotFound(f"namespace {namespace!r} has no environment {env!r}")

    async def _unmet(
        self, namespace: str, name: str, deployment: Deployment, target: Environment
    ) -> list[str]:
        """What a promotion into ``target`` still lacks (empty: it may go ahead)."""
        problems: list[str] = []
        version = deployment.version
        if target.position > 0:
            envs = await self.store.get_environments(namespace) or default_environments(namespace)
            before = envs[target.position - 1].name
            served = serving(await self.store.promotions(namespace, name, before))
            if served != version:
                problems.append(f"{before} serves {_v(served)}, not v{version}")
        needed = target.settings.approvals
        approvers = {
            a.approver
            for a in await self.store.promotion_approvals(namespace, name, version, target.name)
            if a.approver != deployment.created_by and a.role in target.settings.approver_roles
        }
        if len(approvers) < needed:
            problems.append(f"{len(approvers)} of {needed} approval(s) by distinct approvers")
        return problems


def _role(caller: Caller, namespace: str) -> str:
    return caller.roles.get(namespace) or caller.roles.get("*") or ""


def _v(version: int | None) -> str:
    return "nothing" if version is None else f"v{version}"


__all__ = ["EnvironmentNotFound", "EnvironmentOps", "PromotionRefused"]
