"""Held money's invariants: the audit finds a wallet whose held amount no open hold explains,
the database refuses one where it can, and the CHECKs refuse what no hold may be."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gopherpayd.kit.db import Database
from tests.support.api import Account, Api
from tests.transfers.holds_helpers import place


def db_id(db: Database, value: str) -> str:
    return value.replace("-", "") if db.is_sqlite else value


def violations(report: dict) -> list[tuple[str, str]]:
    return sorted((v["invariant"], v["subject"]) for v in report["violations"])


def test_the_audit_catches_a_held_amount_tampered_in_sql(
    db: Database, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    assert place(api, alice, bob, 300).status_code == 201
    wallet_id = api.client.get("/v1/wallets/USD", headers=alice.headers).json()["id"]
    assert api.audit(admin)["ok"] is True

    with db.engine.begin() as connection:
        if not db.is_sqlite:
            # Postgres's deferred trigger would refuse the commit (next test): bypass it, as
            # corruption from outside the daemon might.
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(
            text("UPDATE wallets SET held = held + 5 WHERE id = :id"), {"id": db_id(db, wallet_id)}
        )

    report = api.audit(admin)
    assert report["ok"] is False
    assert violations(report) == [("wallet_held_matches_open_holds", f"wallet:{wallet_id}")]
    [found] = report["violations"]
    assert "holds 305 USD but its open holds reserve 300" in found["detail"]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_postgres_refuses_to_commit_a_held_amount_no_hold_explains(
    db: Database, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    place(api, alice, bob, 300)
    wallet_id = api.client.get("/v1/wallets/USD", headers=alice.headers).json()["id"]

    with (
        pytest.raises(DBAPIError, match="trg_wallets_held_matches_holds|open holds reserve"),
        db.engine.begin() as connection,
    ):
        connection.execute(text("UPDATE wallets SET held = held + 5 WHERE id = :id"), {"id": wallet_id})

    assert api.client.get("/v1/wallets/USD", headers=alice.headers).json()["held"] == 300


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        ("UPDATE wallets SET held = -1 WHERE id = :id", "ck_wallets_held_non_negative"),
        ("UPDATE wallets SET held = balance + 1 WHERE id = :id", "ck_wallets_user_held_within_balance"),
        ("UPDATE holds SET captured = amount + 1", "ck_holds_settled_within_amount"),
        ("UPDATE holds SET status = 'voided'", "ck_holds_closed_is_settled"),
    ],
)
def test_the_checks_refuse_what_no_hold_may_be(
    db: Database, api: Api, admin: Account, alice: Account, bob: Account, statement: str, constraint: str
) -> None:
    api.deposit(admin, alice.email, 1_000)
    place(api, alice, bob, 300)
    wallet_id = api.client.get("/v1/wallets/USD", headers=alice.headers).json()["id"]

    with pytest.raises(DBAPIError, match=constraint), db.engine.begin() as connection:
        connection.execute(text(statement), {"id": db_id(db, wallet_id)})
