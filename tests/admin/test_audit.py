"""The ledger audit: silent on a healthy ledger, names every violation on a broken one."""

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from gopherpayd.admin import service as admin_service
from gopherpayd.kit.db import Database
from tests.support.api import Account, Api

CLOSED_IS_EMPTY = "ck_wallets_closed_is_empty"
LARGEST_AMOUNT = 2**63 - 1
"""The largest BIGINT: one amount may be this large, a sum of them may not fit in one."""


def db_id(db: Database, value: str) -> str:
    return value.replace("-", "") if db.is_sqlite else value


def healthy_ledger(api: Api, admin: Account, alice: Account, bob: Account) -> str:
    api.deposit(admin, alice.email, 10_000)
    api.deposit(admin, bob.email, 3_000, "EUR")
    transfer_id = api.transfer(alice, bob.email, 2_500).json()["id"]
    api.client.post(
        "/v1/admin/withdrawals",
        json={"user": bob.email, "amount": 500, "currency": "USD", "reason": "atm"},
        headers={**admin.headers, "Idempotency-Key": "wd"},
    )
    return transfer_id


def violations(report: dict) -> list[tuple[str, str]]:
    return sorted((v["invariant"], v["subject"]) for v in report["violations"])


def test_a_healthy_ledger_passes_with_totals_per_currency(
    api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    healthy_ledger(api, admin, alice, bob)
    report = api.audit(admin)
    assert (report["ok"], report["violations"]) == (True, [])
    assert report["totals"] == [
        {"currency": "EUR", "wallets_total": 3_000, "deposits": 3_000, "withdrawals": 0},
        {"currency": "USD", "wallets_total": 9_500, "deposits": 10_000, "withdrawals": 500},
    ]
    assert (report["counts"]["transfers"], report["counts"]["entries"]) == (4, 8)
    assert report["counts"]["outbox_pending"] == report["counts"]["outbox"] > 0


def test_a_tampered_balance_is_reported_three_ways(
    db: Database, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    healthy_ledger(api, admin, alice, bob)
    wallet_id = api.client.get("/v1/wallets/USD", headers=alice.headers).json()["id"]
    with db.engine.begin() as connection:
        connection.execute(
            text("UPDATE wallets SET balance = balance + 7 WHERE id = :id"), {"id": db_id(db, wallet_id)}
        )
    report = api.audit(admin)
    assert report["ok"] is False
    assert violations(report) == [
        ("ledger_sums_to_zero", "currency:USD"),
        ("money_conserved", "currency:USD"),
        ("wallet_balance_equals_entries", f"wallet:{wallet_id}"),
    ]


def test_an_unbalanced_transfer_is_reported(
    db: Database, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    transfer_id = healthy_ledger(api, admin, alice, bob)
    bob_wallet = api.client.get("/v1/wallets/USD", headers=bob.headers).json()["id"]
    entry_id = str(uuid.uuid4())
    with db.engine.begin() as connection:
        if not db.is_sqlite:
            # Simulates corruption the database twin would have refused: bypass its triggers.
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(
            text(
                "INSERT INTO entries (id, transfer_id, wallet_id, amount, currency, created_at) "
                "VALUES (:id, :transfer, :wallet, 5, 'USD', CURRENT_TIMESTAMP)"
            ),
            {"id": db_id(db, entry_id), "transfer": db_id(db, transfer_id), "wallet": db_id(db, bob_wallet)},
        )
    assert violations(api.audit(admin)) == [
        ("entries_match_transfer", f"entry:{entry_id}"),
        ("transfer_entries_sum_to_zero", f"transfer:{transfer_id}"),
        ("wallet_balance_equals_entries", f"wallet:{bob_wallet}"),
    ]


def test_the_audit_is_for_operators_only(client: TestClient, alice: Account) -> None:
    response = client.get("/v1/admin/audit", headers=alice.headers)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")


def test_a_closed_wallet_that_holds_money_is_reported(
    db: Database, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    healthy_ledger(api, admin, alice, bob)
    bob_wallet = api.client.get("/v1/wallets/USD", headers=bob.headers).json()["id"]
    with db.engine.connect() as connection:
        # Corruption the database twin refuses: bypass it inside a transaction that is rolled back.
        if db.is_sqlite:
            connection.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
        else:
            connection.exec_driver_sql(f"ALTER TABLE wallets DROP CONSTRAINT IF EXISTS {CLOSED_IS_EMPTY}")
        try:
            connection.execute(
                text("UPDATE wallets SET closed_at = CURRENT_TIMESTAMP WHERE id = :id"),
                {"id": db_id(db, bob_wallet)},
            )
            report = admin_service.audit(Session(bind=connection)).model_dump(mode="json")
        finally:
            connection.rollback()
            if db.is_sqlite:
                connection.exec_driver_sql("PRAGMA ignore_check_constraints = OFF")
    assert violations(report) == [("closed_wallet_is_empty", f"wallet:{bob_wallet}")]
    assert report["violations"][0]["detail"] == "closed, yet holds 2000 USD its owner can no longer see"


def test_amounts_summing_past_the_largest_bigint_are_audited_exactly(
    client: TestClient, api: Api, admin: Account, alice: Account
) -> None:
    api.deposit(admin, alice.email, LARGEST_AMOUNT)
    withdrawn = client.post(
        "/v1/admin/withdrawals",
        json={"user": alice.email, "amount": LARGEST_AMOUNT, "currency": "USD", "reason": "all of it"},
        headers={**admin.headers, "Idempotency-Key": "wd-all"},
    )
    assert withdrawn.status_code == 201, withdrawn.text
    api.deposit(admin, alice.email, LARGEST_AMOUNT)

    report = api.audit(admin)

    assert (report["ok"], report["violations"]) == (True, [])
    assert report["totals"] == [
        {
            "currency": "USD",
            "wallets_total": LARGEST_AMOUNT,
            "deposits": 2 * LARGEST_AMOUNT,
            "withdrawals": LARGEST_AMOUNT,
        }
    ]
    assert all(type(value) is int for value in report["totals"][0].values() if value != "USD")
