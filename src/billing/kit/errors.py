"""Errors as RFC 9457 problem+json with a stable machine ``code`` (see API.md)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    ValidationException,
)
from litestar.exceptions import (
    MethodNotAllowedException as LitestarMethodNotAllowed,
)

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("billing.errors")


class ProblemError(Exception):
    """Raise from any layer; the app turns it into a problem+json response."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        code: str | None = None,
        errors: list[dict[str, str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.errors = errors
        self.extra = extra or {}


class NotFound(ProblemError):
    status = 404
    code = "not_found"


class InvalidStateTransition(ProblemError):
    status = 409
    code = "invalid_state_transition"


class Conflict(ProblemError):
    status = 409
    code = "conflict"


class ValidationFailed(ProblemError):
    status = 422
    code = "validation_error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", errors=[{"field": field, "message": message}])


class Unauthorized(ProblemError):
    status = 401
    code = "unauthorized"


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": f"https://billing.dev/problems/{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _problem_error(_: Request[Any, Any, Any], exc: ProblemError) -> Response[dict[str, Any]]:
    return problem(exc.status, exc.code, exc.detail, errors=exc.errors, extra=exc.extra)


def _validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            key = str(item.get("key") or item.get("source") or "body")
            errors.append({"field": key, "message": str(item.get("message", ""))})
    if not errors:
        errors = [{"field": "body", "message": exc.detail}]
    return problem(422, "validation_error", exc.detail or "Invalid request", errors=errors)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    if exc.status_code >= 500:
        log.error("http_error", path=request.url.path, exc_info=exc)
    codes = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
    return problem(
        exc.status_code,
        codes.get(exc.status_code, "http_error"),
        exc.detail,
        headers=exc.headers,
    )


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled_error", path=request.url.path, exc_info=exc)
    return problem(500, "internal_error", "An unexpected error occurred; nothing was changed.")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    ProblemError: _problem_error,
    ValidationException: _validation,
    NotAuthorizedException: _http,
    NotFoundException: _http,
    LitestarMethodNotAllowed: _http,
    HTTPException: _http,
    Exception: _internal,
}
