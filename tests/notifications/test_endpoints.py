"""The in-app inbox over HTTP: each person's notifications, newest first, read one by one or all at once.

The outbox events are handed to the notification handler by an in-process
dispatcher driven by the test itself, so every test knows when delivery is done.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from gopherpayd.events.dispatch import InProcessDispatcher
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.db import Database
from gopherpayd.notifications import repository as inbox_repository
from gopherpayd.notifications.handler import NotificationHandler
from gopherpayd.notifications.models import Notification
from gopherpayd.outbox.models import OutboxEvent
from gopherpayd.settings import Settings
from tests.identity.problems import assert_problem
from tests.support.api import Account, Api

Deliver = Callable[[], int]


@pytest.fixture
def deliver(db: Database, settings: Settings) -> Deliver:
    """Hand every pending outbox event to the handler; returns how many were handed on."""
    dispatcher = InProcessDispatcher(db, settings, NotificationHandler(db, settings))

    def run() -> int:
        handed_on = 0
        while moved := dispatcher.run_once():
            handed_on += moved
        return handed_on

    return run


def inbox(client: TestClient, account: Account, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/notifications", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None, "use pages() for inboxes longer than a page"
    return list(response.json()["items"])


def pages(client: TestClient, account: Account, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page, following next_cursor to the end."""
    found: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get("/v1/notifications", params=query, headers=account.headers)
        assert response.status_code == 200, response.text
        found.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return found
        assert len(found) < 50, "next_cursor never ends"


