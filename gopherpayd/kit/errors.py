"""One error base class with an HTTP status and a stable code, rendered as RFC 9457 problem+json."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gopherpayd.kit.db import LostRace, is_retryable, unique_violation
from gopherpayd.kit.logs import REQUEST_ID_HEADER, current_request_id

PROBLEM_TYPE_BASE = "https://gopherpay.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"

logger = logging.getLogger("gopherpayd")


class AppError(Exception):
    """A refusal the caller can act on. Subclasses fix status, code and title."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}

    def to_problem(self) -> dict[str, Any]:
        return problem(self.status, self.code, self.title, self.detail)


class BadRequest(AppError):
    pass


class NotFound(AppError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"


class Unauthorized(AppError):
    status, code, title = 401, "authentication_required", "Authentication required"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer", **(headers or {})})


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Forbidden"


class TooManyAttempts(AppError):
    status, code, title = 429, "too_many_attempts", "Too many attempts"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class TryAgain(AppError):
    """The work kept losing races (deadlocks, serialization failures, stale reads) past its
    bounded reruns: nothing was written, and the same request may be sent again."""

    status, code, title = 503, "try_again", "Try again"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "1"})


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload_too_large", "Payload too large"


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


def problem_response(body: dict[str, Any], headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The problem document as HTTP, with the current request's id (`request_id`, also the
    X-Request-Id header) so a report of an error can be found in the log."""
    request_id = current_request_id.get()
    if request_id is not None:
        body = {**body, "request_id": request_id}
        headers = {**(headers or {}), REQUEST_ID_HEADER: request_id}
    return JSONResponse(body, status_code=body["status"], headers=headers, media_type=PROBLEM_CONTENT_TYPE)


_STATUS_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("authentication_required", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


def _safe_validation_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    # Echoing `input` back could leak a password that failed validation.
    return [
        {"loc": list(item.get("loc", ())), "msg": item.get("msg", ""), "type": item.get("type")}
        for item in error.errors()
    ]


def validation_problem(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """422 for a malformed payload; `invalid_amount` when only the amount is wrong."""
    first = errors[0] if errors else {"loc": [], "msg": "invalid request", "type": None}
    if first.get("type") == "json_invalid":
        detail = "request body is not valid JSON"
    else:
        where = ".".join(str(part) for part in first["loc"] if part not in ("body", "query", "path"))
        detail = f"{where or 'request'}: {first['msg']}"
    only_amount = bool(errors) and all(item["loc"][-1:] == ["amount"] for item in errors)
    if only_amount:
        detail += " (amounts are whole numbers of the currency's minor unit, e.g. 1234 for 12.34 USD)"
        return problem(422, "invalid_amount", "Invalid amount", detail, errors=errors)
    return problem(422, "validation_error", "Invalid request", detail, errors=errors)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, error: AppError) -> JSONResponse:
        return problem_response(error.to_problem(), error.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(_safe_validation_errors(error)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        code, title = _STATUS_CODES.get(error.status_code, ("error", "Error"))
        detail = error.detail if isinstance(error.detail, str) else title
        return problem_response(problem(error.status_code, code, title, detail), error.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
        logger.error("unhandled %s", type(error).__name__, exc_info=error)
        body = problem(500, "internal_error", "Internal error", "An unexpected error occurred")
        return problem_response(body)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, error: IntegrityError) -> JSONResponse:
        # A unique violation left after the unit of work's reruns: the thing already exists.
        # Any other integrity error is a bug a database twin caught.
        constraint = unique_violation(error)
        if constraint is None:
            return await _unexpected(request, error)
        logger.warning("unique violation on %s answered 409 conflict", constraint)
        detail = "this conflicts with a record that already exists (created at the same moment?)"
        return problem_response(Conflict(detail).to_problem())

    @app.exception_handler(LostRace)
    async def _lost_race(_request: Request, error: LostRace) -> JSONResponse:
        logger.warning("gave up after reruns: %s", error)
        return _try_again()

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, error: DBAPIError) -> JSONResponse:
        if not is_retryable(error):
            return await _unexpected(request, error)
        logger.warning("gave up after reruns: %s", type(error.orig).__name__)
        return _try_again()

    def _try_again() -> JSONResponse:
        refusal = TryAgain("the ledger was busy and nothing was done; send the same request again")
        return problem_response(refusal.to_problem(), refusal.headers)
