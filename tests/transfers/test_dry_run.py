"""Dry runs (`?dry_run=true`): every check of the real movement, nothing moved or stored."""

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import text

from gopherpayd.kit.db import Database
from tests.support.api import Account, Api


def row_counts(db: Database) -> dict[str, int]:
    tables = ("transfers", "entries", "wallets", "outbox", "idempotency_keys", "audit_log")
    with db.engine.connect() as connection:
        return {t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}  # noqa: S608


def preview(client: TestClient, account: Account, path: str, body: dict[str, object]) -> dict[str, object]:
    response = client.post(f"{path}?dry_run=true", json=body, headers=account.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_transfer_dry_run_names_the_payee_and_fee_and_stores_nothing(
    api: Api, db: Database, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 5_000)
    before = row_counts(db)
    body = {"amount": 1_234, "currency": "USD", "to_email": bob.email}
    answer = preview(api.client, alice, "/v1/transfers", body)
    transfer = answer["transfer"]
    assert isinstance(transfer, dict)
    assert (answer["dry_run"], answer["fee"]) == (True, {"amount": 0, "currency": "USD"})
    assert (transfer["amount"], transfer["recipient"]["full_name"], transfer["recipient"]["email"]) == (
        1_234,
        "Bob Builder",
        bob.email,
    )
    assert row_counts(db) == before  # not even bob's USD wallet, which the real one would open
    assert api.balance(alice) == 5_000
    assert api.client.get(f"/v1/transfers/{transfer['id']}", headers=alice.headers).status_code == 404


def test_a_transfer_dry_run_gets_the_refusal_the_real_one_would(
    api: Api, db: Database, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    before = row_counts(db)
    body = {"amount": 5_000, "currency": "USD", "to_email": bob.email}
    response = api.client.post("/v1/transfers?dry_run=true", json=body, headers=alice.headers)
    assert (response.status_code, response.json()["code"]) == (409, "insufficient_funds")
    assert response.headers["content-type"] == "application/problem+json"
    unknown = {"amount": 100, "currency": "USD", "to_email": "nobody@example.com"}
    response = api.client.post("/v1/transfers?dry_run=true", json=unknown, headers=alice.headers)
    assert (response.status_code, response.json()["code"]) == (404, "recipient_not_found")
    assert row_counts(db) == before


def test_a_dry_run_records_no_idempotency_key(api: Api, admin: Account, alice: Account, bob: Account) -> None:
    """The same key then moves the money for real, and may even ask for a different amount."""
    api.deposit(admin, alice.email, 1_000)
    key = str(uuid.uuid4())
    response = api.client.post(
        "/v1/transfers?dry_run=true",
        json={"amount": 999, "currency": "USD", "to_email": bob.email},
        headers={**alice.headers, "Idempotency-Key": key},
    )
    assert response.status_code == 200, response.text
    real = api.transfer(alice, bob.email, 300, key=key)
    assert (real.status_code, real.headers.get("Idempotency-Replayed")) == (201, None)
    assert api.balance(bob) == 300


def test_operator_dry_runs_check_deposits_withdrawals_and_reversals(
    api: Api, db: Database, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 2_000)
    sent = api.transfer(alice, bob.email, 500).json()
    before = row_counts(db)
    cash = {"user": bob.email, "amount": 700, "currency": "USD", "reason": "check"}
    deposit = preview(api.client, admin, "/v1/admin/deposits", cash)["transfer"]
    assert isinstance(deposit, dict)
    assert (deposit["kind"], deposit["recipient"]["email"]) == ("deposit", bob.email)
    response = api.client.post("/v1/admin/withdrawals?dry_run=true", json=cash, headers=admin.headers)
    assert (response.status_code, response.json()["code"]) == (409, "insufficient_funds")
    path = f"/v1/admin/transfers/{sent['id']}/reverse"
    reversal = preview(api.client, admin, path, {"reason": "mistake"})["transfer"]
    assert isinstance(reversal, dict)
    assert (reversal["amount"], reversal["sender"]["email"], reversal["recipient"]["email"]) == (
        500,
        bob.email,
        alice.email,
    )
    assert row_counts(db) == before
    assert (api.balance(alice), api.balance(bob)) == (1_500, 500)
