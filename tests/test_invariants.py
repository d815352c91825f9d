"""The registry of ledger invariants holds: each twin is in the databases it names, each Python
check is a real function that names its twin, each audit query finds nothing on a clean ledger,
and the audit reports exactly the invariants the registry gives an audit query."""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, create_engine, text
from sqlmodel import Session

from gopherpayd.admin import service as admin_service
from gopherpayd.admin.invariants import (
    INVARIANTS,
    POSTGRES,
    SQLITE,
    Check,
    Trigger,
    Twin,
    Unique,
    currency_ledgers,
)
from gopherpayd.kit.db import Database
from tests.support.api import Account, Api


def test_invariant_names_are_unique_and_audited_ones_come_first() -> None:
    names = [invariant.name for invariant in INVARIANTS]
    audited = [invariant.audited for invariant in INVARIANTS]
    assert len(set(names)) == len(names)
    assert audited == sorted(audited, reverse=True)
    assert all(invariant.twins or invariant.audited for invariant in INVARIANTS)


def twin_exists(connection: Connection, twin: Twin) -> bool:
    dialect = connection.dialect.name
    if isinstance(twin, Check) and dialect == SQLITE:
        created = connection.execute(
            text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :table"),
            {"table": twin.table},
        ).scalar_one()
        return re.search(rf"\bCONSTRAINT {twin.name} CHECK\b", created) is not None
    if isinstance(twin, Check):
        query = (
            "SELECT COUNT(*) FROM pg_constraint "
            "WHERE contype = 'c' AND conname = :name AND conrelid = CAST(:table AS regclass)"
        )
        return connection.execute(text(query), {"name": twin.name, "table": twin.table}).scalar_one() == 1
    if isinstance(twin, Trigger) and dialect == SQLITE:
        query = (
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :table AND name = :name"
        )
        return connection.execute(text(query), {"name": twin.name, "table": twin.table}).scalar_one() == 1
    if isinstance(twin, Trigger):
        query = (
            "SELECT COUNT(*) FROM pg_trigger "
            "WHERE NOT tgisinternal AND tgname = :name AND tgrelid = CAST(:table AS regclass)"
        )
        return connection.execute(text(query), {"name": twin.name, "table": twin.table}).scalar_one() == 1
    assert isinstance(twin, Unique)
    return twin.columns in unique_column_sets(connection, twin.table)


def unique_column_sets(connection: Connection, table: str) -> set[tuple[str, ...]]:
    """The columns of each unique, non-partial index on `table` (a UNIQUE constraint has one)."""
    if connection.dialect.name == SQLITE:
        indexes = connection.exec_driver_sql(f"PRAGMA index_list({table})").all()
        return {
            tuple(row[2] for row in connection.exec_driver_sql(f"PRAGMA index_info({index[1]})").all())
            for index in indexes
            if index[2] == 1 and index[4] == 0
        }
    # pg_indexes has each index's definition; the catalog has its columns in order.
    query = """
        SELECT i.indexrelid, array_agg(a.attname ORDER BY k.position)
        FROM pg_index i
        CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = CAST(:table AS regclass) AND i.indisunique AND i.indpred IS NULL
        GROUP BY i.indexrelid
    """
    return {tuple(columns) for _, columns in connection.execute(text(query), {"table": table}).all()}


def test_every_twin_is_in_the_databases_it_names_and_only_those(migrated_url: str) -> None:
    twins = [twin for invariant in INVARIANTS for twin in invariant.twins]
    engine = create_engine(migrated_url)
    try:
        with engine.connect() as connection:
            dialect = connection.dialect.name
            found = {twin: twin_exists(connection, twin) for twin in twins}
    finally:
        engine.dispose()
    assert dialect in (SQLITE, POSTGRES)
    assert found == {twin: dialect in twin.backends for twin in twins}
    assert any(found.values())


def test_the_twin_check_sees_a_twin_that_is_not_there(migrated_url: str) -> None:
    engine = create_engine(migrated_url)
    try:
        with engine.connect() as connection:
            missing = [
                Check("wallets", "ck_wallets_made_up"),
                Trigger("entries", "trg_made_up"),
                Unique("transfers", ("memo",)),
            ]
            assert [twin_exists(connection, twin) for twin in missing] == [False, False, False]
    finally:
        engine.dispose()


def test_every_python_check_is_a_function_of_the_daemon_that_names_its_twins() -> None:
    checks = [(invariant, invariant.python_check) for invariant in INVARIANTS if invariant.python_check]
    assert len(checks) >= 6
    for invariant, check in checks:
        assert inspect.isfunction(check), invariant.name
        assert check.__module__.startswith("gopherpayd."), invariant.name
        doc = inspect.getdoc(check) or ""
        assert doc.startswith("Invariant:"), invariant.name
        for twin in invariant.twins:
            named = twin.name if not isinstance(twin, Unique) else " ".join(twin.columns)
            assert named in doc, (invariant.name, named)


