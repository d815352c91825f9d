"""Reading a paged list to its end, the way a client does: follow next_cursor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from tests.identity.problems import assert_problem


def pages(
    client: httpx.Client, path: str, headers: Mapping[str, str] | None = None, **params: Any
) -> list[list[dict[str, Any]]]:
    """The items of every page of `GET path`, in order, following next_cursor to the end."""
    found: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, params=query, headers=dict(headers or {}))
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"items", "next_cursor"}, response.json()
        found.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return found
        assert len(found) < 100, "next_cursor never ends"


def assert_cursor_refused(client: httpx.Client, path: str, headers: Mapping[str, str], cursor: str) -> None:
    """`GET path?cursor=…` with a cursor the server did not issue: 400 invalid_cursor."""
    response = client.get(path, params={"cursor": cursor}, headers=dict(headers))

    body = assert_problem(response, 400, "invalid_cursor")
    assert body["detail"] == "cursor is not one this server issued"


def assert_limit_refused(client: httpx.Client, path: str, headers: Mapping[str, str], limit: int) -> None:
    """`GET path?limit=…` outside 1 to 200: 422 validation_error."""
    response = client.get(path, params={"limit": limit}, headers=dict(headers))

    assert_problem(response, 422, "validation_error")
