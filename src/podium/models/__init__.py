"""Provider-neutral model contract, retry/failover wrappers and model strings."""

from podium.models.attempts import AttemptFailure, listen, report_failure
from podium.models.base import ALLOW_MODEL_REQUESTS_ENV, Model, check_model_request_allowed
from podium.models.limits import RateLimit
from podium.models.registry import infer_model, register_provider
from podium.models.resilience import FallbackModel, RetryModel
from podium.models.routing import Router, Rule
from podium.retry import RetryPolicy

__all__ = [
    "ALLOW_MODEL_REQUESTS_ENV",
    "AttemptFailure",
    "FallbackModel",
    "Model",
    "RateLimit",
    "RetryModel",
    "RetryPolicy",
    "Router",
    "Rule",
    "check_model_request_allowed",
    "infer_model",
    "listen",
    "register_provider",
    "report_failure",
]
