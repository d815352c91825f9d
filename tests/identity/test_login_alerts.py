"""New-login alerts: none for an account's first login (the one right after sign-up), one for a
login from a device the account has not used before."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gopherpayd.events.dispatch import InProcessDispatcher
from gopherpayd.kit.db import Database
from gopherpayd.notifications.handler import NotificationHandler
from gopherpayd.settings import Settings
from tests.support.api import DEFAULT_PASSWORD, Account, Api


@pytest.fixture
def inbox(client: TestClient, db: Database, settings: Settings) -> Any:
    """The account's inbox after every pending event was delivered, as (type, body)."""
    dispatcher = InProcessDispatcher(db, settings, NotificationHandler(db, settings))

    def read(account: Account) -> list[tuple[str, str]]:
        while dispatcher.run_once():
            pass
        items = client.get("/v1/notifications", headers=account.headers).json()["items"]
        return [(n["type"], n["body"]) for n in items]

    return read


def login_with_agent(client: TestClient, email: str, agent: str) -> None:
    response = client.post(
        "/v1/auth/login",
        json={"email": email, "password": DEFAULT_PASSWORD},
        headers={"User-Agent": agent},
    )
    assert response.status_code == 200, response.text


def test_signing_up_and_logging_in_sends_no_new_login_alert(inbox: Any, alice: Account) -> None:
    assert inbox(alice) == [("user.signed_up", "Your account alice@example.com is ready.")]


def test_logging_in_again_from_the_same_device_sends_no_alert(
    client: TestClient, inbox: Any, alice: Account
) -> None:
    Api(client).login(alice.email)
    assert [kind for kind, _ in inbox(alice)] == ["user.signed_up"]


def test_a_login_from_a_new_device_sends_an_alert(client: TestClient, inbox: Any, alice: Account) -> None:
    login_with_agent(client, alice.email, "gopherpay/9.9 (laptop)")

    assert inbox(alice) == [
        ("user.new_login", "From testclient (gopherpay/9.9 (laptop))."),
        ("user.signed_up", "Your account alice@example.com is ready."),
    ]


def test_an_account_made_without_logging_in_gets_no_alert_for_its_first_login(
    client: TestClient, inbox: Any
) -> None:
    created = client.post(
        "/v1/auth/signup",
        json={"email": "carol@example.com", "full_name": "Carol", "password": DEFAULT_PASSWORD},
    )
    assert created.status_code == 201, created.text
    login_with_agent(client, "carol@example.com", "somewhere else")
    carol = Api(client).login("carol@example.com")

    assert [kind for kind, _ in inbox(carol)] == ["user.new_login", "user.signed_up"]
