"""Checking RFC 9457 problem responses the same way in every identity test."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM_CONTENT_TYPE = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is a problem document with exactly this status and code; returns its body
    less its `request_id` (which differs from answer to answer), so two refusals compare.

    The id is the answer's X-Request-Id; only a keyed money refusal, whose stored text is
    replayed byte for byte, has none in its body."""
    assert response.status_code == status, (
        f"expected {status} {code}, got {response.status_code}: {response.text}"
    )
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE, response.headers
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code), body
    assert body["type"] == f"https://gopherpay.dev/problems/{code}", body
    assert isinstance(body["title"], str) and body["title"], body
    assert isinstance(body["detail"], str) and body["detail"], body
    assert body.pop("request_id", response.headers["x-request-id"]) == response.headers["x-request-id"], body
    return body
