"""The control plane's service layer: one core that the HTTP server and the CLI both call.

:class:`ControlPlane` holds the operations (deployments, keys, runs, approvals, costs, audit),
each taking the authenticated :class:`Caller` and enforcing its namespaces and role.
"""

from podium.service.auth import Caller, KeyAuthenticator, Unauthenticated
from podium.service.core import (
    ControlPlane,
    DeploymentNotFound,
    IdempotencyConflict,
    KeyNotFound,
)
from podium.service.environments import EnvironmentNotFound, PromotionRefused

__all__ = [
    "Caller",
    "ControlPlane",
    "DeploymentNotFound",
    "EnvironmentNotFound",
    "IdempotencyConflict",
    "KeyAuthenticator",
    "KeyNotFound",
    "PromotionRefused",
    "Unauthenticated",
]
