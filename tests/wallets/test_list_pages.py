"""Wallets and currencies page like every list, A to Z by currency code (a unique key: one
open wallet per currency), with an opaque cursor and a bounded limit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gopherpayd.kit.pagination import Cursor
from gopherpayd.wallets.currencies import CURRENCIES
from tests.support.api import Account
from tests.support.pages import assert_cursor_refused, assert_limit_refused, pages

LISTS = ["/v1/wallets", "/v1/currencies"]
TIME_CURSOR = Cursor(datetime(2026, 1, 1, tzinfo=UTC), uuid.UUID(int=7)).encode()
"""A cursor of the lists ordered by time: not one of these lists'."""


def open_wallets(client: TestClient, owner: Account, *codes: str) -> None:
    for code in codes:
        response = client.post("/v1/wallets", json={"currency": code}, headers=owner.headers)
        assert response.status_code == 201, response.text


def codes(paged: list[list[dict[str, Any]]], key: str) -> list[str]:
    return [item[key] for page in paged for item in page]


def test_wallets_page_a_to_z_and_cover_each_open_wallet_once(
    client: TestClient, alice: Account, bob: Account
) -> None:
    open_wallets(client, alice, "VND", "USD", "JPY", "EUR", "GBP", "CHF")
    open_wallets(client, bob, "AUD")
    assert client.delete("/v1/wallets/CHF", headers=alice.headers).status_code == 200

    paged = pages(client, "/v1/wallets", alice.headers, limit=2)

    assert [len(page) for page in paged] == [2, 2, 1]
    assert codes(paged, "currency") == ["EUR", "GBP", "JPY", "USD", "VND"]


def test_currencies_page_a_to_z_and_cover_each_currency_once(client: TestClient) -> None:
    paged = pages(client, "/v1/currencies", limit=7)

    assert [len(page) for page in paged] == [7, 7, 7, 7, 2]
    assert codes(paged, "code") == sorted(CURRENCIES)


def test_a_page_ending_on_the_last_item_has_no_next_cursor(client: TestClient, alice: Account) -> None:
    open_wallets(client, alice, "USD", "EUR")

    paged = pages(client, "/v1/wallets", alice.headers, limit=2)

    assert codes(paged, "currency") == ["EUR", "USD"]
    assert len(paged) == 1


def test_without_a_limit_every_currency_fits_the_default_page(client: TestClient) -> None:
    response = client.get("/v1/currencies")

    assert response.status_code == 200, response.text
    assert (len(response.json()["items"]), response.json()["next_cursor"]) == (len(CURRENCIES), None)


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    "cursor",
    # ["code", "usd"], ["code", 1], null, []
    ["not-a-cursor", "x", TIME_CURSOR, "WyJjb2RlIiwgInVzZCJd", "WyJjb2RlIiwgMV0", "bnVsbA", "W10"],
)
def test_a_cursor_the_server_did_not_issue_is_refused(
    client: TestClient, alice: Account, path: str, cursor: str
) -> None:
    assert_cursor_refused(client, path, alice.headers, cursor)


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("limit", [0, -1, 201])
def test_a_limit_outside_1_to_200_is_refused(
    client: TestClient, alice: Account, path: str, limit: int
) -> None:
    assert_limit_refused(client, path, alice.headers, limit)


@pytest.mark.parametrize("path", LISTS)
def test_a_limit_of_200_is_served(client: TestClient, alice: Account, path: str) -> None:
    response = client.get(path, params={"limit": 200}, headers=alice.headers)

    assert response.status_code == 200, response.text