def healthy_ledger(api: Api, admin: Account, alice: Account, bob: Account) -> None:
    """Deposits in two currencies, a transfer, its reversal, a withdrawal, a closed empty wallet,
    an FX exchange."""
    api.deposit(admin, alice.email, 10_000)
    api.deposit(admin, bob.email, 3_000, "EUR")
    transfer_id = api.transfer(alice, bob.email, 2_500).json()["id"]
    reversed_ = api.client.post(
        f"/v1/admin/transfers/{transfer_id}/reverse",
        json={"reason": "sent by mistake"},
        headers={**admin.headers, "Idempotency-Key": "rev"},
    )
    assert reversed_.status_code == 201, reversed_.text
    api.transfer(alice, bob.email, 1_000)
    withdrawn = api.client.post(
        "/v1/admin/withdrawals",
        json={"user": bob.email, "amount": 500, "currency": "USD", "reason": "atm"},
        headers={**admin.headers, "Idempotency-Key": "wd"},
    )
    assert withdrawn.status_code == 201, withdrawn.text
    assert api.client.post("/v1/wallets", json={"currency": "JPY"}, headers=alice.headers).status_code == 201
    assert api.client.delete("/v1/wallets/JPY", headers=alice.headers).status_code == 200
    # An exchange on a quote, with a fee: the FX house and revenue wallets join the ledger.
    rate = {"sell": "USD", "buy": "EUR", "rate": "0.9213", "spread": "0.5%", "reason": "test"}
    assert api.client.post("/v1/admin/fx/rates", json=rate, headers=admin.headers).status_code == 200
    offer = api.client.post(
        "/v1/fx/quotes", json={"sell": "USD", "buy": "EUR", "sell_amount": 2_000}, headers=alice.headers
    )
    exchanged = api.client.post(
        "/v1/fx/exchange",
        json={"quote_id": offer.json()["quote_id"]},
        headers={**alice.headers, "Idempotency-Key": "fx"},
    )
    assert exchanged.status_code == 201, exchanged.text


def test_every_audit_query_finds_nothing_on_a_clean_ledger(
    db: Database, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    healthy_ledger(api, admin, alice, bob)
    with Session(db.engine) as session:
        found = {
            invariant.name: invariant.audit_query(session)
            for invariant in INVARIANTS
            if invariant.audit_query
        }
        ledgers = currency_ledgers(session)
        per_currency = {
            (invariant.name, ledger.currency): invariant.currency_violation(ledger)
            for invariant in INVARIANTS
            if invariant.currency_violation
            for ledger in ledgers
        }
    assert found == {name: [] for name in found}
    assert len(found) == 10
    assert [ledger.currency for ledger in ledgers] == ["EUR", "JPY", "USD"]
    assert per_currency == {key: None for key in per_currency}
    assert len(per_currency) == 6


@contextmanager
def twins_set_aside(connection: Connection) -> Iterator[None]:
    """Lets this connection write rows the CHECK twins refuse, inside a transaction that is
    rolled back (Postgres's deferred sum-to-zero trigger would only fire at a commit)."""
    if connection.dialect.name == SQLITE:
        connection.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
    else:
        for table, constraint in (
            ("wallets", "ck_wallets_user_balance_non_negative"),
            ("wallets", "ck_wallets_closed_is_empty"),
            ("wallets", "ck_wallets_held_non_negative"),
            ("wallets", "ck_wallets_user_held_within_balance"),
            ("holds", "ck_holds_settled_within_amount"),
        ):
            connection.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")
    try:
        yield
    finally:
        connection.rollback()
        if connection.dialect.name == SQLITE:
            connection.exec_driver_sql("PRAGMA ignore_check_constraints = OFF")


def test_the_audit_reports_exactly_the_invariants_that_have_an_audit_query(
    db: Database, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    healthy_ledger(api, admin, alice, bob)
    wallet = {
        (who.email, currency): api.client.get(f"/v1/wallets/{currency}", headers=who.headers).json()["id"]
        for who, currency in ((alice, "USD"), (bob, "USD"), (bob, "EUR"))
    }
    transfer_id = api.transfer(alice, bob.email, 100).json()["id"]
    hold = api.client.post(
        "/v1/holds",
        json={"to": bob.email, "amount": 50, "currency": "USD", "expires_in": 3600},
        headers={**alice.headers, "Idempotency-Key": "hold"},
    )
    assert hold.status_code == 201, hold.text

    def sql_id(value: str) -> str:
        return value.replace("-", "") if db.is_sqlite else value

    with db.engine.connect() as connection, twins_set_aside(connection):
        for statement, params in [
            # a balance its entries do not explain, so the sums per currency are off too
            ("UPDATE wallets SET balance = balance + 7 WHERE id = :id", {"id": wallet[alice.email, "USD"]}),
            # a third line on a transfer: unbalanced, and not matching the transfer
            (
                "INSERT INTO entries (id, transfer_id, wallet_id, amount, currency, created_at) "
                "VALUES (:id, :transfer, :wallet, 5, 'USD', CURRENT_TIMESTAMP)",
                {"id": str(uuid.uuid4()), "transfer": transfer_id, "wallet": wallet[bob.email, "USD"]},
            ),
            ("UPDATE wallets SET balance = -1 WHERE id = :id", {"id": wallet[bob.email, "EUR"]}),
            (
                "UPDATE wallets SET closed_at = CURRENT_TIMESTAMP WHERE id = :id",
                {"id": wallet[bob.email, "USD"]},
            ),
            # held that no open hold explains, below zero; held beyond the balance
            ("UPDATE wallets SET held = -3 WHERE id = :id", {"id": wallet[bob.email, "EUR"]}),
            ("UPDATE wallets SET held = balance + 9 WHERE id = :id", {"id": wallet[alice.email, "USD"]}),
            # a hold that captured more than it held
            ("UPDATE holds SET captured = amount + 1 WHERE id = :id", {"id": hold.json()["id"]}),
            # an executed quote that names some other transfer than the one executing it
            ("UPDATE fx_quotes SET transfer_id = :id WHERE used_at IS NOT NULL", {"id": str(uuid.uuid4())}),
        ]:
            connection.execute(text(statement), {key: sql_id(value) for key, value in params.items()})
        report = admin_service.audit(Session(bind=connection))

    assert {violation.invariant for violation in report.violations} == {
        invariant.name for invariant in INVARIANTS if invariant.audited
    }
    assert report.ok is False
