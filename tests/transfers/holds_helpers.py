"""Calls to the holds API shared by the hold tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.api import Account, Api


def place(
    api: Api,
    payer: Account,
    payee: Account,
    amount: int,
    *,
    currency: str = "USD",
    expires_in: int | None = 3600,
    key: str | None = None,
    **extra: Any,
) -> httpx.Response:
    body: dict[str, Any] = {"to": payee.email, "amount": amount, "currency": currency, **extra}
    if expires_in is not None:
        body["expires_in"] = expires_in
    return api.client.post(
        "/v1/holds", json=body, headers={**payer.headers, "Idempotency-Key": key or str(uuid.uuid4())}
    )


def act(
    api: Api,
    who: Account,
    hold_id: str,
    action: str,
    body: dict[str, Any] | None = None,
    key: str | None = None,
) -> httpx.Response:
    return api.client.post(
        f"/v1/holds/{hold_id}/{action}",
        json=body if body is not None else {},
        headers={**who.headers, "Idempotency-Key": key or str(uuid.uuid4())},
    )


def wallet(api: Api, who: Account, currency: str = "USD") -> tuple[int, int, int]:
    """(posted, held, available) of the caller's wallet."""
    body = api.client.get(f"/v1/wallets/{currency}", headers=who.headers).json()
    assert body["balance"] == body["posted"]
    return body["posted"], body["held"], body["available"]
