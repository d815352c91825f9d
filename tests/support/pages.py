"""Reading a paged list to its end, the way a client does: follow next_cursor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx


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
