"""Sending money: all or nothing, double entry, precise refusals."""

import json

from fastapi.testclient import TestClient
from sqlalchemy import text

from gopherpayd.kit.db import Database
from tests.support.api import Account, Api


def outbox_events(db: Database) -> list[tuple[str, dict]]:
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT event_type, payload FROM outbox ORDER BY created_at")).all()
    return [(event_type, json.loads(payload)) for event_type, payload in rows]


def test_transfer_moves_money_and_describes_both_parties(
    api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 10_000)
    response = api.transfer(alice, bob.email, 1_234, memo="lunch")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["kind"], body["amount"], body["currency"], body["memo"], body["direction"]) == (
        "transfer",
        1_234,
        "USD",
        "lunch",
        "out",
    )
    assert (body["sender"]["email"], body["recipient"]["email"]) == (alice.email, bob.email)
    assert (api.balance(alice), api.balance(bob)) == (8_766, 1_234)


def test_transfer_writes_balanced_entries_and_outbox_events(
    api: Api, db: Database, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 500)
    transfer_id = api.transfer(alice, bob.email, 200).json()["id"]
    with db.engine.connect() as connection:
        entries = (
            connection.execute(
                text("SELECT amount FROM entries WHERE transfer_id = :id ORDER BY amount"),
                {"id": transfer_id.replace("-", "") if db.is_sqlite else transfer_id},
            )
            .scalars()
            .all()
        )
    assert entries == [-200, 200]
    transfer_events = [
        (t, p["user_id"], p["amount"]) for t, p in outbox_events(db) if t.startswith("transfer.")
    ]
    assert sorted(transfer_events) == [
        ("transfer.received", bob.user_id, 200),
        ("transfer.sent", alice.user_id, 200),
    ]


def test_insufficient_funds_changes_nothing(
    api: Api, db: Database, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_200)
    events_before = len(outbox_events(db))
    response = api.transfer(alice, bob.email, 5_000)
    assert (response.status_code, response.json()["code"]) == (409, "insufficient_funds")
    assert response.json()["detail"].endswith("has 12.00 USD, transfer needs 50.00 USD")
    assert api.balance(alice) == 1_200
    assert api.client.get("/v1/wallets", headers=bob.headers).json()["items"] == []
    assert len(outbox_events(db)) == events_before


def test_unknown_recipient_is_refused(api: Api, admin: Account, alice: Account) -> None:
    api.deposit(admin, alice.email, 1_000)
    response = api.transfer(alice, "nobody@example.com", 100)
    assert (response.status_code, response.json()["code"]) == (404, "recipient_not_found")


def test_sending_to_yourself_is_refused(api: Api, admin: Account, alice: Account) -> None:
    api.deposit(admin, alice.email, 1_000)
    by_email = api.transfer(alice, alice.email.upper(), 100)
    assert (by_email.status_code, by_email.json()["code"]) == (400, "self_transfer")
    wallet_id = api.client.get("/v1/wallets/USD", headers=alice.headers).json()["id"]
    by_wallet = api.client.post(
        "/v1/transfers",
        json={"amount": 100, "currency": "USD", "to_wallet_id": wallet_id},
        headers={**alice.headers, "Idempotency-Key": "self-wallet"},
    )
    assert (by_wallet.status_code, by_wallet.json()["code"]) == (400, "self_transfer")
    assert api.balance(alice) == 1_000


def test_transfer_to_a_wallet_id(api: Api, admin: Account, alice: Account, bob: Account) -> None:
    api.deposit(admin, alice.email, 1_000, "JPY")
    api.client.post("/v1/wallets", json={"currency": "JPY"}, headers=bob.headers)
    bob_wallet = api.client.get("/v1/wallets/JPY", headers=bob.headers).json()["id"]
    response = api.client.post(
        "/v1/transfers",
        json={"amount": 300, "currency": "JPY", "to_wallet_id": bob_wallet},
        headers={**alice.headers, "Idempotency-Key": "to-wallet"},
    )
    assert response.status_code == 201, response.text
    assert (api.balance(alice, "JPY"), api.balance(bob, "JPY")) == (700, 300)


def test_wallet_id_in_another_currency_is_refused(
    api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000, "USD")
    api.client.post("/v1/wallets", json={"currency": "EUR"}, headers=bob.headers)
    bob_eur = api.client.get("/v1/wallets/EUR", headers=bob.headers).json()["id"]
    response = api.client.post(
        "/v1/transfers",
        json={"amount": 100, "currency": "USD", "to_wallet_id": bob_eur},
        headers={**alice.headers, "Idempotency-Key": "cross-currency"},
    )
    assert (response.status_code, response.json()["code"]) == (400, "currency_mismatch")
    assert api.balance(alice) == 1_000


def test_sender_without_a_wallet_in_that_currency_is_told_so(api: Api, alice: Account, bob: Account) -> None:
    response = api.transfer(alice, bob.email, 100, "GBP")
    assert (response.status_code, response.json()["code"]) == (404, "wallet_not_found")


def test_zero_and_negative_amounts_are_refused(
    api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    for amount in (0, -5):
        response = api.transfer(alice, bob.email, amount)
        assert (response.status_code, response.json()["code"]) == (400, "invalid_amount")
    assert api.balance(alice) == 1_000


def test_frozen_sender_wallet_cannot_send(api: Api, admin: Account, alice: Account, bob: Account) -> None:
    api.deposit(admin, alice.email, 1_000)
    api.client.post(
        f"/v1/admin/users/{alice.email}/wallets/USD/freeze", json={"reason": "review"}, headers=admin.headers
    )
    response = api.transfer(alice, bob.email, 100)
    assert (response.status_code, response.json()["code"]) == (409, "wallet_frozen")
    assert api.balance(alice) == 1_000


def test_frozen_recipient_wallet_cannot_receive(
    api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    api.deposit(admin, bob.email, 1)
    api.client.post(
        f"/v1/admin/users/{bob.email}/wallets/USD/freeze", json={"reason": "review"}, headers=admin.headers
    )
    response = api.transfer(alice, bob.email, 100)
    assert (response.status_code, response.json()["code"]) == (409, "wallet_frozen")
    assert api.balance(alice) == 1_000


def test_frozen_recipient_account_cannot_receive(
    api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    api.client.post(f"/v1/admin/users/{bob.email}/freeze", json={"reason": "fraud"}, headers=admin.headers)
    response = api.transfer(alice, bob.email, 100)
    assert (response.status_code, response.json()["code"]) == (409, "recipient_frozen")
    assert api.balance(alice) == 1_000


def test_a_transfer_is_visible_to_both_parties_only(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    carol = api.signup("carol@example.com")
    api.deposit(admin, alice.email, 1_000)
    transfer_id = api.transfer(alice, bob.email, 100).json()["id"]
    assert client.get(f"/v1/transfers/{transfer_id}", headers=bob.headers).json()["direction"] == "in"
    assert client.get(f"/v1/transfers/{transfer_id}", headers=alice.headers).json()["direction"] == "out"
    hidden = client.get(f"/v1/transfers/{transfer_id}", headers=carol.headers)
    assert (hidden.status_code, hidden.json()["code"]) == (404, "transfer_not_found")
