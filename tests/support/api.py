"""A thin test client for the v1 API: sign people up, log them in, move money."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

DEFAULT_PASSWORD = "correct-horse-battery"


@dataclass
class Account:
    email: str
    password: str
    user_id: str
    access_token: str
    refresh_token: str
    session_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class Api:
    """Wraps an httpx-compatible client (FastAPI's TestClient or httpx.Client)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def signup(self, email: str, password: str = DEFAULT_PASSWORD, name: str = "Test User") -> Account:
        created = self.client.post(
            "/v1/auth/signup", json={"email": email, "full_name": name, "password": password}
        )
        assert created.status_code == 201, created.text
        return self.login(email, password)

    def login(self, email: str, password: str = DEFAULT_PASSWORD) -> Account:
        response = self.client.post("/v1/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        body = response.json()
        return Account(
            email=email,
            password=password,
            user_id=body["user"]["id"],
            access_token=body["access_token"],
            refresh_token=body["refresh_token"],
            session_id=body["session_id"],
        )

    def deposit(self, admin: Account, email: str, amount: int, currency: str = "USD") -> dict[str, Any]:
        response = self.client.post(
            "/v1/admin/deposits",
            json={
                "user": email,
                "amount": amount,
                "currency": currency,
                "reason": "test funding",
                "memo": "test funding",  # what the customer sees; the reason stays in the audit log
            },
            headers={**admin.headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def transfer(
        self,
        sender: Account,
        to_email: str,
        amount: int,
        currency: str = "USD",
        *,
        key: str | None = None,
        memo: str | None = None,
    ) -> httpx.Response:
        return self.client.post(
            "/v1/transfers",
            json={"amount": amount, "currency": currency, "to_email": to_email, "memo": memo},
            headers={**sender.headers, "Idempotency-Key": key or str(uuid.uuid4())},
        )

    def balance(self, account: Account, currency: str = "USD") -> int:
        response = self.client.get(f"/v1/wallets/{currency}", headers=account.headers)
        assert response.status_code == 200, response.text
        return int(response.json()["balance"])

    def audit(self, admin: Account) -> dict[str, Any]:
        response = self.client.get("/v1/admin/audit", headers=admin.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())
