"""Errors as RFC 9457 ``application/problem+json``: one line, a stable ``code``.

=====================  ======  ==================================================
code                   status  when
=====================  ======  ==================================================
unauthenticated        401     no credential, or unknown, expired, revoked, wrong audience
forbidden              403     the role does not allow it in that namespace (or self-approval)
not_found              404     no such run or approval — or one of another tenant
deployment_not_found   404     no such deployment in the namespace
environment_not_found  404     no such environment in the namespace
promotion_refused      409     a promotion or rollback whose conditions do not hold
key_not_found          404     no such API key in a namespace the caller can read
malformed_json         400     the body is not JSON
invalid_request        422     wrong fields or types, a bad value
idempotency_conflict   422     an Idempotency-Key reused with a different body
approval_mismatch      409     the decision names another action digest
conflict               409     the run is not in a state that allows it
payload_too_large      413     the body is over the limit (see ``MAX_BODY_BYTES``)
store_unavailable      503     the store failed
=====================  ======  ==================================================
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from podium.errors import (
    ApprovalMismatch,
    PermissionDenied,
    PodiumError,
    RunNotFound,
    RunStateError,
    StoreError,
    UserError,
)
from podium.service import (
    DeploymentNotFound,
    EnvironmentNotFound,
    IdempotencyConflict,
    KeyNotFound,
    PromotionRefused,
    Unauthenticated,
)

MEDIA_TYPE = "application/problem+json"
_KINDS: tuple[tuple[type[PodiumError], int, str], ...] = (
    (Unauthenticated, 401, "unauthenticated"),
    (ApprovalMismatch, 409, "approval_mismatch"),
    (PermissionDenied, 403, "forbidden"),
    (RunNotFound, 404, "not_found"),
    (DeploymentNotFound, 404, "deployment_not_found"),
    (KeyNotFound, 404, "key_not_found"),
    (EnvironmentNotFound, 404, "environment_not_found"),
    (PromotionRefused, 409, "promotion_refused"),
    (IdempotencyConflict, 422, "idempotency_conflict"),
    (UserError, 422, "invalid_request"),
    (RunStateError, 409, "conflict"),
    (StoreError, 503, "store_unavailable"),
)
TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    409: "Conflict", 413: "Content Too Large", 422: "Unprocessable Content",
    500: "Internal Server Error", 503: "Service Unavailable",
}  # fmt: skip


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"https://podium.dev/problems/{code}", "title": TITLES.get(status, "Error"),
        "status": status, "code": code, "detail": detail, **extra,
    }  # fmt: skip
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def from_error(error: PodiumError) -> JSONResponse:
    for kind, status, code in _KINDS:
        if isinstance(error, kind):
            return problem(status, code, str(error))
    return problem(500, "internal", f"{type(error).__name__}: {error}")


async def podium_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, PodiumError)
    return from_error(error)


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = error.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, "malformed_json", "the request body is not valid JSON")
    first = errors[0] if errors else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    return problem(422, "invalid_request", f"{where}: {first.get('msg', 'invalid')}")
