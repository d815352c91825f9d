"""/openapi.json as the daemon really answers.

FastAPI documents a 422 with its own `HTTPValidationError` shape, which this daemon never
sends: every error is an RFC 9457 problem document (`kit/errors.py`). So the generated
document is rewritten once: a `Problem` schema, and on every operation the error statuses
it can answer, each as `application/problem+json` with that schema and the stable `code`s
that go with the status (`x-problem-codes`, and in the description). Which statuses an
operation gets follows from what it takes: a body or parameters (422, and 413/408 for a
body), a bearer token (401, 403), a path parameter (404), an Idempotency-Key (400, 409 and
the refusals of a money movement), a change (POST, PUT, PATCH, DELETE: every status its
package's refusals use), and always 500 and 503.

`Idempotency-Key` is declared optional in Python so that leaving it out gets the clear
400 `idempotency_key_required` instead of a validation error; the document says it is
required, because the server requires it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from gopherpayd.kit.errors import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, AppError

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
IDEMPOTENCY_HEADER = "Idempotency-Key"
_FASTAPI_SCHEMAS = ("HTTPValidationError", "ValidationError")
_MOVEMENT_REFUSAL_STATUSES = (403, 404, 409, 422)
_GENERIC_ONLY = (405, 408, 413)
"""Statuses only the HTTP layer answers, by what a request looks like, not by its package."""

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document. `code` is stable: match on it, not on `detail`.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "description": f"{PROBLEM_TYPE_BASE}<code>"},
        "title": {"type": "string"},
        "status": {"type": "integer", "description": "The HTTP status code"},
        "detail": {"type": "string", "description": "What went wrong, naming the ids involved"},
        "code": {"type": "string", "description": "Stable error code"},
        "request_id": {
            "type": "string",
            "description": "The request's id (also the X-Request-Id header), to find it in the daemon's log",
        },
        "errors": {
            "type": "array",
            "description": "validation_error and invalid_amount: each field that was wrong",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                    "type": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                },
            },
        },
    },
    "additionalProperties": True,
}

_STATUS_TEXT = {
    400: "Bad request",
    401: "Authentication required or failed",
    403: "Forbidden (role, frozen account or wallet)",
    404: "Not found",
    408: "The request body came too slowly",
    409: "Conflict",
    413: "Request body too large",
    422: "Malformed request, or a refused amount",
    429: "Too many attempts; wait Retry-After seconds",
    500: "A bug: nothing was changed",
    503: "Busy: nothing was done; send the same request again",
}
_HANDLER_CODES = {
    403: {"forbidden"},
    404: {"not_found"},
    405: {"method_not_allowed"},
    408: {"request_timeout"},
    413: {"payload_too_large"},
    422: {"validation_error", "invalid_amount"},
    500: {"internal_error"},
    503: {"try_again"},
}


AUTHENTICATION_STATUSES = (401, 403)


def document_problems(app: FastAPI, below: Mapping[str, Sequence[str]], authentication: str) -> None:
    """Make `app.openapi()` build the rewritten document (once, then cached like FastAPI's).

    An operation's codes are those of the errors of its own package (its OpenAPI tag), of
    kit, and of the packages `below[tag]` lists (the layers it calls into); of the
    `authentication` package only the 401/403 codes, which every authenticated route can
    answer, unless the operation is that package's own."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            errors = error_classes()

            def codes_for(tag: str) -> dict[int, list[str]]:
                found: dict[int, set[str]] = {status: set(codes) for status, codes in _HANDLER_CODES.items()}
                for origin, cls in errors:
                    mine = origin in ("kit", tag) or origin in below.get(tag, ())
                    if origin == authentication and tag != authentication:
                        mine = cls.status in AUTHENTICATION_STATUSES
                    if mine:
                        found.setdefault(cls.status, set()).add(cls.code)
                return {status: sorted(codes) for status, codes in found.items()}

            app.openapi_schema = rewrite(document, codes_for)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def error_classes() -> list[tuple[str, type[AppError]]]:
    """Every error class the daemon has loaded, with the package it comes from (`transfers`)."""
    found: list[tuple[str, type[AppError]]] = []
    pending: list[type[AppError]] = [AppError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        parts = cls.__module__.split(".")
        found.append((parts[1] if len(parts) > 1 and parts[0] == "gopherpayd" else parts[0], cls))
    return found


def rewrite(document: dict[str, Any], codes_for: Callable[[str], dict[int, list[str]]]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_SCHEMAS:
        schemas.pop(name, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            tags = operation.get("tags") or ["health"]
            _document_operation(path, method, operation, codes_for(tags[0]))
    return document


def _document_operation(
    path: str, method: str, operation: dict[str, Any], codes: dict[int, list[str]]
) -> None:
    parameters = operation.get("parameters", [])
    keyed = False
    for parameter in parameters:
        if parameter.get("in") == "header" and parameter.get("name") == IDEMPOTENCY_HEADER:
            parameter["required"] = True
            parameter["schema"] = {"type": "string", "minLength": 1, "maxLength": 200}
            keyed = True
    statuses = {500}
    if path not in ("/healthz", "/readyz", "/metrics"):
        statuses.add(503)
    if parameters or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:
        statuses |= {408, 413}
    if operation.get("security"):
        statuses |= {401, 403}
    if any(parameter.get("in") == "path" for parameter in parameters):
        statuses.add(404)
    if keyed:
        statuses |= {400, 409, *_MOVEMENT_REFUSAL_STATUSES}
    if path.startswith("/v1/auth/"):
        statuses |= {400, 429}
    if method != "get":
        # A change can meet any refusal of its own package (and of those it calls into).
        statuses |= {status for status in codes if 400 <= status < 500 and status not in _GENERIC_ONLY}
    responses: dict[str, Any] = operation.setdefault("responses", {})
    statuses |= {int(status) for status in responses if status.isdigit() and int(status) >= 400}
    for status in sorted(statuses):
        existing = responses.get(str(status), {})
        content = existing.get("content", {})
        custom = any(
            media.get("schema") not in (None, {}) and "HTTPValidationError" not in str(media.get("schema"))
            for media in content.values()
        )
        if custom:
            continue  # the route documents its own body for this status (an atomic batch's 409)
        known = codes.get(status, [])
        description = existing.get("description", "Validation Error")
        if description == "Validation Error":  # FastAPI's own, for a shape it describes wrongly
            description = _STATUS_TEXT.get(status, "Error")
        if known and "code" not in description:
            description += "; code one of: " + ", ".join(known)
        responses[str(status)] = {
            "description": description,
            "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_REF}},
            **({"x-problem-codes": known} if known else {}),
        }