def mark_read(client: TestClient, account: Account, notification_id: str) -> dict[str, Any]:
    response = client.post(f"/v1/notifications/{notification_id}/read", headers=account.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def read_all(client: TestClient, account: Account) -> int:
    response = client.post("/v1/notifications/read-all", headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.json().keys() == {"marked"}
    return int(response.json()["marked"])


def test_the_inbox_lists_the_callers_notifications_newest_first(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account, deliver: Deliver
) -> None:
    api.deposit(admin, alice.email, 10_000)
    transfer = api.transfer(alice, bob.email, 1_234, memo="lunch").json()
    deliver()

    items = inbox(client, alice)

    assert [(n["type"], n["title"], n["body"]) for n in items] == [
        ("transfer.sent", "You sent 12.34 USD", "To bob@example.com — lunch. New balance: 87.66 USD."),
        (
            "wallet.deposit",
            "Deposit of 100.00 USD",
            "Money arrived from outside GopherPay — test funding. New balance: 100.00 USD.",
        ),
        # No new-login alert: the login right after sign-up is the account's first.
        ("user.signed_up", "Welcome to GopherPay", "Your account alice@example.com is ready."),
    ]
    created = [n["created_at"] for n in items]
    assert created == sorted(created, reverse=True)
    assert all(n["read_at"] is None for n in items)
    assert items[0]["data"] == {
        "amount": 1_234,
        "counterparty": "bob@example.com",
        "counterparty_wallet_id": transfer["recipient"]["wallet_id"],
        "currency": "USD",
        "direction": "out",
        "email": "alice@example.com",
        "kind": "transfer",
        "memo": "lunch",
        "new_balance": 8_766,
        "transfer_id": transfer["id"],
        "user_id": alice.user_id,
        "wallet_id": transfer["sender"]["wallet_id"],
    }
    assert [(n["type"], n["title"]) for n in inbox(client, bob)][:1] == [
        ("transfer.received", "You received 12.34 USD")
    ]


def test_the_inbox_needs_a_login(client: TestClient) -> None:
    assert_problem(client.get("/v1/notifications"), 401, "authentication_required")


def test_delivering_an_event_again_adds_nothing(
    client: TestClient, db: Database, api: Api, admin: Account, alice: Account, deliver: Deliver
) -> None:
    api.deposit(admin, alice.email, 500)
    deliver()
    before = inbox(client, alice)
    # As if every event had been handed on again (a redelivery after a crash).
    db.run(lambda s: s.execute(update(OutboxEvent).values(published_at=None)))

    assert deliver() > 0
    assert inbox(client, alice) == before


def test_the_unread_filter_leaves_out_what_was_read(
    client: TestClient, api: Api, admin: Account, alice: Account, deliver: Deliver
) -> None:
    api.deposit(admin, alice.email, 500)
    api.deposit(admin, alice.email, 700)
    deliver()
    second, first, welcome = inbox(client, alice)
    mark_read(client, alice, first["id"])

    unread = inbox(client, alice, unread="true")

    assert [n["id"] for n in unread] == [second["id"], welcome["id"]]
    assert [n["id"] for n in inbox(client, alice, unread="false")] == [
        second["id"],
        first["id"],
        welcome["id"],
    ]


def test_marking_one_notification_read_stamps_it_once(
    client: TestClient, alice: Account, deliver: Deliver
) -> None:
    deliver()
    (welcome,) = inbox(client, alice)

    marked = mark_read(client, alice, welcome["id"])
    again = mark_read(client, alice, welcome["id"])

    assert marked == {**welcome, "read_at": marked["read_at"]}
    assert marked["read_at"] is not None
    assert again == marked
    assert inbox(client, alice) == [marked]


def test_read_all_marks_every_unread_notification_and_says_how_many(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account, deliver: Deliver
) -> None:
    api.deposit(admin, alice.email, 500)
    deliver()
    deposit, _ = inbox(client, alice)
    mark_read(client, alice, deposit["id"])

    assert read_all(client, alice) == 1
    assert read_all(client, alice) == 0
    assert inbox(client, alice, unread="true") == []
    assert [n["read_at"] for n in inbox(client, bob)] == [None]


def test_another_users_notification_is_not_found(
    client: TestClient, alice: Account, bob: Account, deliver: Deliver
) -> None:
    deliver()
    alices = inbox(client, alice)[0]

    refused = client.post(f"/v1/notifications/{alices['id']}/read", headers=bob.headers)
    made_up = client.post(f"/v1/notifications/{uuid.uuid4()}/read", headers=bob.headers)

    body = assert_problem(refused, 404, "notification_not_found")
    assert alices["id"] in body["detail"]
    assert_problem(made_up, 404, "notification_not_found")
    assert inbox(client, alice)[0]["read_at"] is None


def test_pages_follow_each_other_without_gaps_or_repeats(
    client: TestClient, api: Api, admin: Account, alice: Account, deliver: Deliver
) -> None:
    for amount in range(1, 9):
        api.deposit(admin, alice.email, amount * 100)
    deliver()
    everything = inbox(client, alice)

    paged = pages(client, alice, limit=4)

    assert [len(page) for page in paged] == [4, 4, 1]
    assert [n["id"] for page in paged for n in page] == [n["id"] for n in everything]
    assert [n["title"] for n in everything[:2]] == ["Deposit of 8.00 USD", "Deposit of 7.00 USD"]


def test_the_unread_filter_pages_too(
    client: TestClient, api: Api, admin: Account, alice: Account, deliver: Deliver
) -> None:
    for amount in range(1, 6):
        api.deposit(admin, alice.email, amount * 100)
    deliver()
    everything = inbox(client, alice)
    for notification in everything[::2]:
        mark_read(client, alice, notification["id"])

    paged = pages(client, alice, unread="true", limit=2)

    assert [len(page) for page in paged] == [2, 1]
    assert [n["id"] for page in paged for n in page] == [n["id"] for n in everything[1::2]]


def test_notifications_written_at_the_same_instant_page_by_id(
    client: TestClient, db: Database, alice: Account
) -> None:
    at = utcnow() - timedelta(minutes=1)

    def write(session: Any) -> None:
        for number in range(5):
            inbox_repository.add(
                session,
                Notification(
                    user_id=uuid.UUID(alice.user_id),
                    event_id=uuid.uuid4(),
                    event_type="account.unfrozen",
                    title=f"same instant {number}",
                    body="",
                    created_at=at,
                ),
            )

    db.run(write)

    paged = pages(client, alice, limit=2)

    ids = [n["id"] for page in paged for n in page]
    assert [len(page) for page in paged] == [2, 2, 1]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 5


def test_a_cursor_the_server_did_not_issue_is_refused(client: TestClient, alice: Account) -> None:
    response = client.get("/v1/notifications", params={"cursor": "not-a-cursor"}, headers=alice.headers)
    assert_problem(response, 400, "invalid_cursor")
