"""FX fixtures: an operator who sets rates, and quotes asked for over the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.api import Account

SetRate = Callable[..., httpx.Response]
Quote = Callable[..., httpx.Response]


@pytest.fixture
def set_rate(client: TestClient, admin: Account) -> SetRate:
    def set_it(sell: str, buy: str, rate: str, spread: str = "0", **more: Any) -> httpx.Response:
        body = {"sell": sell, "buy": buy, "rate": rate, "spread": spread, **more}
        return client.post("/v1/admin/fx/rates", json=body, headers=admin.headers)

    return set_it


@pytest.fixture
def quote(client: TestClient, alice: Account) -> Quote:
    def ask(sell: str, buy: str, account: Account = alice, **amount: int) -> httpx.Response:
        body = {"sell": sell, "buy": buy, **amount}
        return client.post("/v1/fx/quotes", json=body, headers=account.headers)

    return ask
